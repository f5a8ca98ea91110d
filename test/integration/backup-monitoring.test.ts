/** Backup monitoring: the alert rules pass promtool, and the metrics endpoint reports a real night's outcomes. */
import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../activities';
import { upsertSite } from '../../lib/site-registry';
import { serveBackupMetrics } from '../../workers/backup-metrics';
import { nightlyBackupWorkflow } from '../../workflows/nightly-backup';
import { ROOT } from '../helpers/paths';
import { createTestSite } from '../helpers/sites';
import { connectTestServer, testWorker, uniqueQueue } from '../helpers/temporal';

const run = promisify(execFile);
const rules = path.join(ROOT, 'configs', 'prometheus', 'rules');
let tw: TestWorkflowEnvironment;

beforeAll(async () => {
  tw = await connectTestServer();
});
afterAll(async () => {
  await tw?.teardown();
});

describe('backup and restore-drill alert rules', () => {
  it.each([
    ['backups', 4],
    ['restores', 3],
  ])('%s.yml passes promtool check rules and its promtool unit tests', async (name, count) => {
    const check = await run('promtool', ['check', 'rules', path.join(rules, `${name}.yml`)]);
    expect(check.stdout).toMatch(new RegExp(`SUCCESS: ${count} rules found`));
    const t = await run('promtool', ['test', 'rules', `${name}.test.yml`], { cwd: rules });
    expect(t.stdout).toMatch(/SUCCESS/);
  });
});

describe('backup metrics endpoint', () => {
  it('reports last success, size and failures per site from the backup record', async () => {
    const taskQueue = uniqueQueue('metrics');
    const { worker, deps, close } = await testWorker(tw, { taskQueue });
    const tag = taskQueue.slice(-6);
    const good = `metrics-${tag}.example.com`;
    const bad = `metrics-broken-${tag}.example.com`;
    let server: Awaited<ReturnType<typeof serveBackupMetrics>> | undefined;
    try {
      await createTestSite(deps as ActivityDeps, good, { posts: 5, uploadBytes: 8 * 1024 });
      await upsertSite(deps.galera, { domain: bad, database: `wp_nothing_${tag}`, filesPath: '/nonexistent', storageHost: null });
      const result = await worker.runUntil(tw.client.workflow.execute(nightlyBackupWorkflow, { workflowId: `nightly-backup/metrics/${tag}`, taskQueue, args: [{ date: '2026-11-17', sites: [good, bad] }] }));
      expect(result.created).toBe(1);

      server = await serveBackupMetrics(deps.galera, '127.0.0.1', 0);
      const body = await (await fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/metrics`)).text();
      const value = (metric: string, site: string) => Number(new RegExp(`^${metric}\\{site="${site.replace(/\./g, '\\.')}"\\} (\\S+)$`, 'm').exec(body)?.[1]);
      expect(body).toMatch(/^drover_backup_metrics_up 1$/m);
      expect(value('drover_backup_last_success_timestamp_seconds', good)).toBeGreaterThan(Date.now() / 1000 - 600);
      expect(value('drover_backup_last_size_bytes', good)).toBeGreaterThan(1000);
      expect(value('drover_backup_failed_runs', good)).toBe(0);
      expect(value('drover_backup_last_success_timestamp_seconds', bad)).toBe(0);
      expect(value('drover_backup_failed_runs', bad)).toBe(1);
      expect(value('drover_backup_last_failure_timestamp_seconds', bad)).toBeGreaterThan(0);
    } finally {
      server?.close();
      await close();
    }
  });
});

/**
 * The night survives what nights meet: a worker process killed mid-upload (the night completes on a new worker,
 * one complete restore point per site, no orphaned multipart uploads), and a Galera node stopped mid-night.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { ListMultipartUploadsCommand } from '@aws-sdk/client-s3';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeActivityDeps, createActivityDeps, type ActivityDeps } from '../../activities';
import { createSpacesActivities } from '../../activities/spaces';
import { objectKey, objectKind, type BackupManifest } from '../../lib/backup-layout';
import { devLayout, devUp } from '../../devkit/dev-env';
import { readPid } from '../../devkit/dev-env/processes';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { nightlyBackupWorkflow } from '../../workflows/nightly-backup';
import { CLI, stopWorkerProcess } from '../helpers/cli';
import { ROOT, TEST_ENV, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { decrypt, objectBytes } from '../helpers/restore-point';
import { createTestSite } from '../helpers/sites';
import { connectTestServer, testEnv, testWorker, uniqueQueue } from '../helpers/temporal';
import path from 'node:path';

let tw: TestWorkflowEnvironment;
let deps: ActivityDeps;

beforeAll(async () => {
  tw = await connectTestServer();
  deps = createActivityDeps(testEnv());
});
afterAll(async () => {
  await closeActivityDeps(deps);
  await tw?.teardown();
});

function startWorkerProcess(): ChildProcess {
  return spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'backup'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DROVER_METRICS_PORT: '0' } });
}

async function openUploads(prefix: string): Promise<number> {
  return (await deps.s3.send(new ListMultipartUploadsCommand({ Bucket: deps.bucket, Prefix: prefix }))).Uploads?.length ?? 0;
}

describe('backup resilience', () => {
  it('a worker killed mid-upload: the night completes on a new worker, exactly one restore point each, no orphaned uploads', async () => {
    const tag = uniqueQueue('k').slice(-6);
    const sites: string[] = [];
    // Incompressible uploads larger than one multipart part, so the kill lands mid-upload.
    // The killed sites' steps are retried once their heartbeat is 5 s late (30 s by default).
    for (let i = 1; i <= 3; i++) sites.push((await createTestSite(deps, `crash${i}-${tag}.example.com`, { posts: 5, uploadBytes: 24 * 1024 * 1024 })).domain);
    const date = '2026-11-19';
    let first = startWorkerProcess();
    const handle = await tw.client.workflow.start(nightlyBackupWorkflow, { workflowId: `nightly-backup/${date}/${tag}`, taskQueue: TASK_QUEUES.backup, args: [{ date, sites, concurrency: 3, timeouts: { heartbeat: '5 seconds' } }] });
    try {
      const deadline = Date.now() + 60_000;
      while ((await openUploads('sites/')) === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
      expect(await openUploads('sites/')).toBeGreaterThan(0);
      first.kill('SIGKILL');
      await new Promise((r) => first.once('close', r));
      first = startWorkerProcess();
      const result = await handle.result();
      expect(result.failed).toEqual([]);
      expect(result.created + result.alreadyComplete).toBe(3);
    } finally {
      await stopWorkerProcess(first);
    }
    const spaces = createSpacesActivities(deps);
    for (const site of sites) {
      const points = await spaces.listRestorePoints({ site });
      expect(points.map((p) => [p.date, p.complete])).toEqual([[date, true]]);
      expect(points[0].objects.map(objectKind).sort()).toEqual(['database', 'files', 'manifest']);
    }
    expect(await openUploads('sites/')).toBe(0);
  });

  it('a Galera node stopped mid-night: the night completes from the other nodes', async () => {
    const tag = uniqueQueue('g').slice(-6);
    const sites: string[] = [];
    for (let i = 1; i <= 4; i++) sites.push((await createTestSite(deps, `galera${i}-${tag}.example.com`, { posts: 5, uploadBytes: 16 * 1024 })).domain);
    const taskQueue = uniqueQueue('galera-stop');
    const { worker, close } = await testWorker(tw, { taskQueue });
    const layout = devLayout(TEST_ENV.stateDir, TEST_ENV.portOffset);
    const victim = layout.galera.nodes[2];
    const date = '2026-11-18';
    try {
      await worker.runUntil(async () => {
        const handle = await tw.client.workflow.start(nightlyBackupWorkflow, { workflowId: `nightly-backup/${date}/${tag}`, taskQueue, args: [{ date, sites, concurrency: 1 }] });
        // As soon as the first site's point is complete, kill the node dumps prefer (the last Synced one).
        const spaces = createSpacesActivities(deps);
        while (!(await spaces.findRestorePoint({ site: sites[0], date })).complete) await new Promise((r) => setTimeout(r, 50));
        process.kill(readPid(path.join(layout.galera.dir, victim.name, 'mariadbd.pid'))!, 'SIGKILL');
        const result = await handle.result();
        expect(result.failed).toEqual([]);
        expect(result.created).toBe(4);
      });
      const identity = testEnv().DROVER_BACKUP_AGE_IDENTITY_FILE!;
      const last = JSON.parse((await decrypt(await objectBytes(deps, objectKey(sites[3], date, 'manifest')), identity)).toString()) as BackupManifest;
      expect(last.database.node).not.toBe(victim.name);
    } finally {
      await close();
      const r = await devUp({ ...TEST_ENV }, ['galera']);
      expect(r.healthy).toBe(true);
    }
  });
});

/**
 * A restore survives its worker dying: the worker process is SIGKILLed while the restore is staging, the live site
 * is still whole at that moment, and a new worker finishes the restore: the backed-up state exactly, no staging
 * or previous leftovers, the retention hold released, and nothing of the killed worker's left on the disk (its load's
 * options file, with the database password, and its spool: removed by the next worker of the host as it starts).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { HOST, workerFolderOwner } from '../../activities/lib/worker-folders';
import { heldSites } from '../../lib/site-registry';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { CLI, stopWorkerProcess } from '../helpers/cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { treeHashes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('restore-kill');

/** The kinds of the worker folders (an options file, a restore's spool) in this host's temporary folder made by the process `pid`. */
function leftBy(pid: number): string[] {
  return readdirSync(os.tmpdir())
    .map((n) => workerFolderOwner(n))
    .filter((o) => o?.host === HOST && o.pid === pid)
    .map((o) => o!.kind);
}

function startRestoreWorker(extraEnv: NodeJS.ProcessEnv = {}): ChildProcess {
  return spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'restore'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, DROVER_METRICS_PORT: '0', ...extraEnv } });
}

describe('restore resilience', () => {
  it('a worker killed mid-restore: a new worker completes it, never a half-restored site', async () => {
    const tag = ctx.taskQueue.slice(-6);
    // Incompressible uploads, so the files step takes long enough to be caught in the middle.
    const site = await createTestSite(ctx.deps, `rkill-${tag}.example.com`, { posts: 200, uploadBytes: 48 * 1024 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // defaced');
    await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), `DELETE FROM \`${site.database}\`.wp_posts WHERE ID % 2 = 0`);
    const damagedDb = await tableChecksums(ctx.deps, site.database);
    const damagedFiles = treeHashes(site.filesPath);

    // The first worker's database load is held a minute, so the kill surely comes before the swap on any machine.
    // The killed steps are retried once their heartbeat is 5 s late (30 s by default).
    let worker = startRestoreWorker({ DROVER_FAULT_STALL_AT: 'loadDatabaseIntoStaging:60000' });
    try {
      const handle = await ctx.tw.client.workflow.start(restoreSiteWorkflow, { workflowId: `restore/${site.domain}/kill/${tag}`, taskQueue: TASK_QUEUES.restore, args: [{ site: site.domain, point: '2026-11-10', skipSafetyPoint: true, timeouts: { heartbeat: '5 seconds' } }] });
      const staging = `${site.filesPath}.drover-staging`;
      // Killed once its files are being staged and its load holds its MariaDB options file (the database password).
      const killed = worker.pid!;
      const loading = () => leftBy(killed).includes('load');
      const deadline = Date.now() + 120_000;
      while (!(existsSync(staging) && loading()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(existsSync(staging)).toBe(true);
      expect(loading()).toBe(true);
      worker.kill('SIGKILL');
      await new Promise((r) => worker.once('close', r));
      // What the killed worker kept on this disk stays there with it gone: the next worker of this host removes it.
      expect(leftBy(killed)).toEqual(expect.arrayContaining(['load', 'restore-object']));
      // Mid-restore, with no worker: the live site is exactly as it was before the restore began.
      expect(treeHashes(site.filesPath)).toEqual(damagedFiles);
      expect(await tableChecksums(ctx.deps, site.database)).toEqual(damagedDb);

      worker = startRestoreWorker();
      const r = await handle.result();
      expect(r.point).toBe('2026-11-10');
      expect(leftBy(killed), "the killed worker's options file and spool").toEqual([]);
    } finally {
      await stopWorkerProcess(worker);
    }
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    expect(existsSync(`${site.filesPath}.drover-staging`) || existsSync(`${site.filesPath}.drover-previous`)).toBe(false);
    const leftovers = await ctx.deps.galera.query<RowDataPacket[]>(await ctx.deps.galera.writerNode(), 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [`${site.database}\\_drover\\_%`]);
    expect(leftovers).toEqual([]);
    expect((await heldSites(ctx.deps.galera)).has(site.domain)).toBe(false);
  });
});

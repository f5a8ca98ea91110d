/**
 * A migration worker killed (SIGKILL, DROVER_FAULT_CRASH_AT) during the file copy and then during the database
 * load (issue 15): after restarts the site ends staged exactly once, the copy resumed (files complete at the
 * crash keep their inode: rsync did not copy them again), the staged rows equal the source's (no double load),
 * and the source is unchanged.
 */
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { createActivityDeps } from '../../activities';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { DEFAULT_WAVE } from '../../lib/migration-input';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { migrateSiteWorkflow } from '../../workflows/migrate-site';
import { spawnDroverWorker } from '../helpers/cli';
import { useOldHost } from '../helpers/old-host';
import { TEST_PORT_OFFSET } from '../helpers/paths';
import { treeHashes } from '../helpers/restore-point';
import { connectTestServer, testEnv } from '../helpers/temporal';

const ctx = useOldHost({ mysql8: true, name: 'old-host-crash', sshPort: 12252 + TEST_PORT_OFFSET, dbPort: 13335 + TEST_PORT_OFFSET });

/** Inode of every complete file under `dir` (rsync's partial folder left out). */
function inodes(dir: string): Record<string, number> {
  const out: Record<string, number> = {};
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== '.drover-rsync-partial') walk(p);
      // rsync's temporary file of the file in flight (.name.XXXXXX) is not a complete file.
      } else if (e.isFile() && !/^\..+\.[A-Za-z0-9]{6}$/.test(e.name)) out[path.relative(dir, p)] = statSync(p).ino;
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

describe('migration crash safety', () => {
  it('worker killed during the file copy, then during the database load: staged exactly once, copy resumed, source unchanged', async () => {
    const site = await ctx.host.addSite({ domain: 'crash-old.example.com', posts: 30, uploadBytes: 3 * 1024 * 1024 });
    const domain = 'crash-migrated.example.com';
    const before = treeHashes(site.sourcePath);
    const [srcPosts] = (await ctx.host.rootPool().query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${site.sourceDb}\`.wpx7_posts`))[0];
    const tw = await connectTestServer();
    let w = spawnDroverWorker('migrate', { DROVER_MIGRATE_HOST_KEYS: ctx.host.hostKeyFingerprint, DROVER_FAULT_CRASH_AT: 'copySiteFiles:copying' });
    try {
      const workflowId = `migrate/${DEFAULT_WAVE}/${domain}`;
      // A run an interrupted earlier test left behind would share the site's staging names.
      await tw.client.workflow.getHandle(workflowId).terminate('earlier test run').catch(() => undefined);
      rmSync(`/srv/drover/sites/${domain}`, { recursive: true, force: true });
      const handle = await tw.client.workflow.start(migrateSiteWorkflow, {
        workflowId,
        taskQueue: TASK_QUEUES.migrate,
        typedSearchAttributes: siteSearchAttributes(domain, 'migrate', { wave: DEFAULT_WAVE }),
        args: [{
          source: { domain, wave: DEFAULT_WAVE, ssh: { user: 'root', host: '127.0.0.1', port: Number(site.sourceSsh.split(':').pop()) }, sourcePath: site.sourcePath, sourceDb: site.sourceDb, sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: site.sourceDbUser, sourceDbPasswordFile: site.sourceDbPasswordFile, fromUrl: '', toUrl: '' },
          bandwidthLimitKBps: 512,
          // A dead worker's step is retried after 5 s instead of 30.
          timeouts: { heartbeat: '5 seconds' },
        }],
      });
      await w.exited;
      expect(w.stderr()).toContain('crashing at copySiteFiles:copying');
      const filesPath = `/srv/drover/sites/${domain}/htdocs.migrating`;
      const atCrash = inodes(filesPath);
      expect(Object.keys(atCrash).length).toBeGreaterThan(0);

      w = spawnDroverWorker('migrate', { DROVER_MIGRATE_HOST_KEYS: ctx.host.hostKeyFingerprint, DROVER_FAULT_CRASH_AT: 'loadSourceDatabase:loading' });
      await w.exited;
      expect(w.stderr()).toContain('crashing at loadSourceDatabase:loading');

      w = spawnDroverWorker('migrate', { DROVER_MIGRATE_HOST_KEYS: ctx.host.hostKeyFingerprint });
      const r = await handle.result();
      expect(r).toMatchObject({ step: 'staged', done: ['preflight', 'copy files', 'load database', 'rewrite urls', 'check staged database'], check: { oldUrlLeft: [] } });
      // Resumed: every file complete at the crash is the same file (same inode) now.
      const after = inodes(r.filesPath);
      for (const [f, ino] of Object.entries(atCrash)) expect(after[f], f).toBe(ino);
      expect(treeHashes(r.filesPath)).toEqual(before);
      // Exactly once: one run, and the staged rows equal the source's.
      const desc = await handle.describe();
      expect(desc.runId).toBe(handle.firstExecutionRunId);
      const deps = createActivityDeps(testEnv());
      try {
        const [n] = await deps.galera.query<RowDataPacket[]>(await deps.galera.writerNode(), `SELECT COUNT(*) AS n FROM \`${r.stagingDb}\`.wpx7_posts`);
        expect(Number(n.n)).toBe(Number(srcPosts.n));
        await deps.galera.query(await deps.galera.writerNode(), `DROP DATABASE IF EXISTS \`${r.stagingDb}\``);
      } finally {
        await deps.galera.close();
        deps.s3.destroy();
      }
      rmSync(path.dirname(r.filesPath), { recursive: true, force: true });
      expect(treeHashes(site.sourcePath)).toEqual(before);
    } finally {
      await w.stop();
      await tw.teardown();
    }
  }, 600_000);
});

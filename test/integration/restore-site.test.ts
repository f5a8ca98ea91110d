/**
 * restoreSiteWorkflow on the real services: back up, damage the site, restore to the earlier point and get the
 * backed-up state exactly; restore side by side while the original is untouched; a corrupted object rolls back
 * and leaves the live site as it was; bad input fails as InvalidInput.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { CancelledFailure, WorkflowFailedError, ApplicationFailure } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createSiteRegistryActivities } from '../../activities/site-registry';
import { createSpacesActivities } from '../../activities/spaces';
import { createStorageRestoreActivities, PREVIOUS_SUFFIX, STAGING_SUFFIX } from '../../activities/storage-restore';
import { restoreLocks } from '../../lib/restore-locks';
import { restoreSiteWorkflow, restoreUndoReportQuery, type RestoreUndoReport } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { objectKind } from '../../lib/backup-layout';
import { objectBytes, pointObjectKey, treeHashes, withPoint, type RestoreArgs } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { useRunningWorker, replayOptions } from '../helpers/temporal';

const ctx = useRunningWorker('restore-site');

async function damage(database: string, filesPath: string): Promise<void> {
  const node = await ctx.deps.galera.writerNode();
  await ctx.deps.galera.query(node, `INSERT INTO \`${database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('spam', '', '', '', '', '')`);
  await ctx.deps.galera.query(node, `DROP TABLE \`${database}\`.wp_comments`);
  writeFileSync(path.join(filesPath, 'wp-config.php'), '<?php // hacked');
  rmSync(path.join(filesPath, 'wp-content/uploads/2024/01/photo-2.jpg'));
}

// `at` is resolved to a point as `drover restore` does before starting (test/helpers/restore-point.ts withPoint).
const restore = async (input: RestoreArgs, id: string) => ctx.tw.client.workflow.start(restoreSiteWorkflow, { workflowId: `restore/${id}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [await withPoint(ctx.deps, input)] });
const failureOf = async (p: Promise<unknown>) => {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(WorkflowFailedError);
  return (e as WorkflowFailedError).cause as ApplicationFailure;
};

describe('restoreSiteWorkflow', () => {
  it('restores a damaged site to the earlier point exactly, after a safety point, and replays', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rs-${tag}.example.com`, { posts: 20, uploadBytes: 64 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    await damage(site.database, site.filesPath);

    const handle = await restore({ site: site.domain, at: '2026-11-12' }, site.domain);
    const r = await handle.result();
    expect(r.point).toBe('2026-11-10');
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    expect(r.safetyPoint).toMatch(/^safety\/\d{8}T\d{6}Z$/);
    const safety = await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: ctx.deps.bucket, Prefix: `sites/${site.domain}/${r.safetyPoint}/` }));
    expect((safety.Contents ?? []).map((o) => objectKind(o.Key!.split('/').pop()!)).sort()).toEqual(['database', 'files', 'manifest']);
    expect(r.steps.map((s) => s.name)).toContain('swap database in');
    expect(r.rtoMs).toBeGreaterThan(0);
    // Nothing left behind; the safety point is listed beside the dated point (retention prunes it on its own clock).
    expect((await createSpacesActivities(ctx.deps).listRestorePoints({ site: site.domain })).map((p) => p.date)).toEqual([r.safetyPoint, '2026-11-10']);
    await Worker.runReplayHistory(replayOptions(), await handle.fetchHistory(), handle.workflowId);

    // Side by side: a copy under a new name, the original (restored) site untouched.
    const copyHandle = await restore({ site: site.domain, to: `copy-${tag}.example.com` }, `${site.domain}-copy`);
    const copy = await copyHandle.result();
    // A new name has no docroot to move aside: its files are swapped in only once its database swap has succeeded.
    const events = (await copyHandle.fetchHistory()).events ?? [];
    const dbSwap = events.find((ev) => ev.activityTaskScheduledEventAttributes?.activityType?.name === 'swapDatabase')!;
    const dbSwapDone = events.findIndex((ev) => String(ev.activityTaskCompletedEventAttributes?.scheduledEventId ?? '') === String(dbSwap.eventId));
    expect(dbSwapDone).toBeGreaterThan(0);
    expect(events.findIndex((ev) => ev.activityTaskScheduledEventAttributes?.activityType?.name === 'swapFiles')).toBeGreaterThan(dbSwapDone);
    expect(copy.safetyPoint).toBeNull();
    expect(copy.filesPath).not.toBe(site.filesPath);
    expect(await tableChecksums(ctx.deps, copy.database)).toEqual(db);
    expect(treeHashes(copy.filesPath)).toEqual(files);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
  });

  it('a busy site: writes to the live database all through the restore do not fail its live-equals-staged check', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rw-${tag}.example.com`, { posts: 20, uploadBytes: 32 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const db = await tableChecksums(ctx.deps, site.database);
    await damage(site.database, site.filesPath);

    // The site keeps publishing: a post every 20 ms, into whichever wp_posts is live at that moment.
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const node = await ctx.deps.galera.writerNode();
        await ctx.deps.galera.query(node, `INSERT INTO \`${site.database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('live écrit', '', '', '', '', '')`).then(() => written++, () => undefined);
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    try {
      const r = await (await restore({ site: site.domain, at: '2026-11-10', skipSafetyPoint: true }, `${site.domain}-busy`)).result();
      expect(r.point).toBe('2026-11-10');
    } finally {
      writing = false;
      await writer;
    }
    expect(written).toBeGreaterThan(0);
    // Everything but the table the site wrote to is the backed-up state exactly.
    const { wp_posts: _posts, ...restOfBackup } = db;
    const { wp_posts: _livePosts, ...restOfLive } = await tableChecksums(ctx.deps, site.database);
    expect(restOfLive).toEqual(restOfBackup);
  });

  it('releasing the restore lock fails after a successful restore: the restore still succeeds, says so, and the lock stays for unlock', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `ru-${tag}.example.com`, { posts: 5, uploadBytes: 8 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const db = await tableChecksums(ctx.deps, site.database);
    await damage(site.database, site.filesPath);
    const node = await ctx.deps.galera.writerNode();
    // The lock row of this site cannot be deleted (a permanent database error), whatever deletes it.
    const trigger = `drover_meta.\`keep_lock_${tag}\``;
    await ctx.deps.galera.query(node, `CREATE TRIGGER ${trigger} BEFORE DELETE ON drover_meta.restore_locks FOR EACH ROW BEGIN IF OLD.site = '${site.domain}' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'restore_locks is read-only here'; END IF; END`);
    try {
      const r = await (await restore({ site: site.domain, at: '2026-11-10', skipSafetyPoint: true }, `${site.domain}-keep-lock`)).result();
      expect(r.point).toBe('2026-11-10');
      expect(r.notReleased).toEqual([expect.stringMatching(/^releasing the restore lock of ru-.* failed: .*restore_locks is read-only here/)]);
      expect(r.notReleased![0]).toContain(`drover restore unlock ${site.domain}`);
      expect((await restoreLocks(ctx.deps.galera)).filter((l) => l.site === site.domain)).toHaveLength(1);
      expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    } finally {
      await ctx.deps.galera.query(node, `DROP TRIGGER IF EXISTS ${trigger}`);
      await ctx.deps.galera.query(node, 'DELETE FROM drover_meta.restore_locks WHERE site = ?', [site.domain]);
    }
  });

  it('rebuild (farm recovery) of a site whose table prefix is shop7_: registered again with the prefix its backup recorded', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rp-${tag}.example.com`, { posts: 10, uploadBytes: 16 * 1024, tablePrefix: 'shop7_' });
    expect(site.tablePrefix).toBe('shop7_');
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    // The cluster is lost: no database, no docroot, no registry row.
    const node = await ctx.deps.galera.writerNode();
    await ctx.deps.galera.query(node, `DROP DATABASE \`${site.database}\``);
    await ctx.deps.galera.query(node, 'DELETE FROM drover_meta.sites WHERE domain = ?', [site.domain]);
    rmSync(site.filesPath, { recursive: true, force: true });

    const r = await (await restore({ site: site.domain, at: '2026-11-10', rebuild: { storageHost: null } }, `${site.domain}-rebuild`)).result();
    expect(r.point).toBe('2026-11-10');
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    expect((await createSiteRegistryActivities(ctx.deps).lookupSite({ domain: site.domain })).tablePrefix).toBe('shop7_');
  });

  it('the files check names exactly what is missing from the docroot', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rv-${tag}.example.com`, { posts: 2, uploadBytes: 4 * 1024 });
    const check = createStorageRestoreActivities(ctx.deps).checkSiteFiles;
    rmSync(path.join(site.filesPath, 'wp-includes/version.php'));
    await expect(check({ storageHost: null, livePath: site.filesPath })).rejects.toThrow(new RegExp(`^${site.filesPath}/ has no wp-includes/version.php: not a WordPress docroot$`));
    rmSync(path.join(site.filesPath, 'wp-config.php'));
    await expect(check({ storageHost: null, livePath: site.filesPath })).rejects.toThrow(new RegExp(`^${site.filesPath}/ has no wp-config.php, no wp-includes/version.php: not a WordPress docroot$`));
    rmSync(site.filesPath, { recursive: true, force: true });
    await expect(check({ storageHost: null, livePath: site.filesPath })).rejects.toThrow(`${site.filesPath} does not exist: not a WordPress docroot`);
  });

  it('writes all through the backup: the manifest counts exactly the dump\'s rows, and the restore of that point verifies', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rd-${tag}.example.com`, { posts: 200, uploadBytes: 16 * 1024 });
    let writing = true;
    let written = 0;
    const writer = (async () => {
      while (writing) {
        const node = await ctx.deps.galera.writerNode();
        await ctx.deps.galera.query(node, `INSERT INTO \`${site.database}\`.wp_postmeta (post_id, meta_key, meta_value) VALUES (1, 'pendant', 'l\\'été (\\\\)')`).then(() => written++, () => undefined);
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    try {
      await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    } finally {
      writing = false;
      await writer;
    }
    expect(written).toBeGreaterThan(0);
    const r = await (await restore({ site: site.domain, at: '2026-11-10', skipSafetyPoint: true }, `${site.domain}-during`)).result();
    expect(r.steps.map((st) => st.name)).toContain('verify staging tables and row counts');
  });

  it('a corrupted object fails verification, rolls back, and leaves the live site untouched', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rc-${tag}.example.com`, { posts: 10, uploadBytes: 32 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    await damage(site.database, site.filesPath);
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    const key = await pointObjectKey(ctx.deps, site.domain, '2026-11-10', 'files');
    const bytes = await objectBytes(ctx.deps, key);
    bytes[200] ^= 0xff;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: key, Body: bytes }));

    const f = await failureOf((await restore({ site: site.domain }, site.domain)).result());
    expect(f.type).toBe('BackupCorrupted');
    expect(f.message).toMatch(/extract files into staging.*rolled back/);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    const staging = await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [`${site.database}_drover_%`]);
    expect(Number((staging as unknown as { n: number }[])[0].n)).toBe(0);
  });

  it('the files swap fails (an immutable docroot) while the database swap runs beside it: both are undone, the live site is as it was', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rsw-${tag}.example.com`, { posts: 10, uploadBytes: 32 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    await damage(site.database, site.filesPath);
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    // The live docroot cannot be renamed (even as root): the files swap fails (RemoteCommandFailed, not retried).
    execFileSync('chattr', ['+i', site.filesPath]);
    let handle;
    try {
      handle = await restore({ site: site.domain, skipSafetyPoint: true }, `${site.domain}-swap-fails`);
      const f = await failureOf(handle.result());
      expect(f.message).toMatch(/failed at "swap files in" and was rolled back/);
      const { undo } = (f.details as [{ undo: RestoreUndoReport[] }])[0];
      expect(undo.map((u) => [u.name, u.ok])).toEqual([['undo files swap', true], ['undo database swap', true], ['remove staging files', true], ['drop staging database', true]]);
    } finally {
      execFileSync('chattr', ['-i', site.filesPath]);
    }
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    for (const suffix of [STAGING_SUFFIX, PREVIOUS_SUFFIX]) expect(existsSync(site.filesPath + suffix)).toBe(false);
    const scratch = await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [`${site.database}\\_%`]);
    expect(Number((scratch as unknown as { n: number }[])[0].n)).toBe(0);

    // Side by side: both swaps were scheduled before either ended, and the database swap had completed when undone.
    const history = await handle.fetchHistory();
    const events = history.events ?? [];
    const at = (name: string) => events.findIndex((ev) => ev.activityTaskScheduledEventAttributes?.activityType?.name === name);
    const ended = (name: string) => {
      const id = String(events[at(name)].eventId);
      return events.findIndex((ev) => String((ev.activityTaskCompletedEventAttributes ?? ev.activityTaskFailedEventAttributes)?.scheduledEventId ?? '') === id);
    };
    expect(at('swapDatabase')).toBeGreaterThan(0);
    expect(at('swapFiles')).toBeLessThan(ended('swapDatabase'));
    expect(at('swapDatabase')).toBeLessThan(ended('swapFiles'));
    expect(events[ended('swapDatabase')].activityTaskCompletedEventAttributes).toBeTruthy();
    expect(at('undoDatabaseSwap')).toBeGreaterThan(ended('swapFiles'));
    await Worker.runReplayHistory(replayOptions(), history, handle.workflowId);
  });

  it('two restores of one site at once (by hand and a farm recovery): the second fails RestoreInProgress naming the first, nothing is mixed', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rl-${tag}.example.com`, { posts: 20, uploadBytes: 256 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    await damage(site.database, site.filesPath);

    // The first restore's load is held 10 s, so it surely still holds the site's lock when the second starts.
    process.env.DROVER_FAULT_STALL_AT = 'loadDatabaseIntoStaging:10000';
    let f: ApplicationFailure;
    let first: Awaited<ReturnType<typeof restore>>;
    try {
      first = await restore({ site: site.domain, at: '2026-11-10' }, `${site.domain}-by-hand`);
      const deadline = Date.now() + 60_000;
      while (!(await restoreLocks(ctx.deps.galera)).some((l) => l.site === site.domain) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      expect((await restoreLocks(ctx.deps.galera)).some((l) => l.site === site.domain), 'the first restore holds the lock').toBe(true);
      const second = await ctx.tw.client.workflow.start(restoreSiteWorkflow, {
        workflowId: `restore-farm/${tag}/${site.domain}`,
        taskQueue: ctx.taskQueue,
        args: [{ site: site.domain, point: '2026-11-10', skipSafetyPoint: true }],
      });
      f = await failureOf(second.result());
    } finally {
      delete process.env.DROVER_FAULT_STALL_AT;
    }
    expect(f.type).toBe('RestoreInProgress');
    expect(f.message).toContain(first.workflowId);

    expect((await first.result()).point).toBe('2026-11-10');
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    expect((await restoreLocks(ctx.deps.galera)).filter((l) => l.site === site.domain)).toEqual([]);
  });

  it('cancelled while staging: every undo waits for the staging steps to stop, and one failing undo does not stop the others', async () => {
    const tag = ctx.taskQueue.slice(-6);
    // Incompressible uploads, so the files are still being staged when the cancel comes.
    const site = await createTestSite(ctx.deps, `rx-${tag}.example.com`, { posts: 50, uploadBytes: 24 * 1024 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    await damage(site.database, site.filesPath);
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    const staging = `${site.filesPath}.drover-staging`;
    const scratchSchemas = async () =>
      ((await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), 'SELECT SCHEMA_NAME AS s FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ?', [`${site.database}\\_%`])) as unknown as { s: string }[]).map((r) => r.s);

    // The database load is held two minutes: the staging steps are surely still running when the cancel comes.
    process.env.DROVER_FAULT_STALL_AT = 'loadDatabaseIntoStaging:120000';
    const handle = await restore({ site: site.domain, skipSafetyPoint: true }, `${site.domain}-cancel`);
    let locked = '';
    try {
      const deadline = Date.now() + 120_000;
      while (Date.now() < deadline) {
        if ((await scratchSchemas()).length && existsSync(staging)) {
          locked = execFileSync('find', [staging, '-type', 'f', '-name', '*.php'], { encoding: 'utf8' }).split('\n')[0];
          if (locked) break;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(locked).not.toBe('');
      // An undo that cannot succeed: an immutable file in the staging folder (`rm -rf` fails even as root).
      execFileSync('chattr', ['+i', locked]);
      await handle.cancel();
      const e = await handle.result().then(() => null, (err: unknown) => err);
      expect((e as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);
    } finally {
      delete process.env.DROVER_FAULT_STALL_AT;
      if (locked) execFileSync('chattr', ['-i', locked]);
      rmSync(staging, { recursive: true, force: true });
    }
    // The cancelled restore reports every undo step's outcome (the workflow ends Cancelled, so a query answers).
    const report = await handle.query(restoreUndoReportQuery);
    expect(report.filter((u) => !u.ok).map((u) => u.name)).toEqual(['remove staging files']);
    expect(report.find((u) => !u.ok)?.error).toMatch(/\S/);
    expect(report.map((u) => u.name).slice(-2)).toEqual(['remove staging files', 'drop staging database']);
    // The undo after the failed one still ran: no staging database is left.
    expect(await scratchSchemas()).toEqual([]);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);

    // No undo was scheduled before every staging step had really ended (completed, failed or cancelled).
    const events = (await handle.fetchHistory()).events ?? [];
    const scheduled = new Map<string, string>();
    const closed = new Map<string, number>();
    let firstUndo = -1;
    events.forEach((ev, i) => {
      const a = ev.activityTaskScheduledEventAttributes;
      if (a) {
        scheduled.set(String(ev.eventId), a.activityType!.name!);
        if (firstUndo < 0 && ['removeRestoreLeftovers', 'dropDatabase'].includes(a.activityType!.name!)) firstUndo = i;
      }
      const end = ev.activityTaskCompletedEventAttributes ?? ev.activityTaskFailedEventAttributes ?? ev.activityTaskCanceledEventAttributes ?? ev.activityTaskTimedOutEventAttributes;
      if (end) closed.set(String(end.scheduledEventId), i);
    });
    expect(firstUndo).toBeGreaterThan(0);
    for (const [id, name] of scheduled) {
      if (['loadDatabaseIntoStaging', 'extractFilesToStaging', 'verifyStagingDatabase'].includes(name)) expect({ name, closedAt: closed.get(id) ?? Infinity }).toEqual({ name, closedAt: expect.any(Number) as number });
      if (['loadDatabaseIntoStaging', 'extractFilesToStaging', 'verifyStagingDatabase'].includes(name)) expect(closed.get(id)!).toBeLessThan(firstUndo);
    }
  });

  it.each([
    [{ site: 'nowhere.example.com', point: '2026-11-10' }, /unknown site/],
    [{ point: '2020-01-01' }, /no complete restore point 2020-01-01/],
    [{ point: 'last tuesday' }, /"last tuesday" is not a restore point/],
  ])('bad input %j fails as InvalidInput', async (partial, message) => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rb-${tag}.example.com`, { posts: 3, uploadBytes: 8 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const f = await failureOf((await restore({ site: site.domain, ...partial }, `${site.domain}-${Object.values(partial).join('-')}`)).result());
    expect(f.type).toBe('InvalidInput');
    expect(f.message).toMatch(message);
  });
});

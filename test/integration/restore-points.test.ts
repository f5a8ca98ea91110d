/**
 * Restore points on the real services: `--at <timestamp>` chooses by when a point was taken (not by its name), a
 * retried upload never leaves an object that differs from what the manifest names, and a restore's safety point is
 * listed, restorable by name and pruned after its stated time.
 */
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createSpacesActivities } from '../../activities/spaces';
import { createStorageArchiveActivities } from '../../activities/storage-archive';
import { DEFAULT_RETENTION } from '../../lib/retention';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { objectBytes, treeHashes, withPoint, type RestoreArgs } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('restore-points');
const run = <A, R>(info: ConstructorParameters<typeof MockActivityEnvironment>[0], fn: (a: A) => Promise<R>, a: A) => new MockActivityEnvironment(info).run(fn, a) as Promise<R>;
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const backUp = (site: string, date: string) =>
  ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site}/${date}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site, point: date }] });
// `at` is resolved to a point as `drover restore` does before starting (test/helpers/restore-point.ts withPoint).
const restore = async (args: RestoreArgs, id: string) =>
  ctx.tw.client.workflow.execute(restoreSiteWorkflow, { workflowId: `restore/${id}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [await withPoint(ctx.deps, args)] });

describe('restore points', () => {
  it('--at <timestamp> chooses by when the point was taken: a point named for an earlier day but taken after the time is not chosen', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `at-${tag}.example.com`, { posts: 5, uploadBytes: 16 * 1024 });
    await backUp(site.domain, '2026-11-10');
    const before = { db: await tableChecksums(ctx.deps, site.database), files: treeHashes(site.filesPath) };
    await new Promise((r) => setTimeout(r, 1100));
    const time = new Date().toISOString();
    await new Promise((r) => setTimeout(r, 1100));
    // The damage, then a point of a nominal date before the time asked for, taken after it (a late or re-run night).
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // defaced');
    await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), `DELETE FROM \`${site.database}\`.wp_posts`);
    await backUp(site.domain, '2026-11-11');

    const points = await createSpacesActivities(ctx.deps).listRestorePoints({ site: site.domain, withTakenAt: true });
    expect(points.map((p) => p.date)).toEqual(['2026-11-11', '2026-11-10']);
    expect(points[1].takenAt! < time && time < points[0].takenAt!).toBe(true);

    const r = await restore({ site: site.domain, at: time, skipSafetyPoint: true }, `${site.domain}-at`);
    expect(r.point).toBe('2026-11-10');
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(before.db);
    expect(treeHashes(site.filesPath)).toEqual(before.files);
  });

  it('a retried upload: the object the manifest names is the one its attempt wrote, whatever an earlier attempt still running does', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `retry-${tag}.example.com`, { posts: 3, uploadBytes: 8 * 1024 });
    const date = '2026-11-12';
    const archive = createStorageArchiveActivities(ctx.deps).archiveSiteFilesToSpaces;
    const input = { site: site.domain, date, filesPath: site.filesPath, storageHost: null };
    // Attempt 2 (a retry after a heartbeat timeout) finishes first and is what the workflow records...
    const second = await run({ attempt: 2 }, archive, input);
    // ...then attempt 1, which was never stopped, finishes its small single-request upload after the site changed.
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // changed between the attempts');
    const first = await run({ attempt: 1 }, archive, input);
    expect(sha256(await objectBytes(ctx.deps, second.key))).toBe(second.sha256);
    expect(first.key).not.toBe(second.key);

    // A whole backup of that night: its manifest names only its own objects, and nothing else is left in the point.
    await backUp(site.domain, date);
    const manifest = await run({}, createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    for (const o of [manifest.database, manifest.files]) expect(sha256(await objectBytes(ctx.deps, o.key))).toBe(o.sha256);
    const listed = await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: ctx.deps.bucket, Prefix: `sites/${site.domain}/${date}/` }));
    expect((listed.Contents ?? []).map((o) => o.Key).sort()).toEqual([manifest.database.key, manifest.files.key, `sites/${site.domain}/${date}/manifest.json.age`].sort());
  });

  it('a safety point is listed, restores with --at safety/<id>, and is pruned after the stated days', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `safe-${tag}.example.com`, { posts: 5, uploadBytes: 16 * 1024 });
    await backUp(site.domain, '2026-11-10');
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // edited after the backup, before the restore');
    const beforeRestore = { db: await tableChecksums(ctx.deps, site.database), files: treeHashes(site.filesPath) };

    const r = await restore({ site: site.domain, at: '2026-11-10' }, `${site.domain}-first`);
    const safety = r.safetyPoint!;
    const spaces = createSpacesActivities(ctx.deps);
    const listed = await spaces.listRestorePoints({ site: site.domain });
    expect(listed.map((p) => [p.date, p.complete])).toEqual([
      [safety, true],
      ['2026-11-10', true],
    ]);

    // Undo the restore by hand: back to the safety point, the state just before it.
    const back = await restore({ site: site.domain, at: safety, skipSafetyPoint: true }, `${site.domain}-back`);
    expect(back.point).toBe(safety);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(beforeRestore.db);
    expect(treeHashes(site.filesPath)).toEqual(beforeRestore.files);

    // Pruning: kept until safetyDays have passed since it was taken, then deleted; the dated point stays.
    const taken = `${safety.slice(7, 11)}-${safety.slice(11, 13)}-${safety.slice(13, 15)}`;
    const day = (n: number) => new Date(Date.parse(taken) + n * 86_400_000).toISOString().slice(0, 10);
    const env = new MockActivityEnvironment();
    expect(await env.run(spaces.applyRetention, { sites: [site.domain], now: day(DEFAULT_RETENTION.safetyDays - 1) })).toEqual([{ site: site.domain, kept: 2, deleted: [] }]);
    expect(await env.run(spaces.applyRetention, { sites: [site.domain], now: day(DEFAULT_RETENTION.safetyDays) })).toEqual([{ site: site.domain, kept: 1, deleted: [safety] }]);
    expect((await spaces.listRestorePoints({ site: site.domain })).map((p) => p.date)).toEqual(['2026-11-10']);
  });
});

/**
 * restoreSiteWorkflow on the real services: back up, damage the site, restore to the earlier point and get the
 * backed-up state exactly; restore side by side while the original is untouched; a corrupted object rolls back
 * and leaves the live site as it was; bad input fails as InvalidInput.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError, ApplicationFailure } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createSpacesActivities } from '../../activities/spaces';
import { restoreSiteWorkflow, type RestoreSiteInput } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { TEST_BUNDLE } from '../helpers/paths';
import { objectBytes, treeHashes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('restore-site');

async function damage(database: string, filesPath: string): Promise<void> {
  const node = await ctx.deps.galera.writerNode();
  await ctx.deps.galera.query(node, `INSERT INTO \`${database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('spam', '', '', '', '', '')`);
  await ctx.deps.galera.query(node, `DROP TABLE \`${database}\`.wp_comments`);
  writeFileSync(path.join(filesPath, 'wp-config.php'), '<?php // hacked');
  rmSync(path.join(filesPath, 'wp-content/uploads/2024/01/photo-2.jpg'));
}

const restore = (input: RestoreSiteInput, id: string) => ctx.tw.client.workflow.start(restoreSiteWorkflow, { workflowId: `restore/${id}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [input] });
const failureOf = async (p: Promise<unknown>) => {
  const e = await p.then(() => null, (err: unknown) => err);
  expect(e).toBeInstanceOf(WorkflowFailedError);
  return (e as WorkflowFailedError).cause as ApplicationFailure;
};

describe('restoreSiteWorkflow', () => {
  it('restores a damaged site to the earlier point exactly, after a safety point, and replays', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rs-${tag}.example.com`, { posts: 20, uploadBytes: 64 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, date: '2026-11-10' }] });
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
    expect((safety.Contents ?? []).map((o) => o.Key!.split('/').pop()).sort()).toEqual(['database.sql.zst.age', 'files.tar.zst.age', 'manifest.json.age']);
    expect(r.steps.map((s) => s.name)).toContain('swap database in');
    expect(r.rtoMs).toBeGreaterThan(0);
    // Nothing left behind, and the safety point is outside the dated series retention works on.
    expect((await createSpacesActivities(ctx.deps).listRestorePoints({ site: site.domain })).map((p) => p.date)).toEqual(['2026-11-10']);
    await Worker.runReplayHistory({ workflowBundle: { codePath: TEST_BUNDLE } }, await handle.fetchHistory(), handle.workflowId);

    // Side by side: a copy under a new name, the original (restored) site untouched.
    const copy = await (await restore({ site: site.domain, to: `copy-${tag}.example.com` }, `${site.domain}-copy`)).result();
    expect(copy.safetyPoint).toBeNull();
    expect(copy.filesPath).not.toBe(site.filesPath);
    expect(await tableChecksums(ctx.deps, copy.database)).toEqual(db);
    expect(treeHashes(copy.filesPath)).toEqual(files);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
  });

  it('a corrupted object fails verification, rolls back, and leaves the live site untouched', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rc-${tag}.example.com`, { posts: 10, uploadBytes: 32 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, date: '2026-11-10' }] });
    await damage(site.database, site.filesPath);
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    const key = `sites/${site.domain}/2026-11-10/files.tar.zst.age`;
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

  it.each([
    [{ site: 'nowhere.example.com' }, /unknown site/],
    [{ at: '2020-01-01' }, /no complete restore point at or before 2020-01-01/],
    [{ at: 'last tuesday' }, /not "latest", a date/],
  ])('bad input %j fails as InvalidInput', async (partial, message) => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `rb-${tag}.example.com`, { posts: 3, uploadBytes: 8 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, date: '2026-11-10' }] });
    const f = await failureOf((await restore({ site: site.domain, ...partial }, `${site.domain}-${Object.values(partial).join('-')}`)).result());
    expect(f.type).toBe('InvalidInput');
    expect(f.message).toMatch(message);
  });
});

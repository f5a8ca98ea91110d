/**
 * A restore point written as the code before issue 11 wrote it still restores: plain object keys
 * (`database.sql.zst.age`, `files.tar.zst.age`), a manifest without `taken` or `tablePrefix`, and no taken-at
 * metadata on the manifest object. The point is made by backing a site up with today's code and rewriting its
 * objects to the old layout; restoreSiteWorkflow then restores it (latest, by date, by timestamp) exactly.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { CopyObjectCommand, DeleteObjectCommand, HeadObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { uploadEncrypted } from '../../activities/lib/encrypted-upload';
import { createSpacesActivities } from '../../activities/spaces';
import { objectKey, restorePointPrefix, type BackupManifest } from '../../lib/backup-layout';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { treeHashes, withPoint, type RestoreArgs } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('old-restore-point');

/** Rewrites a point of today's format into the layout and manifest shape of the code before issue 11. */
async function rewriteAsOldFormat(site: string, date: string): Promise<BackupManifest> {
  const m = await createSpacesActivities(ctx.deps).readManifest({ site, date });
  const { s3, bucket } = ctx.deps;
  for (const what of ['database', 'files'] as const) {
    const plain = objectKey(site, date, what);
    expect(m[what].key).not.toBe(plain);
    await s3.send(new CopyObjectCommand({ Bucket: bucket, Key: plain, CopySource: `${bucket}/${encodeURIComponent(m[what].key).replace(/%2F/g, '/')}` }));
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: m[what].key }));
  }
  const obj = (o: BackupManifest['files'] | BackupManifest['database'], what: 'database' | 'files') => ({ key: objectKey(site, date, what), bytes: o.bytes, sha256: o.sha256, plainBytes: o.plainBytes });
  // Exactly the fields (and order) of 8fb695a's BackupManifest.
  const old = {
    version: 1,
    site: m.site,
    date: m.date,
    createdAt: m.createdAt,
    database: { ...obj(m.database, 'database'), name: m.database.name, node: m.database.node, tables: m.database.tables },
    files: { ...obj(m.files, 'files'), path: m.files.path, storageHost: m.files.storageHost },
    wordpress: m.wordpress,
    timingsMs: m.timingsMs,
  };
  // As 8fb695a's writeManifest: the same key, no metadata.
  await uploadEncrypted({ s3, bucket, key: objectKey(site, date, 'manifest'), exactKey: true, source: Readable.from([Buffer.from(JSON.stringify(old, null, 2))]), recipients: ctx.deps.backup.recipients });
  return old as BackupManifest;
}

async function damage(database: string, filesPath: string): Promise<void> {
  const node = await ctx.deps.galera.writerNode();
  await ctx.deps.galera.query(node, `INSERT INTO \`${database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('spam ✉', '', '', '', '', '')`);
  await ctx.deps.galera.query(node, `DROP TABLE \`${database}\`.wp_comments`);
  writeFileSync(path.join(filesPath, 'wp-config.php'), '<?php // hacked');
  rmSync(path.join(filesPath, 'wp-content/uploads/2024/01/photo-2.jpg'));
}

// `at` is resolved to a point as `drover restore` does before starting (test/helpers/restore-point.ts withPoint).
const restore = async (input: RestoreArgs, id: string) =>
  ctx.tw.client.workflow.execute(restoreSiteWorkflow, { workflowId: `restore/${id}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [await withPoint(ctx.deps, input)] });

describe('a restore point of the format before issue 11', () => {
  it('restores exactly: latest, by date and by timestamp', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const date = '2026-11-10';
    // A 64-character database name, as production allows.
    const site = await createTestSite(ctx.deps, `old-${tag}.example.com`, { posts: 15, uploadBytes: 32 * 1024, database: `old_${tag}_`.padEnd(64, 'x') });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);

    const old = await rewriteAsOldFormat(site.domain, date);
    const listed = await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: ctx.deps.bucket, Prefix: restorePointPrefix(site.domain, date) }));
    expect((listed.Contents ?? []).map((o) => o.Key!.split('/').pop()).sort()).toEqual(['database.sql.zst.age', 'files.tar.zst.age', 'manifest.json.age']);
    const head = await ctx.deps.s3.send(new HeadObjectCommand({ Bucket: ctx.deps.bucket, Key: objectKey(site.domain, date, 'manifest') }));
    expect(head.Metadata ?? {}).toEqual({});
    const read = await createSpacesActivities(ctx.deps).readManifest({ site: site.domain, date });
    expect(read).toEqual(old);
    expect(read.taken).toBeUndefined();
    expect(read.database.tablePrefix).toBeUndefined();

    const cases: [string, string][] = [['latest', 'latest'], [date, 'date'], [new Date().toISOString(), 'time']];
    for (const [at, label] of cases) {
      await damage(site.database, site.filesPath);
      expect(await tableChecksums(ctx.deps, site.database)).not.toEqual(db);
      // The first restore takes a safety point of today's format beside the old one, as an operator's would.
      const r = await restore({ site: site.domain, at, skipSafetyPoint: label !== 'latest' }, `${site.domain}-${label}`);
      expect(r.point).toBe(date);
      if (label === 'latest') expect(r.safetyPoint).toMatch(/^safety\//);
      expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
      expect(treeHashes(site.filesPath)).toEqual(files);
    }
  });
});

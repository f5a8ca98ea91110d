/**
 * Database restore activities on the real Galera and S3: a restore point loads into staging, verifies against
 * its manifest and swaps in atomically (and back out); a corrupted object or a wrong key is refused with a clear
 * error and the live database is untouched.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createGaleraRestoreActivities } from '../../activities/galera-restore';
import { createSpacesActivities } from '../../activities/spaces';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { objectBytes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('db-restore');
const env = new MockActivityEnvironment();
/** Runs an activity with a real activity context (heartbeats, cancellation), typed. */
const act = { run: <A, R>(fn: (a: A) => Promise<R>, a: A) => env.run(fn, a) as Promise<R> };
const failureOf = (p: Promise<unknown>) => p.then(() => null, (e: { type?: string; message?: string }) => e);

describe('database restore activities', () => {
  it('stage, verify, swap in atomically, undo — and refuse a corrupted object or a wrong key', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `restore-${tag}.example.com`, { posts: 25 });
    const date = '2026-11-15';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, date }] });
    const backedUp = await tableChecksums(ctx.deps, site.database);

    // The live site changes after the backup: a new post, a dropped table.
    const node = await ctx.deps.galera.writerNode();
    await ctx.deps.galera.query(node, `INSERT INTO \`${site.database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('after backup', '', '', '', '', '')`);
    await ctx.deps.galera.query(node, `DROP TABLE \`${site.database}\`.wp_links`);
    const changed = await tableChecksums(ctx.deps, site.database);

    const restore = createGaleraRestoreActivities(ctx.deps);
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const names = { liveDb: site.database, stagingDb: `${site.database}_stg`.slice(0, 64), previousDb: `${site.database}_prev`.slice(0, 64) };

    await act.run(restore.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: names.stagingDb });
    const verified = await act.run(restore.verifyStagingDatabase, { stagingDb: names.stagingDb, tables: manifest.database.tables });
    expect(verified.tables).toBe(manifest.database.tables.length);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(changed); // staging does not touch live

    await act.run(restore.swapDatabase, names);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(backedUp);
    expect(await act.run(restore.swapDatabase, names)).toMatchObject({ swapped: 0 }); // idempotent retry

    await act.run(restore.undoDatabaseSwap, { liveDb: names.liveDb, previousDb: names.previousDb });
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(changed);

    // A wrong identity: DecryptionFailed, nothing swapped.
    const dir = mkdtempSync(path.join(os.tmpdir(), 'wrong-key-'));
    execFileSync('age-keygen', ['-o', path.join(dir, 'k.txt')], { stdio: 'ignore' });
    const wrong = createGaleraRestoreActivities({ ...ctx.deps, backup: { ...ctx.deps.backup, identityFile: path.join(dir, 'k.txt') } });
    const decryptErr = await failureOf(act.run(wrong.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: names.stagingDb }));
    expect(decryptErr?.type).toBe('DecryptionFailed');

    // One byte flipped in S3: BackupCorrupted before anything is loaded.
    const bytes = await objectBytes(ctx.deps, manifest.database.key);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: manifest.database.key, Body: bytes }));
    await act.run(restore.dropDatabase, { name: names.stagingDb });
    const corruptErr = await failureOf(act.run(restore.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: names.stagingDb }));
    expect(corruptErr?.type).toBe('BackupCorrupted');
    expect(corruptErr?.message).toMatch(/SHA-256/);
    const staging = await ctx.deps.galera.query(node, 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [names.stagingDb]);
    expect(Number((staging as unknown as { n: number }[])[0].n)).toBe(0);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(changed);
  });
});

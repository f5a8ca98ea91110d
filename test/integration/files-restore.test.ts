/** File restore activities over the real sshd: staged extract, directory swap and undo, corrupted archive refused. */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createSpacesActivities } from '../../activities/spaces';
import { createStorageRestoreActivities, PREVIOUS_SUFFIX, STAGING_SUFFIX } from '../../activities/storage-restore';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { objectBytes, treeHashes } from '../helpers/restore-point';
import { createTestSite } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('files-restore');
const env = new MockActivityEnvironment();
const act = { run: <A, R>(fn: (a: A) => Promise<R>, a: A) => env.run(fn, a) as Promise<R> };

describe('file restore activities', () => {
  it('extract to staging, swap in, undo; a corrupted archive never reaches the live folder', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `files-${tag}.example.com`, { posts: 3, uploadBytes: 256 * 1024 });
    const date = '2026-11-14';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, date }] });
    const backedUp = treeHashes(site.filesPath);

    // After the backup: a file changed, one deleted, one added.
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // edited');
    rmSync(path.join(site.filesPath, 'wp-content/uploads/2024/01/photo-1.jpg'));
    writeFileSync(path.join(site.filesPath, 'wp-content/uploads/new.txt'), 'new');
    const changed = treeHashes(site.filesPath);

    const files = createStorageRestoreActivities(ctx.deps);
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const where = { storageHost: null, livePath: site.filesPath };

    const staged = await act.run(files.extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, ...where });
    expect(staged.files).toBe(Object.keys(backedUp).length);
    expect(treeHashes(site.filesPath)).toEqual(changed);
    expect(treeHashes(site.filesPath + STAGING_SUFFIX)).toEqual(backedUp);

    expect(await act.run(files.swapFiles, where)).toEqual({ swapped: true });
    expect(treeHashes(site.filesPath)).toEqual(backedUp);
    expect(treeHashes(site.filesPath + PREVIOUS_SUFFIX)).toEqual(changed);
    expect(await act.run(files.swapFiles, where)).toEqual({ swapped: false }); // idempotent retry

    expect(await act.run(files.undoFilesSwap, where)).toEqual({ restored: true });
    expect(treeHashes(site.filesPath)).toEqual(changed);

    const bytes = await objectBytes(ctx.deps, manifest.files.key);
    bytes[bytes.length - 100] ^= 0x80;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: manifest.files.key, Body: bytes }));
    const err = await act.run(files.extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, ...where }).then(() => null, (e: { type?: string }) => e);
    expect(err?.type).toBe('BackupCorrupted');
    expect(existsSync(site.filesPath + STAGING_SUFFIX)).toBe(false);
    expect(treeHashes(site.filesPath)).toEqual(changed);

    await expect(act.run(files.removeRestoreLeftovers, { storageHost: null, livePath: '/', which: 'staging' })).rejects.toMatchObject({ type: 'InvalidInput' });
  });
});

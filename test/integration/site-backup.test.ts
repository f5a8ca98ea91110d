/**
 * A site's nightly restore point through the real Temporal server, Galera, sshd and versitygw: everything in the
 * bucket is ciphertext, and the point decrypts and loads into a scratch database whose per-table checksums equal
 * the source's, with files byte-identical.
 */
import { createHash, randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { Worker } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Client } from 'ssh2';
import { describe, expect, it, vi } from 'vitest';
import { objectKey, restorePointPrefix, type BackupManifest } from '../../lib/backup-layout';
import { createSiteRegistryActivities } from '../../activities/site-registry';
import { createStorageArchiveActivities, type ArchiveFilesResult } from '../../activities/storage-archive';
import { formatSshTarget } from '../../lib/clients/ssh-client';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { decrypt, extractTar, loadDump, objectBytes, pointObjectKey, treeHashes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { testEnv, useRunningWorker, replayOptions } from '../helpers/temporal';

const ctx = useRunningWorker('backup');
const identity = testEnv().DROVER_BACKUP_AGE_IDENTITY_FILE!;

describe('siteBackupWorkflow', () => {
  it('writes an encrypted restore point that restores exactly, and does nothing when re-run', async () => {
    const site = await createTestSite(ctx.deps, `bakery-${ctx.taskQueue.slice(-6)}.example.com`, { posts: 40 });
    const date = '2026-11-20';
    const before = await tableChecksums(ctx.deps, site.database);
    expect(Object.keys(before)).toContain('wp_posts');

    const handle = await ctx.tw.client.workflow.start(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const result = await handle.result();
    expect(result.status).toBe('created');

    // Everything stored is ciphertext: age's header, and no SQL, WordPress table or file names anywhere. Needles of
    // 8 bytes and more: a 3-byte one ('wp_') turns up in N random bytes with a chance of about N / 2^24, a few in a
    // hundred for these objects (it failed a clean-clone CI so), where 8 bytes make it nil.
    for (const what of ['database', 'files', 'manifest'] as const) {
      const bytes = await objectBytes(ctx.deps, await pointObjectKey(ctx.deps, site.domain, date, what));
      expect(bytes.subarray(0, 21).toString()).toBe('age-encryption.org/v1');
      for (const plain of ['CREATE TABLE', 'wp_posts', 'wp_options', 'wp-includes', site.domain]) expect(bytes.includes(plain), `${what} holds ${plain}`).toBe(false);
    }

    const manifest = JSON.parse((await decrypt(await objectBytes(ctx.deps, objectKey(site.domain, date, 'manifest')), identity)).toString()) as BackupManifest;
    expect(manifest.site).toBe(site.domain);
    expect(manifest.wordpress.version).toBe('6.7.1');
    expect(manifest.database.tables.find((t) => t.name === 'wp_users')!.rows).toBe(4);

    // The manifest's SHA-256 matches what is stored.
    const dbCipher = await objectBytes(ctx.deps, manifest.database.key);
    expect(createHash('sha256').update(dbCipher).digest('hex')).toBe(manifest.database.sha256);

    // Decrypt and load into a scratch database: per-table checksums equal the source's.
    const scratch = `restore_check_${process.pid}`;
    await loadDump(ctx.deps, await decrypt(dbCipher, identity), scratch);
    expect(await tableChecksums(ctx.deps, scratch)).toEqual(before);
    await ctx.deps.galera.query(ctx.deps.galera.nodes[0], `DROP DATABASE \`${scratch}\``);

    // Files: byte-identical tree.
    const dir = await extractTar(await decrypt(await objectBytes(ctx.deps, manifest.files.key), identity));
    expect(treeHashes(dir)).toEqual(treeHashes(site.filesPath));
    expect(Object.keys(treeHashes(dir))).toContain('wp-content/uploads/2024/01/café menu (final).txt');
    rmSync(dir, { recursive: true, force: true });

    // The same night again: already complete, nothing rewritten.
    const manifestEtag = (await ctx.deps.s3.send(new GetObjectCommand({ Bucket: ctx.deps.bucket, Key: objectKey(site.domain, date, 'manifest') }))).ETag;
    const again = await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${ctx.taskQueue}-again`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    expect(again.status).toBe('already-complete');
    expect((await ctx.deps.s3.send(new GetObjectCommand({ Bucket: ctx.deps.bucket, Key: objectKey(site.domain, date, 'manifest') }))).ETag).toBe(manifestEtag);

    // The site deleted since (its record gone): its complete point is still complete, and asks no record; a night
    // it has no point for fails as an unknown site, writing nothing.
    expect(await createSiteRegistryActivities(ctx.deps).unregisterSite({ domain: site.domain })).toEqual({ removed: true });
    const gone = await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${ctx.taskQueue}-gone`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    expect(gone.status).toBe('already-complete');
    const nextNight = '2026-11-21';
    const err = await ctx.tw.client.workflow
      .execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${nextNight}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: nextNight }] })
      .then(() => null, (e: { cause?: { cause?: { type?: string } } }) => e);
    expect(err?.cause?.cause?.type).toBe('InvalidInput');
    expect((await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: ctx.deps.bucket, Prefix: restorePointPrefix(site.domain, nextNight) }))).KeyCount ?? 0).toBe(0);

    // The lookup and the manifest ran as local activities (markers): only the two long steps went through the server.
    const history = await handle.fetchHistory();
    const scheduled = history.events!.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => e.activityTaskScheduledEventAttributes!.activityType!.name);
    expect(scheduled.sort()).toEqual(['archiveSiteFilesToSpaces', 'dumpDatabaseToSpaces']);
    await Worker.runReplayHistory(replayOptions(), history, handle.workflowId);
    expect(restorePointPrefix(site.domain, date)).toBe(`sites/${site.domain}/${date}/`);
  });

  it('reads a site\'s files in one remote command, and fails a files path that is no directory with InvalidInput naming it (tar and deduplicated points)', async () => {
    const site = await createTestSite(ctx.deps, `onecmd-${ctx.taskQueue.slice(-6)}.example.com`, { posts: 2 });
    // Every remote command is one exec channel of ssh2's client (one login shell on the storage node).
    const exec = vi.spyOn(Client.prototype, 'exec');
    const modes = [
      { name: 'tar', backup: { recipients: ctx.deps.backup.recipients } },
      { name: 'dedup', backup: { recipients: ctx.deps.backup.recipients, dedupKey: randomBytes(32) } },
    ];
    try {
      for (const [i, mode] of modes.entries()) {
        exec.mockClear();
        const archive = createStorageArchiveActivities({ ...ctx.deps, backup: mode.backup }).archiveSiteFilesToSpaces;
        const done = (await new MockActivityEnvironment().run(archive, { site: site.domain, date: `2026-11-2${i}`, filesPath: site.filesPath, storageHost: null })) as ArchiveFilesResult;
        expect(exec, mode.name).toHaveBeenCalledTimes(1);
        expect(done.wordpressVersion, mode.name).toBe('6.7.1');
        expect(done.dedup === undefined, mode.name).toBe(mode.name === 'tar');
      }
      rmSync(site.filesPath, { recursive: true, force: true });
      for (const [i, mode] of modes.entries()) {
        exec.mockClear();
        const archive = createStorageArchiveActivities({ ...ctx.deps, backup: mode.backup }).archiveSiteFilesToSpaces;
        const date = `2026-11-0${i + 1}`;
        const err = await new MockActivityEnvironment().run(archive, { site: site.domain, date, filesPath: site.filesPath, storageHost: null }).then(
          () => null,
          (e: { type?: string; nonRetryable?: boolean; message?: string }) => e,
        );
        expect(err, mode.name).toMatchObject({
          type: 'InvalidInput',
          nonRetryable: true,
          message: `files of site ${site.domain} not found: ${site.filesPath} is not a directory on ${formatSshTarget(ctx.deps.ssh.defaultTarget)}`,
        });
        expect(exec, mode.name).toHaveBeenCalledTimes(1);
        // Nothing stored for the point: the upload begun before the exit code came back was aborted.
        const stored = await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: ctx.deps.bucket, Prefix: restorePointPrefix(site.domain, date) }));
        expect(stored.KeyCount ?? 0, mode.name).toBe(0);
      }
    } finally {
      exec.mockRestore();
    }
  });

  it('fails an unknown site with InvalidInput and writes nothing', async () => {
    const err = await ctx.tw.client.workflow
      .execute(siteBackupWorkflow, { workflowId: `backup/nowhere.example.com/2026-11-20/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site: 'nowhere.example.com', point: '2026-11-20' }] })
      .then(() => null, (e: { cause?: { cause?: { type?: string } } }) => e);
    expect(err?.cause?.cause?.type).toBe('InvalidInput');
  });
});

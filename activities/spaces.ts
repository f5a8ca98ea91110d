/** Activities that touch Spaces (S3-compatible object storage). */
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { DeleteObjectsCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { objectKey, pointRefsPrefix, restorePointPrefix, type BackupManifest } from '../lib/backup-layout';
import { removeExpiredLeases, releaseLease, tryCollectLease } from '../lib/backup-leases';
import { collectUnreferencedPacks } from './lib/dedup-files';
import { activityInfo, ApplicationFailure, heartbeat } from '@temporalio/activity';
import { planRetention } from '../lib/retention';
import { heldSites } from '../lib/site-registry';
import type { ActivityDeps } from '../lib/clients/deps';
import { decryptObjectTo } from './lib/encrypted-download';
import { abortStaleUploads, uploadSmallEncrypted } from './lib/encrypted-upload';
import { classifyStorageError, failure } from '../lib/clients/errors';
import { listAll, listBackedUpSites, listSiteRestorePoints, TAKEN_AT_META, type RestorePointSummary } from '../lib/restore-points';

export type { RestorePointSummary };

export interface RoundTripObjectInput {
  key: string;
  /** Bytes to write; a short marker, never a secret. */
  body: string;
}

export interface RoundTripObjectResult {
  bucket: string;
  key: string;
  bytes: number;
  sha256: string;
}

export type CollectResult = { deletedPacks: number; keptPacks: number } | { skipped: string };

export interface RetentionResult {
  site: string;
  /** Points kept; -1 when the site was skipped (a restore holds it). */
  kept: number;
  deleted: string[];
  /** Workers with a dedup key: the site's unreferenced packs collected after its points. */
  collected?: CollectResult;
}

function activityHolder(): string {
  try {
    const info = activityInfo();
    return `${info.workflowExecution?.workflowId ?? info.activityId} attempt ${info.attempt}`;
  } catch {
    return 'outside an activity';
  }
}

export function createSpacesActivities({ s3, bucket, backup, galera }: Pick<ActivityDeps, 's3' | 'bucket' | 'backup' | 'galera'>) {
  /** A site's restore points, newest first (lib/restore-points.ts). */
  async function listRestorePoints(input: { site: string; withTakenAt?: boolean }): Promise<RestorePointSummary[]> {
    return listSiteRestorePoints(s3, bucket, input);
  }

  /** Deletes a restore point: the manifest first, so a half-deleted point is never mistaken for complete. */
  async function deleteRestorePoint(input: { site: string; date: string }): Promise<{ deleted: number }> {
    const prefix = restorePointPrefix(input.site, input.date);
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(input.site, input.date, 'manifest') }));
      // The point's refs (deduplicated files) last: until they are gone, its packs are still protected.
      const rest = [...(await listAll(s3, bucket, prefix)), ...(await listAll(s3, bucket, pointRefsPrefix(input.site, input.date)))];
      if (rest.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: rest.map((o) => ({ Key: o.key })) } }));
      await abortStaleUploads(s3, bucket, prefix);
      return { deleted: rest.length + 1 };
    } catch (err) {
      throw classifyStorageError(err, prefix);
    }
  }

  /**
   * Deletes the site's packs no point refers to any more, under a collect lease: skipped (and reported) while a
   * night or a restore of the site runs or a restore holds it. Needs the dedup key (the refs open with it).
   */
  async function collectPacks(site: string, holder: string): Promise<CollectResult> {
    if (!backup.dedupKey) return { skipped: 'no dedup key on this worker' };
    await removeExpiredLeases(galera);
    const { lease, busy } = await tryCollectLease(galera, site, holder);
    if (!lease) return { skipped: `in use: ${busy.join(', ')}` };
    try {
      const r = await collectUnreferencedPacks(s3, bucket, site, backup.dedupKey);
      return { deletedPacks: r.deleted.length, keptPacks: r.kept };
    } catch (err) {
      // Refs that do not open (another dedup key, damage): nothing of this site is deleted, the others go on.
      if (err instanceof ApplicationFailure && (err.type === 'DecryptionFailed' || err.type === 'BackupCorrupted')) return { skipped: err.message };
      throw err;
    } finally {
      await releaseLease(galera, lease).catch(() => undefined);
    }
  }

  return {
    listRestorePoints,
    deleteRestorePoint,
    /** Collects one site's unreferenced packs now (`applyRetention` does it after each site's points). */
    async collectUnreferencedPacks(input: { site: string }): Promise<CollectResult> {
      return collectPacks(input.site, activityHolder());
    },
    /**
     * Every site with anything in the bucket, from the bucket's own listing: after losing the database cluster
     * (and the registry on it), this is what a farm recovery starts from.
     */
    async listBackedUpSites(): Promise<string[]> {
      return listBackedUpSites(s3, bucket);
    },
    /** Whether a site's restore point for a date is complete (its manifest exists). */
    async findRestorePoint(input: { site: string; date: string }): Promise<{ complete: boolean }> {
      try {
        await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(input.site, input.date, 'manifest') }));
        return { complete: true };
      } catch (err) {
        const f = classifyStorageError(err, objectKey(input.site, input.date, 'manifest'));
        if (f.type === 'ObjectNotFound') return { complete: false };
        throw f;
      }
    },

    /**
     * Writes the manifest, encrypted like the data, as the restore point's last object; when the point was taken
     * goes in the object's metadata, in clear, so `--at <timestamp>` can choose without the private key. Objects of
     * the point the manifest does not name (uploads of attempts that were retried) are removed first. The manifest is
     * encrypted in process (uploadSmallEncrypted: no zstd or age process for a few KiB).
     */
    async writeManifest(input: { manifest: BackupManifest }): Promise<{ key: string; sha256: string; removedStale: string[] }> {
      const m = input.manifest;
      const key = objectKey(m.site, m.date, 'manifest');
      const named = new Set([m.database.key, m.files.key, key]);
      const stale = (await listAll(s3, bucket, restorePointPrefix(m.site, m.date))).map((o) => o.key).filter((k) => !named.has(k));
      try {
        if (stale.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: stale.map((k) => ({ Key: k })) } }));
      } catch (err) {
        throw classifyStorageError(err, restorePointPrefix(m.site, m.date));
      }
      const metadata = m.taken ? { [TAKEN_AT_META]: m.taken.takenAt } : undefined;
      const r = await uploadSmallEncrypted({ s3, bucket, key, metadata, data: Buffer.from(JSON.stringify(m, null, 2)), recipients: backup.recipients });
      return { key: r.key, sha256: r.sha256, removedStale: stale };
    },

    /** Decrypts a restore point's manifest (restore workers only: needs the backup identity). */
    async readManifest(input: { site: string; date: string }): Promise<BackupManifest> {
      if (!backup.identityFile) throw failure('ConfigMissing', 'this worker has no backup identity (DROVER_BACKUP_AGE_IDENTITY_FILE): restores run on restore workers');
      const chunks: Buffer[] = [];
      const sink = new Writable({
        write(chunk: Buffer, _enc, cb) {
          chunks.push(chunk);
          cb();
        },
      });
      await decryptObjectTo({ s3, bucket, key: objectKey(input.site, input.date, 'manifest'), identityFile: backup.identityFile, sink });
      return JSON.parse(Buffer.concat(chunks).toString('utf8')) as BackupManifest;
    },

    /** Aborts multipart uploads left under a prefix by workers that died mid-upload. */
    async abortStaleUploads(input: { prefix: string; initiatedBefore?: string }): Promise<{ aborted: number }> {
      return { aborted: await abortStaleUploads(s3, bucket, input.prefix, input.initiatedBefore ? new Date(input.initiatedBefore) : undefined) };
    },

    /**
     * Applies the retention policy to each site: the plan is computed from the bucket's listing first, and only
     * its `delete` decisions are carried out (manifest first). Heartbeats per site so a retry resumes.
     */
    async applyRetention(input: { sites: string[]; now: string; dryRun?: boolean }): Promise<RetentionResult[]> {
      const out: RetentionResult[] = [];
      const done = new Set<string>((activityInfo().heartbeatDetails as string[] | undefined) ?? []);
      const held = await heldSites(galera);
      for (const site of input.sites) {
        if (done.has(site)) continue;
        if (held.has(site)) {
          // A restore is using this site's points: prune it another night.
          out.push({ site, kept: -1, deleted: [] });
          continue;
        }
        const points = await listRestorePoints({ site });
        const plan = planRetention(points.map((p) => ({ date: p.date, complete: p.complete })), input.now);
        const doomed = plan.decisions.filter((d) => d.action === 'delete').map((d) => d.date);
        if (!input.dryRun) for (const date of doomed) await deleteRestorePoint({ site, date });
        // With a dedup key, the packs only deleted points referred to go too (never beside a night or restore).
        const collected = !input.dryRun && backup.dedupKey ? await collectPacks(site, activityHolder()) : undefined;
        out.push({ site, kept: plan.keep, deleted: doomed, ...(collected ? { collected } : {}) });
        done.add(site);
        heartbeat([...done]);
      }
      return out;
    },

    /** Writes an object, reads it back, checks it byte for byte, and removes it: proof the store works. */
    async roundTripObject(input: RoundTripObjectInput): Promise<RoundTripObjectResult> {
      const sha256 = createHash('sha256').update(input.body).digest('hex');
      try {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: input.key, Body: input.body, ContentType: 'text/plain' }));
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: input.key }));
        const text = (await got.Body?.transformToString('utf8')) ?? '';
        const readSha = createHash('sha256').update(text).digest('hex');
        if (readSha !== sha256) throw failure('StorageUnavailable', `object ${input.key} read back differs from what was written`);
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: input.key }));
        return { bucket, key: input.key, bytes: Buffer.byteLength(input.body), sha256 };
      } catch (err) {
        throw classifyStorageError(err, `s3://${bucket}/${input.key}`);
      }
    },
  };
}

/** Activities that touch Spaces (S3-compatible object storage). */
import { createHash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { DeleteObjectsCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { dateOfKey, objectKey, OBJECT_NAMES, restorePointPrefix, sitePrefix, SITES_PREFIX, type BackupManifest } from '../lib/backup-layout';
import { activityInfo, heartbeat } from '@temporalio/activity';
import { planRetention } from '../lib/retention';
import { heldSites } from '../lib/site-registry';
import type { ActivityDeps } from './deps';
import { decryptObjectTo } from './lib/encrypted-download';
import { abortStaleUploads, uploadEncrypted } from './lib/encrypted-upload';
import { classifyStorageError, failure } from './lib/errors';

export interface RestorePointSummary {
  date: string;
  complete: boolean;
  bytes: number;
  objects: string[];
}

async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<{ key: string; bytes: number }[]> {
  const out: { key: string; bytes: number }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, bytes: o.Size ?? 0 });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

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

export function createSpacesActivities({ s3, bucket, backup, galera }: Pick<ActivityDeps, 's3' | 'bucket' | 'backup' | 'galera'>) {
  /** A site's restore points, newest first, with completeness and stored size. */
  async function listRestorePoints(input: { site: string }): Promise<RestorePointSummary[]> {
    try {
      const byDate = new Map<string, RestorePointSummary>();
      for (const o of await listAll(s3, bucket, sitePrefix(input.site))) {
        const date = dateOfKey(input.site, o.key);
        if (!date) continue;
        const p = byDate.get(date) ?? { date, complete: false, bytes: 0, objects: [] };
        p.bytes += o.bytes;
        p.objects.push(o.key.slice(restorePointPrefix(input.site, date).length));
        if (o.key.endsWith(OBJECT_NAMES.manifest)) p.complete = true;
        byDate.set(date, p);
      }
      return [...byDate.values()].sort((a, b) => (a.date < b.date ? 1 : -1));
    } catch (err) {
      throw classifyStorageError(err, `restore points of ${input.site}`);
    }
  }

  /** Deletes a restore point: the manifest first, so a half-deleted point is never mistaken for complete. */
  async function deleteRestorePoint(input: { site: string; date: string }): Promise<{ deleted: number }> {
    const prefix = restorePointPrefix(input.site, input.date);
    try {
      await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: objectKey(input.site, input.date, 'manifest') }));
      const rest = await listAll(s3, bucket, prefix);
      if (rest.length) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: rest.map((o) => ({ Key: o.key })) } }));
      await abortStaleUploads(s3, bucket, prefix);
      return { deleted: rest.length + 1 };
    } catch (err) {
      throw classifyStorageError(err, prefix);
    }
  }

  return {
    listRestorePoints,
    deleteRestorePoint,
    /**
     * Every site with anything in the bucket, from the bucket's own listing: after losing the database cluster
     * (and the registry on it), this is what a farm recovery starts from.
     */
    async listBackedUpSites(): Promise<string[]> {
      try {
        const sites: string[] = [];
        let token: string | undefined;
        do {
          const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: SITES_PREFIX, Delimiter: '/', ContinuationToken: token }));
          for (const p of page.CommonPrefixes ?? []) if (p.Prefix) sites.push(p.Prefix.slice(SITES_PREFIX.length, -1));
          token = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (token);
        return sites.sort();
      } catch (err) {
        throw classifyStorageError(err, SITES_PREFIX);
      }
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

    /** Writes the manifest, encrypted like the data, as the restore point's last object. */
    async writeManifest(input: { manifest: BackupManifest }): Promise<{ key: string; sha256: string }> {
      const m = input.manifest;
      const r = await uploadEncrypted({ s3, bucket, key: objectKey(m.site, m.date, 'manifest'), source: Readable.from([Buffer.from(JSON.stringify(m, null, 2))]), recipients: backup.recipients });
      return { key: r.key, sha256: r.sha256 };
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
    async applyRetention(input: { sites: string[]; now: string; dryRun?: boolean }): Promise<{ site: string; kept: number; deleted: string[] }[]> {
      const out: { site: string; kept: number; deleted: string[] }[] = [];
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
        out.push({ site, kept: plan.keep, deleted: doomed });
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

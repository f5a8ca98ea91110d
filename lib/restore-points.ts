/**
 * Listing a site's restore points from the bucket: used by the restore activities and, read-only, by the CLI
 * (`backup list`, retention previews), which must not construct activities to do it.
 */
import { HeadObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { dateOfKey, objectKey, restorePointPrefix, sitePrefix, SITES_PREFIX } from './backup-layout';
import { classifyStorageError } from './clients/errors';

export interface RestorePointSummary {
  /** The nominal date, or `safety/<id>` for a restore's safety point. */
  date: string;
  /** When the manifest (the last object) was written; an upper bound of when the point was taken. */
  manifestWrittenAt?: string | null;
  /** When the point was taken, as recorded in the manifest object's metadata (asked for with `withTakenAt`). */
  takenAt?: string | null;
  complete: boolean;
  bytes: number;
  objects: string[];
}

export const TAKEN_AT_META = 'drover-taken-at';

export async function listAll(s3: S3Client, bucket: string, prefix: string): Promise<{ key: string; bytes: number; modified?: Date }[]> {
  const out: { key: string; bytes: number; modified?: Date }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) if (o.Key) out.push({ key: o.Key, bytes: o.Size ?? 0, modified: o.LastModified });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * A site's restore points (dated and safety points), newest first, with completeness, stored size and when the
 * manifest was written; with `withTakenAt`, also when each complete point was taken (one HEAD per point, so only
 * a restore choosing by time asks).
 */
export async function listSiteRestorePoints(s3: S3Client, bucket: string, input: { site: string; withTakenAt?: boolean }): Promise<RestorePointSummary[]> {
  try {
    const byDate = new Map<string, RestorePointSummary>();
    for (const o of await listAll(s3, bucket, sitePrefix(input.site))) {
      const date = dateOfKey(input.site, o.key);
      if (!date) continue;
      const p = byDate.get(date) ?? { date, complete: false, bytes: 0, objects: [] };
      p.bytes += o.bytes;
      p.objects.push(o.key.slice(restorePointPrefix(input.site, date).length));
      if (o.key === objectKey(input.site, date, 'manifest')) Object.assign(p, { complete: true, manifestWrittenAt: o.modified?.toISOString() ?? null });
      byDate.set(date, p);
    }
    const points = [...byDate.values()].sort((a, b) => (a.date < b.date ? 1 : -1));
    if (input.withTakenAt) {
      for (const p of points.filter((x) => x.complete)) {
        const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: objectKey(input.site, p.date, 'manifest') }));
        p.takenAt = head.Metadata?.[TAKEN_AT_META] ?? null;
      }
    }
    return points;
  } catch (err) {
    throw classifyStorageError(err, `restore points of ${input.site}`);
  }
}

/**
 * Every site with anything in the bucket, from the bucket's own listing: after losing the database cluster
 * (and the registry on it), this is what a farm recovery starts from.
 */
export async function listBackedUpSites(s3: S3Client, bucket: string): Promise<string[]> {
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
}

/**
 * One site's restore point for one night: database dump and files archive streamed (compressed, encrypted) to
 * Spaces in parallel, then the manifest written last. Re-running a night that is already complete does nothing.
 */
import { patched } from '@temporalio/workflow';
import type { BackupManifest } from '../lib/backup-layout';
import type { SiteRecord } from '../lib/site-registry';
import { api, localApi, remoteExecWith, checkStepTimeouts, type StepTimeouts } from './lib/proxies';

export interface SiteBackupInput {
  site: string;
  /**
   * The restore point to write: a night's nominal date YYYY-MM-DD (the nightly backup), or a safety point
   * `safety/<YYYYMMDDTHHMMSSZ>` (the one a restore takes first). Safety points are outside the dated series:
   * retention never counts or prunes them.
   */
  point: string;
  /** Timeouts of the dump and the files archive; defaults: heartbeat 30 s, 30 minutes each. */
  timeouts?: StepTimeouts;
}

export interface SiteBackupResult {
  site: string;
  /** The point written (its input `point`). */
  date: string;
  status: 'created' | 'already-complete';
  bytes?: number;
  durationMs?: number;
  manifest?: BackupManifest;
}

/** Backs up one site into the restore point `sites/<site>/<point>/`. */
export async function siteBackupWorkflow(input: SiteBackupInput): Promise<SiteBackupResult> {
  checkStepTimeouts(input.timeouts);
  const { point } = input;
  // The lookup and the manifest as local activities: two fewer tasks through the server per site and night.
  const quick = patched('backup-local-steps') ? localApi : api;
  let site: SiteRecord;
  if (patched('backup-one-lookup')) {
    // One activity asks S3 and the registry at once (two before: one more task per site on a 500-site night).
    const found = await quick.lookupSiteForBackup({ site: input.site, date: point });
    if (found.complete) return { site: input.site, date: point, status: 'already-complete' };
    site = found.site;
  } else {
    if ((await api.findRestorePoint({ site: input.site, date: point })).complete) return { site: input.site, date: point, status: 'already-complete' };
    site = await api.lookupSite({ domain: input.site });
  }
  const started = Date.now();
  const remoteExec = remoteExecWith(input.timeouts);
  // Wait for both halves even when one fails, so no upload is left running after this workflow has ended.
  const [dbResult, filesResult] = await Promise.allSettled([
    remoteExec.dumpDatabaseToSpaces({ site: input.site, database: site.database, date: point }),
    remoteExec.archiveSiteFilesToSpaces({ site: input.site, date: point, filesPath: site.filesPath, storageHost: site.storageHost }),
  ]);
  if (dbResult.status === 'rejected') throw dbResult.reason;
  if (filesResult.status === 'rejected') throw filesResult.reason;
  const [db, files] = [dbResult.value, filesResult.value];
  const total = Date.now() - started;
  // When the point was taken, for `--at <timestamp>`: the later of the dump's snapshot and the end of the files
  // archive (files are read over minutes, not at one instant), so a point is never chosen for a time before its data.
  const taken =
    db.firstByteAt && files.finishedAt ? { databaseSnapshotAt: db.firstByteAt, filesReadUntil: files.finishedAt, takenAt: db.firstByteAt > files.finishedAt ? db.firstByteAt : files.finishedAt } : undefined;
  const manifest: BackupManifest = {
    version: 1,
    site: input.site,
    date: point,
    createdAt: new Date().toISOString(),
    database: { key: db.key, bytes: db.bytes, sha256: db.sha256, plainBytes: db.plainBytes, name: site.database, node: db.node, ...(site.tablePrefix ? { tablePrefix: site.tablePrefix } : {}), tables: db.tables, ...(db.namesDatabase !== undefined ? { namesDatabase: db.namesDatabase } : {}) },
    files: { key: files.key, bytes: files.bytes, sha256: files.sha256, plainBytes: files.plainBytes, path: site.filesPath, storageHost: files.storageHost },
    wordpress: { version: files.wordpressVersion, ...db.wordpress },
    timingsMs: { database: db.durationMs, files: files.durationMs, total },
    ...(taken ? { taken } : {}),
    ...(site.dbUser && site.farm ? { created: { dbUser: site.dbUser, phpVersion: site.phpVersion ?? '8.2', farm: site.farm, title: site.title ?? '', adminEmail: site.adminEmail ?? '' } } : {}),
  };
  await quick.writeManifest({ manifest });
  return { site: input.site, date: point, status: 'created', bytes: db.bytes + files.bytes, durationMs: total, manifest: { ...manifest, database: { ...manifest.database, tables: [] } } };
}

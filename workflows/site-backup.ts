/**
 * One site's restore point for one night: database dump and files archive streamed (compressed, encrypted) to
 * Spaces in parallel, then the manifest written last. Re-running a night that is already complete does nothing.
 */
import type { BackupManifest } from '../lib/backup-layout';
import { api, remoteExec } from './lib/proxies';

export interface SiteBackupInput {
  site: string;
  /** Nominal date of the night, YYYY-MM-DD. */
  date: string;
  /**
   * Where the point is stored instead of the date folder, e.g. `safety/20261122T230500Z` for the safety point a
   * restore takes first. Such points are outside the dated series: retention never counts or prunes them.
   */
  point?: string;
}

export interface SiteBackupResult {
  site: string;
  date: string;
  status: 'created' | 'already-complete';
  bytes?: number;
  durationMs?: number;
  manifest?: BackupManifest;
}

/** Backs up one site into the restore point `sites/<site>/<date>/`. */
export async function siteBackupWorkflow(input: SiteBackupInput): Promise<SiteBackupResult> {
  const point = input.point ?? input.date;
  if ((await api.findRestorePoint({ site: input.site, date: point })).complete) return { site: input.site, date: point, status: 'already-complete' };
  const site = await api.lookupSite({ domain: input.site });
  const started = Date.now();
  // Wait for both halves even when one fails, so no upload is left running after this workflow has ended.
  const [dbResult, filesResult] = await Promise.allSettled([
    remoteExec.dumpDatabaseToSpaces({ site: input.site, database: site.database, date: point }),
    remoteExec.archiveSiteFilesToSpaces({ site: input.site, date: point, filesPath: site.filesPath, storageHost: site.storageHost }),
  ]);
  if (dbResult.status === 'rejected') throw dbResult.reason;
  if (filesResult.status === 'rejected') throw filesResult.reason;
  const [db, files] = [dbResult.value, filesResult.value];
  const total = Date.now() - started;
  const manifest: BackupManifest = {
    version: 1,
    site: input.site,
    date: point,
    createdAt: new Date().toISOString(),
    database: { key: db.key, bytes: db.bytes, sha256: db.sha256, plainBytes: db.plainBytes, name: site.database, node: db.node, tables: db.tables },
    files: { key: files.key, bytes: files.bytes, sha256: files.sha256, plainBytes: files.plainBytes, path: site.filesPath, storageHost: files.storageHost },
    wordpress: { version: files.wordpressVersion, ...db.wordpress },
    timingsMs: { database: db.durationMs, files: files.durationMs, total },
  };
  await api.writeManifest({ manifest });
  return { site: input.site, date: point, status: 'created', bytes: db.bytes + files.bytes, durationMs: total, manifest: { ...manifest, database: { ...manifest.database, tables: [] } } };
}

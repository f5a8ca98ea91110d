/**
 * Where restore points live in the bucket. One restore point per site per nominal date:
 *   sites/<domain>/<YYYY-MM-DD>/database.sql.zst.age
 *   sites/<domain>/<YYYY-MM-DD>/files.tar.zst.age
 *   sites/<domain>/<YYYY-MM-DD>/manifest.json.age   ← written last; without it the point is incomplete
 * Everything is age-encrypted, the manifest included (it names tables and counts rows).
 */
export const SITES_PREFIX = 'sites/';

export function sitePrefix(domain: string): string {
  return `${SITES_PREFIX}${domain}/`;
}

export function restorePointPrefix(domain: string, date: string): string {
  return `${sitePrefix(domain)}${date}/`;
}

export const OBJECT_NAMES = { database: 'database.sql.zst.age', files: 'files.tar.zst.age', manifest: 'manifest.json.age' } as const;
export type RestorePointObject = keyof typeof OBJECT_NAMES;

export function objectKey(domain: string, date: string, what: RestorePointObject): string {
  return `${restorePointPrefix(domain, date)}${OBJECT_NAMES[what]}`;
}

/** The date folder of a key under a site's prefix, or null. */
export function dateOfKey(domain: string, key: string): string | null {
  const m = new RegExp(`^${sitePrefix(domain).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d{4}-\\d{2}-\\d{2})/`).exec(key);
  return m ? m[1] : null;
}

export interface ManifestObject {
  key: string;
  bytes: number;
  sha256: string;
  plainBytes: number;
}

export interface BackupManifest {
  version: 1;
  site: string;
  date: string;
  createdAt: string;
  database: ManifestObject & {
    name: string;
    node: string;
    tables: { name: string; rows: number }[];
  };
  files: ManifestObject & { path: string; storageHost: string };
  wordpress: { version: string | null; posts: number; pages: number; users: number };
  timingsMs: { database: number; files: number; total: number };
}

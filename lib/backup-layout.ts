/**
 * Where restore points live in the bucket. One restore point per site per nominal date:
 *   sites/<domain>/<YYYY-MM-DD>/database.sql.zst.age
 *   sites/<domain>/<YYYY-MM-DD>/files.tar.zst.age
 *   sites/<domain>/<YYYY-MM-DD>/manifest.json.age   ← written last; without it the point is incomplete
 * Everything is age-encrypted, the manifest included (it names tables and counts rows). Since issue 11 the data
 * objects carry a per-upload tag (`database.<tag>.sql.zst.age`), so a retried upload never overwrites the object
 * an earlier attempt reported; the manifest names the exact keys. Points written before keep the plain names and
 * still restore (a restore reads keys from the manifest). The manifest object's metadata says when the point was
 * taken (`x-amz-meta-drover-taken-at`), readable without the private key: `--at <timestamp>` chooses by it.
 *
 * A restore's safety point lives beside the dated ones, named by the time it was taken:
 *   sites/<domain>/safety/<YYYYMMDDTHHMMSSZ>/…
 *
 * Deduplicated files (issue 19; workers with a dedup key): instead of `files.<tag>.tar.zst.age` the point holds
 * an encrypted index, `files-index.<tag>.json.zst.age` (the manifest's `files.key`), naming the tar headers of
 * every entry and the pieces of its data, and the pieces live in packs shared by all the site's points:
 *   sites/<domain>/packs/<random>.pack.age           ← age-encrypted, zstd, pieces named by a keyed hash
 *   sites/<domain>/refs/<point>/<index tag>.refs      ← which packs (and pieces) the point refers to; encrypted
 *                                                        with a key derived from the dedup key, never age's
 * Neither folder is a point (dateOfKey ignores them). A pack is collected once no point's refs name it.
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

/** Which object of a point a file name is (`database.sql.zst.age`, or tagged `database.<tag>.sql.zst.age`), or null. */
export function objectKind(name: string): RestorePointObject | null {
  for (const [kind, plain] of Object.entries(OBJECT_NAMES) as [RestorePointObject, string][]) {
    const [stem, ...ext] = plain.split('.');
    if (name === plain || (kind !== 'manifest' && new RegExp(`^${stem}\\.[0-9a-f]+\\.${ext.join('\\.')}$`).test(name))) return kind;
  }
  return null;
}

/** The point a key under a site's prefix belongs to (its date folder, or `safety/<id>`), or null. */
export function dateOfKey(domain: string, key: string): string | null {
  const m = new RegExp(`^${sitePrefix(domain).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}(\\d{4}-\\d{2}-\\d{2}|safety/\\d{8}T\\d{6}Z)/`).exec(key);
  return m ? m[1] : null;
}

export function packsPrefix(domain: string): string {
  return `${sitePrefix(domain)}packs/`;
}

export function packKey(domain: string, tag: string): string {
  return `${packsPrefix(domain)}${tag}.pack.age`;
}

export function refsPrefix(domain: string): string {
  return `${sitePrefix(domain)}refs/`;
}

/** The refs of one point (`<date>` or `safety/<id>`); one object per index written (retried attempts each write one). */
export function pointRefsPrefix(domain: string, point: string): string {
  return `${refsPrefix(domain)}${point}/`;
}

/** Where a point's deduplicated file index goes (uploadEncrypted tags it per attempt). */
export function filesIndexKey(domain: string, point: string): string {
  return `${restorePointPrefix(domain, point)}files-index.json.zst.age`;
}

/** Whether a manifest's `files.key` is a deduplicated index (else a tar archive). */
export function isFilesIndexKey(key: string): boolean {
  return /\/files-index(\.[0-9a-f]+)?\.json\.zst\.age$/.test(key);
}

export interface ManifestObject {
  key: string;
  bytes: number;
  sha256: string;
  plainBytes: number;
  /** Upload results only (a manifest records them under `taken`): when the source's first and last byte were read. */
  firstByteAt?: string;
  finishedAt?: string;
}

export interface BackupManifest {
  version: 1;
  site: string;
  date: string;
  createdAt: string;
  database: ManifestObject & {
    name: string;
    node: string;
    /** The site's WordPress $table_prefix when backed up (absent in points written before it was recorded: `wp_`). */
    tablePrefix?: string;
    tables: { name: string; rows: number }[];
    /**
     * Whether a statement of the dump outside its data (a trigger, routine, view or event written with qualified
     * names) names this database: a restore under another name then passes the dump through its requalifying
     * filter. Absent in points written before it was recorded: a restore takes it as true.
     */
    namesDatabase?: boolean;
  };
  files: ManifestObject & { path: string; storageHost: string };
  wordpress: { version: string | null; posts: number; pages: number; users: number };
  /**
   * When the point's data was read (absent in points written before issue 11): the database dump's first byte
   * (after its consistent snapshot was opened) and the end of the files archive. `takenAt` is the later of the two.
   */
  taken?: { databaseSnapshotAt: string; filesReadUntil: string; takenAt: string };
  timingsMs: { database: number; files: number; total: number };
  /**
   * For sites Drover created (absent otherwise, and in older points): what a restore onto an empty cluster needs to
   * recreate what the dump does not hold (the database user, its secret, the service). Nothing secret.
   */
  created?: { dbUser: string; phpVersion: string; farm: string; title: string; adminEmail: string };
}

/**
 * What a restore of the point's dump under another database name must requalify: the backed-up name, unless the
 * manifest records that no statement of the dump names it (then the dump loads as it is, dump-load.ts).
 */
export function requalifyFrom(manifest: Pick<BackupManifest, 'database'>): { sourceDb?: string } {
  return manifest.database.namesDatabase === false ? {} : { sourceDb: manifest.database.name };
}

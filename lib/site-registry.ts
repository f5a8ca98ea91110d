/**
 * The one site registry: every site the farm hosts, in the `drover_meta.sites` table on the Galera cluster
 * (replicated, backed up with the farm). Nightly backups read it; site creation, deletion and migration write it.
 * Writes are get-or-create (INSERT … ON DUPLICATE KEY UPDATE), so a retried activity is harmless.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { z } from 'zod';
import type { GaleraClient } from './clients/galera-client';
import { failure } from './clients/errors';
import { ensureMetaSchema } from './meta-schema';
import { SCRATCH_MARKER } from './scratch-names';
import { storedHolder } from './restore-locks';

const SYSTEM_DATABASES = ['mysql', 'information_schema', 'performance_schema', 'sys', 'drover_meta'];

/** A WordPress table prefix: letters, digits and _ (WordPress allows no more), short enough for its table names. */
export const tablePrefixSchema = z.string().regex(/^[A-Za-z0-9_]{1,40}$/, 'a WordPress table prefix: letters, digits and _ (at most 40), e.g. wp_');

/** The `$table_prefix = '…';` of a wp-config.php when it is a plain literal; null when it is computed or absent. */
export function literalTablePrefix(wpConfig: string): string | null {
  const code = wpConfig.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*(?:\/\/|#).*$/gm, '');
  const m = /^\s*\$table_prefix\s*=\s*(['"])([A-Za-z0-9_]+)\1\s*;/m.exec(code);
  return m ? m[2] : null;
}

export const siteSchema = z.object({
  domain: z
    .string()
    .max(253)
    .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'a lower-case domain name such as shop.example.com'),
  database: z
    .string()
    .regex(/^[A-Za-z0-9_]{1,64}$/, 'a MariaDB database name: letters, digits and _ (at most 64)')
    .refine((d) => !d.toLowerCase().includes(SCRATCH_MARKER), `must not contain "${SCRATCH_MARKER}": names with it are Drover's scratch databases (restore staging and previous)`)
    .refine((d) => !SYSTEM_DATABASES.includes(d.toLowerCase()), `must not be a system database (${SYSTEM_DATABASES.join(', ')})`),
  /** WordPress's $table_prefix; read from the site's wp-config.php at registration when not given. */
  tablePrefix: tablePrefixSchema.optional(),
  filesPath: z.string().regex(/^\/[^\0]*[^/]$/, 'an absolute path without a trailing slash'),
  /** user@host[:port] of the storage node holding the files; the worker's default SSH target when null. */
  storageHost: z.string().regex(/^(?:[^@\s]+@)?[^:\s@]+(?::\d+)?$/, 'an SSH target user@host[:port]').nullable(),
});

export type Site = z.infer<typeof siteSchema>;

export type SiteStatus = 'active' | 'migrating' | 'deleted' | 'creating' | 'deleting';

export interface SiteRecord extends Site {
  tablePrefix: string;
  status: SiteStatus;
  createdAt: string;
  updatedAt: string;
  /** Sites Drover created (`drover site create`): their database user, PHP, farm, title, admin e-mail; null for registered ones. */
  dbUser?: string | null;
  phpVersion?: string | null;
  farm?: string | null;
  title?: string | null;
  adminEmail?: string | null;
  /** The last operation on the site, as its entity workflow recorded it (e.g. `created`, `restored 2026-11-30`). */
  lastOperation?: string | null;
}

/** Brings drover_meta up to date (versioned migrations, once per client) before the registry is read or written. */
export async function ensureRegistry(galera: GaleraClient): Promise<void> {
  await ensureMetaSchema(galera);
}

/** Adds or updates a site (idempotent). A database already owned by another site is refused. */
export async function upsertSite(galera: GaleraClient, site: Site): Promise<SiteRecord> {
  await ensureRegistry(galera);
  const node = await galera.writerNode();
  const owner = await galera.query<RowDataPacket[]>(node, 'SELECT domain FROM drover_meta.sites WHERE db_name = ? AND domain <> ? AND status <> ?', [site.database, site.domain, 'deleted']);
  if (owner.length) throw failure('InvalidInput', `database ${site.database} already belongs to site ${owner[0].domain}`);
  await galera.query(
    node,
    `INSERT INTO drover_meta.sites (domain, db_name, table_prefix, files_path, storage_host, status) VALUES (?, ?, ?, ?, ?, 'active')
     ON DUPLICATE KEY UPDATE db_name = VALUES(db_name), table_prefix = VALUES(table_prefix), files_path = VALUES(files_path), storage_host = VALUES(storage_host), status = 'active'`,
    [site.domain, site.database, site.tablePrefix ?? 'wp_', site.filesPath, site.storageHost],
  );
  const got = await getSite(galera, site.domain);
  if (!got) throw failure('DatabaseQueryFailed', `site ${site.domain} vanished right after being written`);
  return got;
}

function toRecord(r: RowDataPacket): SiteRecord {
  return {
    domain: String(r.domain),
    database: String(r.db_name),
    tablePrefix: String(r.table_prefix),
    filesPath: String(r.files_path),
    storageHost: r.storage_host === null ? null : String(r.storage_host),
    status: r.status,
    dbUser: r.db_user ?? null,
    phpVersion: r.php_version ?? null,
    farm: r.farm ?? null,
    title: r.title ?? null,
    adminEmail: r.admin_email ?? null,
    lastOperation: r.last_operation ?? null,
    createdAt: new Date(r.created_at).toISOString(),
    updatedAt: new Date(r.updated_at).toISOString(),
  };
}

export async function getSite(galera: GaleraClient, domain: string): Promise<SiteRecord | null> {
  await ensureRegistry(galera);
  const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), 'SELECT * FROM drover_meta.sites WHERE domain = ?', [domain]);
  return rows.length ? toRecord(rows[0]) : null;
}

/** Active sites in domain order (what a nightly backup covers). */
export async function listSites(galera: GaleraClient, opts: { includeDeleted?: boolean } = {}): Promise<SiteRecord[]> {
  await ensureRegistry(galera);
  const rows = await galera.query<RowDataPacket[]>(
    await galera.writerNode(),
    `SELECT * FROM drover_meta.sites ${opts.includeDeleted ? '' : "WHERE status <> 'deleted'"} ORDER BY domain`,
  );
  return rows.map(toRecord);
}

/** What `drover site create` records of a site it creates. */
export interface CreatedSite {
  domain: string;
  database: string;
  dbUser: string;
  filesPath: string;
  storageHost: string | null;
  phpVersion: string;
  farm: string;
  title: string;
  adminEmail: string;
  /** WordPress's `$table_prefix` (default wp_; a migrated site keeps its old host's). */
  tablePrefix?: string;
}

/** The fields where an existing site differs from a create request (empty: the same site, creating again is a no-op). */
export function createdSiteDifferences(existing: SiteRecord, want: CreatedSite): string[] {
  const pairs: [string, unknown, unknown][] = [
    ['--php', existing.phpVersion, want.phpVersion],
    ['--title', existing.title, want.title],
    ['--admin-email', existing.adminEmail, want.adminEmail],
    ['--farm', existing.farm, want.farm],
    ['database', existing.database, want.database],
    ['files', existing.filesPath, want.filesPath],
  ];
  return pairs.filter(([, a, b]) => a !== b).map(([k, a]) => `${k} (it has ${a === null || a === undefined ? 'none: registered, not created' : JSON.stringify(a)})`);
}

/**
 * Records a site being created (status `creating`; an active site of the same parameters stays active).
 * `adopt` (a restore onto an empty cluster) records the parameters over a row the restore has just registered
 * (keeping the table prefix it registered from the backup, unless one is given).
 * Refused (InvalidInput) when the domain exists with other parameters, or another site owns its database or user.
 */
export async function recordSiteCreating(galera: GaleraClient, site: CreatedSite, opts: { adopt?: boolean } = {}): Promise<SiteRecord> {
  await ensureRegistry(galera);
  const node = await galera.writerNode();
  const existing = await getSite(galera, site.domain);
  // `adopt`: a restore onto an empty cluster re-registers the site from its backup first, then records these.
  if (existing && existing.status !== 'deleted' && !opts.adopt) {
    const diff = createdSiteDifferences(existing, site);
    if (diff.length) throw failure('InvalidInput', `domain: ${site.domain} already exists with other parameters: ${diff.join(', ')}`);
  }
  const owner = await galera.query<RowDataPacket[]>(node, "SELECT domain FROM drover_meta.sites WHERE (db_name = ? OR db_user = ?) AND domain <> ? AND status <> 'deleted'", [site.database, site.dbUser, site.domain]);
  if (owner.length) throw failure('InvalidInput', `domain: the database or user derived for ${site.domain} already belongs to site ${owner[0].domain}`);
  await galera.query(
    node,
    `INSERT INTO drover_meta.sites (domain, db_name, table_prefix, db_user, files_path, storage_host, php_version, farm, title, admin_email, status, last_operation)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'creating', 'create')
     ON DUPLICATE KEY UPDATE db_name = VALUES(db_name), table_prefix = IF(? IS NULL, table_prefix, VALUES(table_prefix)), db_user = VALUES(db_user), files_path = VALUES(files_path), storage_host = VALUES(storage_host),
       php_version = VALUES(php_version), farm = VALUES(farm), title = VALUES(title), admin_email = VALUES(admin_email),
       status = IF(status = 'active', 'active', 'creating'), last_operation = IF(status = 'active', last_operation, 'create')`,
    [site.domain, site.database, site.tablePrefix ?? 'wp_', site.dbUser, site.filesPath, site.storageHost, site.phpVersion, site.farm, site.title, site.adminEmail, opts.adopt && !site.tablePrefix ? null : (site.tablePrefix ?? 'wp_')],
  );
  const got = await getSite(galera, site.domain);
  if (!got) throw failure('DatabaseQueryFailed', `site ${site.domain} vanished right after being written`);
  return got;
}

/** Sets a site's status and last operation (idempotent). */
export async function setSiteStatus(galera: GaleraClient, domain: string, status: SiteStatus, lastOperation: string): Promise<void> {
  await ensureRegistry(galera);
  await galera.query(await galera.writerNode(), 'UPDATE drover_meta.sites SET status = ?, last_operation = ? WHERE domain = ?', [status, lastOperation.slice(0, 255), domain]);
}

export async function markSiteDeleted(galera: GaleraClient, domain: string): Promise<boolean> {
  await ensureRegistry(galera);
  const r = (await galera.query<RowDataPacket[]>(await galera.writerNode(), "UPDATE drover_meta.sites SET status = 'deleted' WHERE domain = ?", [domain])) as unknown as { affectedRows: number };
  return r.affectedRows > 0;
}

/** Holds retention for a site (e.g. while a restore runs): pruning skips held sites. Idempotent. */
export async function placeHold(galera: GaleraClient, site: string, holder: string): Promise<void> {
  await ensureRegistry(galera);
  await galera.query(await galera.writerNode(), 'INSERT IGNORE INTO drover_meta.retention_holds (site, holder) VALUES (?, ?)', [site, storedHolder(holder)]);
}

export async function releaseHold(galera: GaleraClient, site: string, holder: string): Promise<void> {
  await ensureRegistry(galera);
  await galera.query(await galera.writerNode(), 'DELETE FROM drover_meta.retention_holds WHERE site = ? AND holder = ?', [site, storedHolder(holder)]);
}

export async function heldSites(galera: GaleraClient): Promise<Set<string>> {
  await ensureRegistry(galera);
  const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), 'SELECT DISTINCT site FROM drover_meta.retention_holds');
  return new Set(rows.map((r) => String(r.site)));
}

/** The registered (not deleted) site owning this database or docroot, if any: scratch copies must never be one. */
export async function siteOwning(galera: GaleraClient, what: { database?: string; filesPath?: string }): Promise<string | null> {
  await ensureRegistry(galera);
  const rows = await galera.query<RowDataPacket[]>(
    await galera.writerNode(),
    "SELECT domain FROM drover_meta.sites WHERE status <> 'deleted' AND (db_name = ? OR files_path = ?) LIMIT 1",
    [what.database ?? '', what.filesPath ?? ''],
  );
  return rows.length ? String(rows[0].domain) : null;
}

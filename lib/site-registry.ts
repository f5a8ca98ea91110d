/**
 * The one site registry: every site the farm hosts, in the `drover_meta.sites` table on the Galera cluster
 * (replicated, backed up with the farm). Nightly backups read it; site creation, deletion and migration write it.
 * Writes are get-or-create (INSERT … ON DUPLICATE KEY UPDATE), so a retried activity is harmless.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { z } from 'zod';
import type { GaleraClient } from '../activities/lib/galera-client';
import { failure } from '../activities/lib/errors';

export const siteSchema = z.object({
  domain: z
    .string()
    .max(253)
    .regex(/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/, 'a lower-case domain name such as shop.example.com'),
  database: z.string().regex(/^[A-Za-z0-9_]{1,64}$/, 'a MariaDB database name: letters, digits and _ (at most 64)'),
  filesPath: z.string().regex(/^\/[^\0]*[^/]$/, 'an absolute path without a trailing slash'),
  /** user@host[:port] of the storage node holding the files; the worker's default SSH target when null. */
  storageHost: z.string().regex(/^(?:[^@\s]+@)?[^:\s@]+(?::\d+)?$/, 'an SSH target user@host[:port]').nullable(),
});

export type Site = z.infer<typeof siteSchema>;

export interface SiteRecord extends Site {
  status: 'active' | 'migrating' | 'deleted';
  createdAt: string;
  updatedAt: string;
}

const DDL = `CREATE TABLE IF NOT EXISTS drover_meta.sites (
  domain VARCHAR(253) NOT NULL PRIMARY KEY,
  db_name VARCHAR(64) NOT NULL,
  files_path VARCHAR(1024) NOT NULL,
  storage_host VARCHAR(255) NULL,
  status ENUM('active','migrating','deleted') NOT NULL DEFAULT 'active',
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  UNIQUE KEY db_name (db_name)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/** DDL on Galera is replicated in total order and stalls the cluster briefly: run it once per client. */
const ensured = new WeakSet<GaleraClient>();

export async function ensureRegistry(galera: GaleraClient): Promise<void> {
  if (ensured.has(galera)) return;
  const node = await galera.writerNode();
  await galera.query(node, 'CREATE DATABASE IF NOT EXISTS drover_meta');
  await galera.query(node, DDL);
  ensured.add(galera);
}

/** Adds or updates a site (idempotent). A database already owned by another site is refused. */
export async function upsertSite(galera: GaleraClient, site: Site): Promise<SiteRecord> {
  await ensureRegistry(galera);
  const node = await galera.writerNode();
  const owner = await galera.query<RowDataPacket[]>(node, 'SELECT domain FROM drover_meta.sites WHERE db_name = ? AND domain <> ? AND status <> ?', [site.database, site.domain, 'deleted']);
  if (owner.length) throw failure('InvalidInput', `database ${site.database} already belongs to site ${owner[0].domain}`);
  await galera.query(
    node,
    `INSERT INTO drover_meta.sites (domain, db_name, files_path, storage_host, status) VALUES (?, ?, ?, ?, 'active')
     ON DUPLICATE KEY UPDATE db_name = VALUES(db_name), files_path = VALUES(files_path), storage_host = VALUES(storage_host), status = 'active'`,
    [site.domain, site.database, site.filesPath, site.storageHost],
  );
  const got = await getSite(galera, site.domain);
  if (!got) throw failure('DatabaseQueryFailed', `site ${site.domain} vanished right after being written`);
  return got;
}

function toRecord(r: RowDataPacket): SiteRecord {
  return {
    domain: String(r.domain),
    database: String(r.db_name),
    filesPath: String(r.files_path),
    storageHost: r.storage_host === null ? null : String(r.storage_host),
    status: r.status,
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

export async function markSiteDeleted(galera: GaleraClient, domain: string): Promise<boolean> {
  await ensureRegistry(galera);
  const r = (await galera.query<RowDataPacket[]>(await galera.writerNode(), "UPDATE drover_meta.sites SET status = 'deleted' WHERE domain = ?", [domain])) as unknown as { affectedRows: number };
  return r.affectedRows > 0;
}

const HOLDS_DDL = `CREATE TABLE IF NOT EXISTS drover_meta.retention_holds (
  site VARCHAR(253) NOT NULL,
  holder VARCHAR(255) NOT NULL,
  created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  PRIMARY KEY (site, holder)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;
const holdsEnsured = new WeakSet<GaleraClient>();

async function ensureHolds(galera: GaleraClient): Promise<void> {
  if (holdsEnsured.has(galera)) return;
  await ensureRegistry(galera);
  await galera.query(await galera.writerNode(), HOLDS_DDL);
  holdsEnsured.add(galera);
}

/** Holds retention for a site (e.g. while a restore runs): pruning skips held sites. Idempotent. */
export async function placeHold(galera: GaleraClient, site: string, holder: string): Promise<void> {
  await ensureHolds(galera);
  await galera.query(await galera.writerNode(), 'INSERT IGNORE INTO drover_meta.retention_holds (site, holder) VALUES (?, ?)', [site, holder]);
}

export async function releaseHold(galera: GaleraClient, site: string, holder: string): Promise<void> {
  await ensureHolds(galera);
  await galera.query(await galera.writerNode(), 'DELETE FROM drover_meta.retention_holds WHERE site = ? AND holder = ?', [site, holder]);
}

export async function heldSites(galera: GaleraClient): Promise<Set<string>> {
  await ensureHolds(galera);
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

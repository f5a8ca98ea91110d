/**
 * The record of every site backup outcome (drover_meta.backup_runs), written after each night and read by the
 * metrics endpoint: last complete backup, size, duration and failures per site.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { ensureMetaSchema } from './meta-schema';
import type { GaleraClient } from './clients/galera-client';

export interface BackupOutcome {
  site: string;
  date: string;
  status: 'created' | 'already-complete' | 'failed';
  bytes?: number;
  durationMs?: number;
  error?: string;
}

export async function recordOutcomes(galera: GaleraClient, outcomes: BackupOutcome[]): Promise<void> {
  if (!outcomes.length) return;
  const node = await galera.writerNode();
  await ensureMetaSchema(galera);
  await galera.query(node, 'INSERT INTO drover_meta.backup_runs (site, nominal_date, status, bytes, duration_ms, error) VALUES ?', [
    outcomes.map((o) => [o.site, o.date, o.status, o.bytes ?? null, o.durationMs ?? null, o.error?.slice(0, 1000) ?? null]),
  ]);
}

/**
 * The sites in the order a night should start them: largest first by their last created backup's size (bytes
 * stored, from backup_runs), so the longest backups do not start last and make the night's tail. Sites with no
 * recorded size (new, migrated in, never backed up) come first, in their given order: a migrated site can be the
 * largest of all. Ties keep their given order.
 */
export async function sitesLargestFirst(galera: GaleraClient, sites: string[]): Promise<string[]> {
  if (!sites.length) return [];
  const node = await galera.writerNode();
  await ensureMetaSchema(galera);
  const sizes = new Map<string, number>();
  for (let i = 0; i < sites.length; i += 1000) {
    const rows = await galera.query<RowDataPacket[]>(
      node,
      `SELECT site, bytes FROM (
         SELECT site, bytes, ROW_NUMBER() OVER (PARTITION BY site ORDER BY recorded_at DESC) AS n
         FROM drover_meta.backup_runs WHERE site IN (?) AND status = 'created' AND bytes IS NOT NULL) last
       WHERE n = 1`,
      [sites.slice(i, i + 1000)],
    );
    for (const r of rows) sizes.set(String(r.site), Number(r.bytes));
  }
  return orderLargestFirst(sites, sizes);
}

/** Largest first by `sizes`; sites without a size first; ties and unknowns in their given order; duplicates once. */
export function orderLargestFirst(sites: string[], sizes: ReadonlyMap<string, number>): string[] {
  const unique = [...new Set(sites)];
  const at = new Map(unique.map((s, i) => [s, i]));
  const size = (s: string) => sizes.get(s) ?? Number.POSITIVE_INFINITY;
  return unique.sort((a, b) => (size(a) === size(b) ? at.get(a)! - at.get(b)! : size(b) > size(a) ? 1 : -1));
}

export interface SiteBackupHealth {
  site: string;
  lastCompleteAt: Date | null;
  lastBytes: number | null;
  previousBytes: number | null;
  lastDurationMs: number | null;
  failures: number;
  lastFailedAt: Date | null;
}

/** Per registered site: when its last backup completed, its size (and the one before), and failures. */
export async function backupHealth(galera: GaleraClient): Promise<SiteBackupHealth[]> {
  const node = await galera.writerNode();
  await ensureMetaSchema(galera);
  const rows = await galera.query<RowDataPacket[]>(
    node,
    `SELECT s.domain AS site,
       (SELECT MAX(r.recorded_at) FROM drover_meta.backup_runs r WHERE r.site = s.domain AND r.status = 'created') AS last_complete_at,
       (SELECT r.bytes FROM drover_meta.backup_runs r WHERE r.site = s.domain AND r.status = 'created' ORDER BY r.recorded_at DESC LIMIT 1) AS last_bytes,
       (SELECT r.bytes FROM drover_meta.backup_runs r WHERE r.site = s.domain AND r.status = 'created' ORDER BY r.recorded_at DESC LIMIT 1 OFFSET 1) AS previous_bytes,
       (SELECT r.duration_ms FROM drover_meta.backup_runs r WHERE r.site = s.domain AND r.status = 'created' ORDER BY r.recorded_at DESC LIMIT 1) AS last_duration_ms,
       (SELECT COUNT(*) FROM drover_meta.backup_runs r WHERE r.site = s.domain AND r.status = 'failed') AS failures,
       (SELECT MAX(r.recorded_at) FROM drover_meta.backup_runs r WHERE r.site = s.domain AND r.status = 'failed') AS last_failed_at
     FROM drover_meta.sites s WHERE s.status <> 'deleted' ORDER BY s.domain`,
  );
  const num = (v: unknown) => (v === null || v === undefined ? null : Number(v));
  return rows.map((r) => ({
    site: String(r.site),
    lastCompleteAt: r.last_complete_at ? new Date(r.last_complete_at) : null,
    lastBytes: num(r.last_bytes),
    previousBytes: num(r.previous_bytes),
    lastDurationMs: num(r.last_duration_ms),
    failures: Number(r.failures),
    lastFailedAt: r.last_failed_at ? new Date(r.last_failed_at) : null,
  }));
}

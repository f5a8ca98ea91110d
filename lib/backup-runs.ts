/**
 * The record of every site backup outcome (drover_meta.backup_runs), written after each night and read by the
 * metrics endpoint: last complete backup, size, duration and failures per site.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { GaleraClient, GaleraNode } from '../activities/lib/galera-client';

export interface BackupOutcome {
  site: string;
  date: string;
  status: 'created' | 'already-complete' | 'failed';
  bytes?: number;
  durationMs?: number;
  error?: string;
}

const DDL = `CREATE TABLE IF NOT EXISTS drover_meta.backup_runs (
  site VARCHAR(253) NOT NULL,
  nominal_date DATE NOT NULL,
  status ENUM('created','already-complete','failed') NOT NULL,
  bytes BIGINT UNSIGNED NULL,
  duration_ms INT UNSIGNED NULL,
  error VARCHAR(1000) NULL,
  recorded_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  PRIMARY KEY (site, nominal_date, recorded_at),
  KEY recorded_at (recorded_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

const ensured = new WeakSet<GaleraClient>();

async function ensureTable(galera: GaleraClient, node: GaleraNode): Promise<void> {
  if (ensured.has(galera)) return;
  await galera.query(node, 'CREATE DATABASE IF NOT EXISTS drover_meta');
  await galera.query(node, DDL);
  ensured.add(galera);
}

export async function recordOutcomes(galera: GaleraClient, outcomes: BackupOutcome[]): Promise<void> {
  if (!outcomes.length) return;
  const node = await galera.writerNode();
  await ensureTable(galera, node);
  await galera.query(node, 'INSERT INTO drover_meta.backup_runs (site, nominal_date, status, bytes, duration_ms, error) VALUES ?', [
    outcomes.map((o) => [o.site, o.date, o.status, o.bytes ?? null, o.durationMs ?? null, o.error?.slice(0, 1000) ?? null]),
  ]);
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
  await ensureTable(galera, node);
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

/**
 * The record of migration waves (issue 16) in drover_meta.migration_waves (migration 18): one row per wave, written
 * by the wave's workflow as it starts and as it ends (the `recordWave` activity on drover-migrate), so that
 * `drover migrate status <wave>` can still say how a wave ended once its workflow's history is gone (the
 * namespace's retention: a day on the dev server). Re-running a wave rewrites its row (the same wave ID resumes).
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { GaleraClient } from './clients/galera-client';
import { ensureMetaSchema } from './meta-schema';

export interface WaveRecord {
  wave: string;
  workflowId: string;
  /** The migration file's digest (the first 16 hex digits of the sha256 of its bytes) the wave was started from. */
  fileDigest: string;
  operator: string;
  /** `running` from the start; `done` or `cancelled` once ended. */
  state: string;
  total: number;
  concurrency: number;
  /** Sites by state (queued, running, migrated, failed, skipped, cancelled). */
  counts: Record<string, number>;
  /** The failed sites with their cause, at the last write. */
  failed: { domain: string; error?: string; attempts: number }[];
  startedAt: string;
  endedAt: string | null;
}

const ts = (iso: string) => iso.replace('T', ' ').replace('Z', '');

/** Writes the wave's row (its start, then its end over it). Idempotent: the same call again writes the same row. */
export async function writeWaveRecord(galera: GaleraClient, r: WaveRecord): Promise<void> {
  await ensureMetaSchema(galera);
  await galera.query(
    await galera.writerNode(),
    `INSERT INTO drover_meta.migration_waves (wave, workflow_id, file_digest, operator, state, total, concurrency, counts, failed, started_at, ended_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE workflow_id = VALUES(workflow_id), file_digest = VALUES(file_digest), operator = VALUES(operator), state = VALUES(state), total = VALUES(total),
       concurrency = VALUES(concurrency), counts = VALUES(counts), failed = VALUES(failed), started_at = VALUES(started_at), ended_at = VALUES(ended_at)`,
    [r.wave, r.workflowId, r.fileDigest, r.operator.slice(0, 255), r.state, r.total, r.concurrency, JSON.stringify(r.counts), JSON.stringify(r.failed.slice(0, 500)), ts(r.startedAt), r.endedAt ? ts(r.endedAt) : null],
  );
}

/** The wave's row, or null when no wave of that name was ever recorded. */
export async function readWaveRecord(galera: GaleraClient, wave: string): Promise<WaveRecord | null> {
  await ensureMetaSchema(galera);
  const [row] = await galera.query<RowDataPacket[]>(await galera.writerNode(), 'SELECT * FROM drover_meta.migration_waves WHERE wave = ?', [wave]);
  if (!row) return null;
  const iso = (d: unknown) => (d instanceof Date ? d.toISOString() : new Date(`${String(d).replace(' ', 'T')}Z`).toISOString());
  return {
    wave: String(row.wave), workflowId: String(row.workflow_id), fileDigest: String(row.file_digest), operator: String(row.operator), state: String(row.state),
    total: Number(row.total), concurrency: Number(row.concurrency), counts: JSON.parse(String(row.counts)) as Record<string, number>,
    failed: JSON.parse(String(row.failed)) as WaveRecord['failed'], startedAt: iso(row.started_at), endedAt: row.ended_at === null ? null : iso(row.ended_at),
  };
}

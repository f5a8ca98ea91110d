/**
 * The record of restore drills (drover_meta.restore_drills): one row per site per drill, written when a drill
 * ends and read by the metrics endpoint (last drill time, pass/fail, RTO). Kept in the farm's own database so
 * every backup worker serves the same figures and a restart loses nothing.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { ensureMetaSchema } from './meta-schema';
import type { GaleraClient } from './clients/galera-client';

export interface DrillSiteResult {
  site: string;
  /** The restore point restored (empty when the drill failed before choosing one). */
  point: string;
  passed: boolean;
  rtoMs: number;
  /** The step that failed and why, when it failed. */
  error?: string;
}

/** Records a drill's results; a retried activity overwrites the same rows (idempotent). */
export async function recordDrill(galera: GaleraClient, drillId: string, results: DrillSiteResult[]): Promise<void> {
  if (!results.length) return;
  await ensureMetaSchema(galera);
  await galera.query(
    await galera.writerNode(),
    `INSERT INTO drover_meta.restore_drills (drill_id, site, point, passed, rto_ms, error) VALUES ?
     ON DUPLICATE KEY UPDATE point = VALUES(point), passed = VALUES(passed), rto_ms = VALUES(rto_ms), error = VALUES(error), recorded_at = CURRENT_TIMESTAMP(3)`,
    [results.map((r) => [drillId, r.site, r.point, r.passed ? 1 : 0, Math.max(0, Math.round(r.rtoMs)), r.error?.slice(0, 1000) ?? null])],
  );
}

export interface LastDrill {
  drillId: string;
  at: Date;
  sites: { site: string; passed: boolean; rtoMs: number; error: string | null }[];
}

/** The most recent drill (the one whose last row was recorded last), or null before the first drill. */
export async function lastDrill(galera: GaleraClient): Promise<LastDrill | null> {
  await ensureMetaSchema(galera);
  const node = await galera.writerNode();
  const [latest] = await galera.query<RowDataPacket[]>(node, 'SELECT drill_id, MAX(recorded_at) AS at FROM drover_meta.restore_drills GROUP BY drill_id ORDER BY at DESC LIMIT 1');
  if (!latest) return null;
  const rows = await galera.query<RowDataPacket[]>(node, 'SELECT site, passed, rto_ms, error FROM drover_meta.restore_drills WHERE drill_id = ? ORDER BY site', [latest.drill_id]);
  return {
    drillId: String(latest.drill_id),
    at: new Date(latest.at),
    sites: rows.map((r) => ({ site: String(r.site), passed: Boolean(r.passed), rtoMs: Number(r.rto_ms), error: r.error === null ? null : String(r.error) })),
  };
}

/**
 * Farm recoveries' finished sites (drover_meta.restore_farm_sites): one row per recovery and site, written when the
 * site's restore completes. Resuming a recovery skips the recorded sites, so it does not depend on the Temporal
 * namespace still holding the completed child runs (their retention may be shorter than an outage).
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { GaleraClient } from './clients/galera-client';
import { ensureMetaSchema } from './meta-schema';

export interface FarmSiteRecord {
  site: string;
  point: string;
  rtoMs: number;
}

/** Records a finished site (a retried activity overwrites the same row). */
export async function recordFarmSite(galera: GaleraClient, farmId: string, r: FarmSiteRecord): Promise<void> {
  await ensureMetaSchema(galera);
  await galera.query(
    await galera.writerNode(),
    `INSERT INTO drover_meta.restore_farm_sites (farm_id, site, point, rto_ms) VALUES (?, ?, ?, ?)
     ON DUPLICATE KEY UPDATE point = VALUES(point), rto_ms = VALUES(rto_ms), finished_at = CURRENT_TIMESTAMP(3)`,
    [farmId, r.site, r.point, Math.max(0, Math.round(r.rtoMs))],
  );
}

/** The sites a recovery has finished, by site. */
export async function farmSitesDone(galera: GaleraClient, farmId: string): Promise<FarmSiteRecord[]> {
  await ensureMetaSchema(galera);
  const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), 'SELECT site, point, rto_ms FROM drover_meta.restore_farm_sites WHERE farm_id = ? ORDER BY site', [farmId]);
  return rows.map((r) => ({ site: String(r.site), point: String(r.point), rtoMs: Number(r.rto_ms) }));
}

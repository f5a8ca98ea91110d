/**
 * One restore per site at a time, whatever started it (an operator, the weekly drill, a farm recovery: three
 * workflow ID schemes that never collide in Temporal): a row per restored target in `drover_meta.restore_locks`,
 * taken first by the restore workflow and released when it ends (completed, failed or cancelled). A row, not a
 * Temporal ID, because the three schemes cannot see each other; the writer node serialises the inserts.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { GaleraClient } from './clients/galera-client';
import { ensureMetaSchema } from './meta-schema';
import { fnv1a64 } from './hash';

/**
 * A holder (a workflow ID) as the 255-character holder columns keep it: itself when it fits, else its head and a
 * 64-bit hash of the whole. A restore of a 253-character domain has a longer ID (`restore/<site>/<point>`), which
 * INSERT IGNORE would cut silently: its own lock would then look held by someone else, its hold never released.
 */
export function storedHolder(holder: string): string {
  return holder.length <= 255 ? holder : `${holder.slice(0, 238)}~${fnv1a64(holder)}`;
}

export interface RestoreLock {
  site: string;
  holder: string;
  since: string;
}

/**
 * Takes the lock for `site` for `holder` (a workflow ID); taking it again for the same holder is harmless (a
 * retried activity). Returns the lock as it stands: held by someone else when `holder` differs.
 */
export async function acquireRestoreLock(galera: GaleraClient, site: string, holder: string): Promise<RestoreLock> {
  await ensureMetaSchema(galera);
  const node = await galera.writerNode();
  const mine = storedHolder(holder);
  await galera.query(node, 'INSERT IGNORE INTO drover_meta.restore_locks (site, holder) VALUES (?, ?)', [site, mine]);
  const rows = await galera.query<RowDataPacket[]>(node, 'SELECT holder, acquired_at FROM drover_meta.restore_locks WHERE site = ?', [site]);
  if (!rows.length) throw new Error(`restore lock of ${site} vanished while being taken`);
  return { site, holder: String(rows[0].holder) === mine ? holder : String(rows[0].holder), since: new Date(rows[0].acquired_at as Date).toISOString() };
}

/** Releases the lock if `holder` has it (never someone else's). */
export async function releaseRestoreLock(galera: GaleraClient, site: string, holder: string): Promise<{ released: boolean }> {
  await ensureMetaSchema(galera);
  const r = (await galera.query(await galera.writerNode(), 'DELETE FROM drover_meta.restore_locks WHERE site = ? AND holder = ?', [site, storedHolder(holder)])) as unknown as { affectedRows: number };
  return { released: r.affectedRows > 0 };
}

/** Every lock held now. */
export async function restoreLocks(galera: GaleraClient): Promise<RestoreLock[]> {
  await ensureMetaSchema(galera);
  const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), 'SELECT site, holder, acquired_at FROM drover_meta.restore_locks ORDER BY site');
  return rows.map((r) => ({ site: String(r.site), holder: String(r.holder), since: new Date(r.acquired_at as Date).toISOString() }));
}

/**
 * Leases that keep the garbage collection of deduplicated file data (packs) away from the nights and restores
 * that may refer to it. A night reads which packs exist when it starts and may refer to any of them until it
 * writes its own references at the end; a restore reads packs a point refers to. Collection deletes packs no
 * point's references name, so it must never run beside either.
 *
 * The protocol is insert-then-check on one writer node (so every statement sees every earlier one): each side
 * first inserts its lease, then looks for the other side's. Whichever inserts second sees the first, so the two
 * never both go ahead: a collection that sees a night, a restore or a retention hold skips the site (the next
 * night collects); a night or restore that sees a collection gives up its lease and fails with `BackupBusy`
 * (transient: the activity retries once the collection, a few seconds of listing and deleting, is done). Leases
 * expire, so one left by a killed worker holds nothing back for longer than its TTL; the holder renews it while
 * working.
 */
import type { ResultSetHeader, RowDataPacket } from 'mysql2/promise';
import type { GaleraClient } from './clients/galera-client';
import { failure } from './clients/errors';
import { ensureMetaSchema } from './meta-schema';

export type LeaseKind = 'night' | 'restore' | 'collect';

/** A night's or a restore's lease; renewed while it works, so a few minutes of silence mean its holder is gone. */
export const WORK_LEASE_TTL_MS = 30 * 60_000;
/** A collection's lease (listing and deleting one site's packs takes seconds). */
export const COLLECT_LEASE_TTL_MS = 10 * 60_000;

export interface Lease {
  id: number;
  site: string;
  kind: LeaseKind;
}

async function insertLease(galera: GaleraClient, site: string, kind: LeaseKind, holder: string, ttlMs: number): Promise<Lease> {
  await ensureMetaSchema(galera);
  const r = (await galera.query(await galera.writerNode(), 'INSERT INTO drover_meta.backup_leases (site, kind, holder, expires_at) VALUES (?, ?, ?, NOW(3) + INTERVAL ? SECOND)', [
    site,
    kind,
    holder.slice(0, 255),
    ttlMs / 1000,
  ])) as unknown as ResultSetHeader;
  return { id: r.insertId, site, kind };
}

/** Unexpired leases (and, for a collection, retention holds) of `site` that conflict with a lease of `kind`. */
async function conflicts(galera: GaleraClient, lease: Lease): Promise<string[]> {
  const node = await galera.writerNode();
  const kinds = lease.kind === 'collect' ? ['night', 'restore'] : ['collect'];
  const rows = await galera.query<RowDataPacket[]>(node, 'SELECT kind, holder FROM drover_meta.backup_leases WHERE site = ? AND kind IN (?) AND expires_at > NOW(3) AND id <> ?', [lease.site, kinds, lease.id]);
  const out = rows.map((r) => `${String(r.kind)} ${String(r.holder)}`);
  if (lease.kind === 'collect') {
    const holds = await galera.query<RowDataPacket[]>(node, 'SELECT holder FROM drover_meta.retention_holds WHERE site = ?', [lease.site]);
    out.push(...holds.map((h) => `hold ${String(h.holder)}`));
  }
  return out;
}

export async function releaseLease(galera: GaleraClient, lease: Lease): Promise<void> {
  await galera.query(await galera.writerNode(), 'DELETE FROM drover_meta.backup_leases WHERE id = ?', [lease.id]);
}

/** Extends a lease by its TTL from now; false when it is gone (expired and removed by someone else). */
export async function renewLease(galera: GaleraClient, lease: Lease, ttlMs: number): Promise<boolean> {
  const r = (await galera.query(await galera.writerNode(), 'UPDATE drover_meta.backup_leases SET expires_at = NOW(3) + INTERVAL ? SECOND WHERE id = ?', [ttlMs / 1000, lease.id])) as unknown as ResultSetHeader;
  return r.affectedRows === 1;
}

/** A night's or restore's lease on a site's packs; `BackupBusy` (transient) while a collection runs there. */
export async function acquireWorkLease(galera: GaleraClient, site: string, kind: 'night' | 'restore', holder: string): Promise<Lease> {
  const lease = await insertLease(galera, site, kind, holder, WORK_LEASE_TTL_MS);
  const busy = await conflicts(galera, lease);
  if (busy.length) {
    await releaseLease(galera, lease);
    throw failure('BackupBusy', `site ${site}: a collection of unreferenced backup data is running (${busy.join(', ')}); retrying when it is done`);
  }
  return lease;
}

/** A collection's lease on a site, or null (nothing inserted) when a night, a restore or a hold is there. */
export async function tryCollectLease(galera: GaleraClient, site: string, holder: string): Promise<{ lease: Lease | null; busy: string[] }> {
  const lease = await insertLease(galera, site, 'collect', holder, COLLECT_LEASE_TTL_MS);
  const busy = await conflicts(galera, lease);
  if (busy.length) {
    await releaseLease(galera, lease);
    return { lease: null, busy };
  }
  return { lease, busy };
}

/** Removes leases that expired (their holders are gone); a collection does it before it looks. */
export async function removeExpiredLeases(galera: GaleraClient): Promise<number> {
  const r = (await galera.query(await galera.writerNode(), 'DELETE FROM drover_meta.backup_leases WHERE expires_at <= NOW(3)')) as unknown as ResultSetHeader;
  return r.affectedRows;
}

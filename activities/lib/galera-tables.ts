/**
 * Reading and guarding a Galera database's tables for the restore and migration activities: its base tables,
 * their checksums and InnoDB ids, the scratch names a swap may use, and the connections an earlier load left.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { scratchNamesProblem } from '../../lib/scratch-names';
import { siteOwning } from '../../lib/site-registry';
import { failure } from '../../lib/clients/errors';
import type { GaleraClient } from '../../lib/clients/galera-client';
import { ident } from './database-programs';
import { withHeartbeat } from './heartbeat';

/** Per-table CHECKSUM TABLE of a database's base tables, by name. */
export type TableChecksums = Record<string, string>;

export async function tablesOf(galera: GaleraClient, database: string): Promise<string[]> {
  const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [database]);
  return rows.map((r) => String(r.TABLE_NAME));
}

/** CHECKSUM TABLE of every base table (heartbeating: a large table takes seconds). */
export async function checksumsOf(galera: GaleraClient, database: string): Promise<TableChecksums> {
  const node = await galera.writerNode();
  const out: TableChecksums = {};
  for (const t of await tablesOf(galera, database)) {
    const [row] = await withHeartbeat(() => ({ phase: 'checksum', table: t }), () => galera.query<RowDataPacket[]>(node, `CHECKSUM TABLE ${ident(database)}.${ident(t)}`));
    out[t] = String(row.Checksum);
  }
  return out;
}

/** Refuses names that could make a swap destroy live data: all three distinct, scratch names owned by no site. */
export async function assertScratchNames(galera: GaleraClient, names: { live: string; staging?: string; previous?: string }): Promise<void> {
  const problem = scratchNamesProblem({ live: names.live, staging: names.staging ?? `${names.live}\0staging`, previous: names.previous ?? `${names.live}\0previous` });
  if (problem) throw failure('InvalidInput', problem);
  for (const scratch of [names.staging, names.previous]) {
    if (!scratch) continue;
    const owner = await siteOwning(galera, { database: scratch });
    if (owner) throw failure('InvalidInput', `refusing to use ${scratch} as a scratch database: it is the live database of site ${owner}`);
  }
}

/**
 * Kills every connection, on any node, whose default database is `database`: the load of an earlier attempt
 * that its worker lost track of (heartbeat timeout, cancellation, crash). Nothing else uses a staging
 * database, and a DROP DATABASE queued behind such a load would stall DDL on the whole cluster (Galera's total
 * order isolation). Galera's applier threads (user `system user`) are not connections and are left alone. Waits
 * until they are gone.
 */
export async function killConnectionsUsing(galera: GaleraClient, database: string): Promise<number> {
  let killed = 0;
  for (let round = 0; round < 60; round++) {
    let found = 0;
    for (const node of await galera.syncedNodes()) {
      const rows = await galera.query<RowDataPacket[]>(node, "SELECT ID, COMMAND FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID() AND USER <> 'system user'", [database]);
      for (const r of rows) {
        found++;
        if (String(r.COMMAND) === 'Killed') continue;
        await galera.query(node, `KILL CONNECTION ${Number(r.ID)}`).catch(() => undefined);
        killed++;
      }
    }
    if (!found) return killed;
    await withHeartbeat(() => ({ phase: 'stop earlier load', database }), () => new Promise((r) => setTimeout(r, 500)));
  }
  throw failure('DatabaseUnavailable', `connections using ${database} did not end after KILL`);
}

/**
 * InnoDB's ids of the tables (and their partitions and full-text indexes) stored under `database` on `node`.
 * RENAME TABLE keeps a table's id, so the ids say which tables a database holds, whatever writes they took since.
 */
export async function innodbTableIds(galera: GaleraClient, node: Awaited<ReturnType<GaleraClient['writerNode']>>, database: string): Promise<string[]> {
  const like = `${database.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;
  const rows = await galera.query<RowDataPacket[]>(node, 'SELECT TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE ?', [like]);
  return rows.map((r) => String(r.TABLE_ID)).sort();
}

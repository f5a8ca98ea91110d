/**
 * Restore activities on the Galera cluster: load a restore point's dump into a staging database, verify it
 * against the manifest, then swap it in: one RENAME TABLE (atomic in MariaDB) moves the base tables, and the
 * triggers, views, routines and events follow by hand (RENAME TABLE cannot carry them). The replaced tables stay
 * in a "previous" database so the swap can be undone. A failed load never touches the live database.
 *
 * Every swap and undo is journaled in drover_meta.database_swaps before it changes anything, so a retry after a
 * crash between any two of its commands finishes it from the journal: the site ends old or new, never a mix.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2/promise';
import { ensureMetaSchema } from '../lib/meta-schema';
import { scratchNamesProblem } from '../lib/scratch-names';
import { siteOwning } from '../lib/site-registry';
import type { ActivityDeps } from '../lib/clients/deps';
import { createPrograms, dropPrograms, ident, readPrograms, requalify, requalifyDumpStream, spawnMariadbLoad, type DatabaseProgram } from './lib/database-programs';
import { decryptObjectTo, withVerifiedObject } from './lib/encrypted-download';
import { loadDumpFile } from './lib/dump-load';
import { failure } from '../lib/clients/errors';
import { faultPoint, stallMs, stallPoint } from './lib/fault-points';
import { writeClientOptionsFile } from './lib/mariadb-options-file';
import type { GaleraClient } from '../lib/clients/galera-client';
import { byteCounter, withHeartbeat } from './lib/heartbeat';

/** Per-table CHECKSUM TABLE of a database's base tables, by name. */
export type TableChecksums = Record<string, string>;

interface SwapJournal {
  staging: string;
  previous: string;
  state: 'recorded' | 'swapped' | 'undoing';
  previousTables: number;
  programs: { restored: DatabaseProgram[]; previous: DatabaseProgram[] };
}

async function tablesOf(galera: GaleraClient, database: string): Promise<string[]> {
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
async function assertScratchNames(galera: GaleraClient, names: { live: string; staging?: string; previous?: string }): Promise<void> {
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
async function killConnectionsUsing(galera: GaleraClient, database: string): Promise<number> {
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
async function innodbTableIds(galera: GaleraClient, node: Awaited<ReturnType<GaleraClient['writerNode']>>, database: string): Promise<string[]> {
  const like = `${database.replace(/[\\%_]/g, (c) => `\\${c}`)}/%`;
  const rows = await galera.query<RowDataPacket[]>(node, 'SELECT TABLE_ID FROM information_schema.INNODB_SYS_TABLES WHERE NAME LIKE ?', [like]);
  return rows.map((r) => String(r.TABLE_ID)).sort();
}

/**
 * Right after the RENAME: each live table must equal its verified staged copy (CHECKSUM TABLE). A busy site may
 * write in the milliseconds between the RENAME and a table's checksum; such a table is accepted only when the live
 * database holds exactly the InnoDB tables that were staged (the RENAME moved the verified tables in, and what
 * differs is the site's own writes since). Anything else fails: live is not what was verified.
 */
async function checkLiveEqualsStaged(galera: GaleraClient, live: string, staged: TableChecksums, stagedIds: string[] | null): Promise<{ tables: number; writtenSinceSwap: string[] }> {
  const node = await galera.writerNode();
  const now = await checksumsOf(galera, live);
  const names = [...new Set([...Object.keys(now), ...Object.keys(staged)])].sort();
  const missing = names.filter((t) => !(t in now) || !(t in staged)).map((t) => (!(t in now) ? `${t} missing` : `${t} not in the restore point`));
  const changed = names.filter((t) => t in now && t in staged && now[t] !== staged[t]);
  const sameTables = stagedIds !== null && stagedIds.length > 0 && JSON.stringify(await innodbTableIds(galera, node, live)) === JSON.stringify(stagedIds);
  if (missing.length || (changed.length && !sameTables)) {
    throw failure('RestoreVerificationFailed', `live ${live} does not equal the verified staging copy: ${[...missing, ...changed.map((t) => `${t} differs`)].join(', ')}`);
  }
  return { tables: names.length, writtenSinceSwap: changed };
}

/** The live database holds exactly the triggers, views, routines and events journaled as restored; returns their count. */
async function checkLivePrograms(galera: GaleraClient, database: string): Promise<number> {
  const journal = await readJournal(galera, database);
  const expected = journal ? journal.programs.restored.map((p) => `${p.kind} ${p.name}: ${requalify(p.create, journal.staging, database, { sqlMode: p.sqlMode })}`).sort() : [];
  const actual = (await readPrograms(galera, await galera.writerNode(), database)).map((p) => `${p.kind} ${p.name}: ${p.create}`).sort();
  const lost = expected.filter((p) => !actual.includes(p)).map((p) => p.slice(0, p.indexOf(':')));
  const extra = actual.filter((p) => !expected.includes(p)).map((p) => p.slice(0, p.indexOf(':')));
  if (lost.length || extra.length) throw failure('RestoreVerificationFailed', `live ${database} programs differ from the restore point: ${[...lost.map((p) => `missing ${p}`), ...extra.map((p) => `unexpected ${p}`)].join(', ')}`);
  return actual.length;
}

async function readJournal(galera: GaleraClient, live: string): Promise<SwapJournal | null> {
  await ensureMetaSchema(galera);
  const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), 'SELECT * FROM drover_meta.database_swaps WHERE live_db = ?', [live]);
  if (!rows.length) return null;
  const r = rows[0];
  return { staging: String(r.staging_db), previous: String(r.previous_db), state: r.state, previousTables: Number(r.previous_tables), programs: JSON.parse(String(r.programs)) };
}

async function setJournalState(galera: GaleraClient, live: string, state: SwapJournal['state']): Promise<void> {
  await galera.query(await galera.writerNode(), 'UPDATE drover_meta.database_swaps SET state = ? WHERE live_db = ?', [state, live]);
}

export function createGaleraRestoreActivities({ galera, s3, bucket, backup }: Pick<ActivityDeps, 'galera' | 's3' | 'bucket' | 'backup'>) {
  return {
    /**
     * Downloads the dump once and checks its SHA-256, stops any earlier attempt's load, then streams the dump
     * decrypted into a fresh staging database, heartbeating with the bytes loaded (and on a timer while one
     * statement runs long).
     */
    async loadDatabaseIntoStaging(input: { key: string; sha256: string; stagingDb: string; liveDb?: string; sourceDb?: string }): Promise<{ bytes: number; tables: number }> {
      if (!backup.identityFile) throw failure('ConfigMissing', 'this worker has no backup identity (DROVER_BACKUP_AGE_IDENTITY_FILE): restores run on restore workers');
      if (input.liveDb) await assertScratchNames(galera, { live: input.liveDb, staging: input.stagingDb });
      const owner = await siteOwning(galera, { database: input.stagingDb });
      if (owner) throw failure('InvalidInput', `refusing to load into ${input.stagingDb}: it is the live database of site ${owner}`);
      const progress = { phase: 'download and verify' };
      // The dump's ciphertext is kept on the worker's disk as it is checked, and that file is what is loaded: SQL runs
      // only once its bytes are the manifest's. Without room for it, checked in one stream and loaded from another
      // (hashed again: an object replaced in between fails the load, and staging is never swapped in).
      const counter = byteCounter();
      // Loaded through kernel pipes (dump-load.ts), its progress the ciphertext read of the checked file's bytes.
      let piped: (() => number | null) | null = null;
      const details = () => (piped ? { ...progress, readBytes: piped() } : { ...progress, loadedBytes: counter.bytes });
      return withHeartbeat(details, () => withVerifiedObject({ s3, bucket, key: input.key, sha256: input.sha256, signal: cancellationSignal(), reserveBytes: backup.spoolReserveBytes }, async ({ bytes, file }) => {
        progress.phase = 'stop earlier load';
        await killConnectionsUsing(galera, input.stagingDb);
        const node = await galera.writerNode();
        await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.stagingDb)}`);
        await galera.query(node, `CREATE DATABASE ${ident(input.stagingDb)} DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
        const options = writeClientOptionsFile(node, galera.credentials, 'drover-load-');
        try {
          progress.phase = 'load';
          if (file && !input.sourceDb) {
            // Nothing to requalify (the manifest says no statement names the backed-up database) and the checked
            // file at hand: loaded without passing through this worker's event loop.
            const load = loadDumpFile({ identityFile: backup.identityFile!, file, key: input.key, database: input.stagingDb, optionsFile: options.file, signal: cancellationSignal(), stallMs: stallMs('loadDatabaseIntoStaging') });
            piped = load.progress;
            await load.done;
            return { bytes, tables: (await tablesOf(galera, input.stagingDb)).length };
          }
          const { client, exit: clientExit } = spawnMariadbLoad(options.file, input.stagingDb);
          // A cancelled or timed-out attempt stops its client at once (the server side is killed by the next attempt).
          const signal = cancellationSignal();
          const stop = () => client.kill('SIGKILL');
          signal.addEventListener('abort', stop, { once: true });
          // Statements qualified with the backed-up database's name must act on staging, never on live.
          const filter = input.sourceDb ? requalifyDumpStream(input.sourceDb, input.stagingDb) : null;
          // The filter refuses a dump it read as ending inside a program or a literal: the load stops, nothing of it kept.
          let refused: Error | undefined;
          filter?.once('error', (err) => {
            refused = err;
            stop();
          });
          const requalified = filter ? counter.pipe(filter) : counter;
          const stall = stallPoint('loadDatabaseIntoStaging');
          (stall ? requalified.pipe(stall) : requalified).pipe(client.stdin);
          try {
            await decryptObjectTo({ s3, bucket, key: input.key, identityFile: backup.identityFile!, sink: counter, sinkExit: clientExit, signal, sha256: input.sha256, file });
            if (refused) throw refused;
          } catch (err) {
            // A failed load stops its client, which would otherwise wait on a stdin nobody writes to any more.
            clientExit.catch(() => undefined);
            stop();
            if (refused) throw failure('BackupCorrupted', `${input.key}: ${refused.message}`);
            throw err;
          } finally {
            signal.removeEventListener('abort', stop);
          }
        } finally {
          options.remove();
        }
        return { bytes, tables: (await tablesOf(galera, input.stagingDb)).length };
      }));
    },

    /**
     * Table list and exact row counts of the staging database must equal the manifest's. Returns each table's
     * checksum: the restore ends by checking the live database still equals what was verified here.
     */
    async verifyStagingDatabase(input: { stagingDb: string; tables: { name: string; rows: number }[] }): Promise<{ tables: number; rows: number; checksums: TableChecksums }> {
      const node = await galera.writerNode();
      const actual = (await tablesOf(galera, input.stagingDb)).sort();
      const expected = input.tables.map((t) => t.name).sort();
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        throw failure('RestoreVerificationFailed', `staging ${input.stagingDb} has tables [${actual.join(', ')}], the manifest lists [${expected.join(', ')}]`);
      }
      let rows = 0;
      for (const t of input.tables) {
        const [c] = await withHeartbeat(() => ({ phase: 'count', table: t.name }), () => galera.query<RowDataPacket[]>(node, `SELECT COUNT(*) AS n FROM ${ident(input.stagingDb)}.${ident(t.name)}`));
        if (Number(c.n) !== t.rows) throw failure('RestoreVerificationFailed', `${input.stagingDb}.${t.name} has ${c.n} rows, the manifest says ${t.rows}`);
        rows += t.rows;
      }
      return { tables: input.tables.length, rows, checksums: await checksumsOf(galera, input.stagingDb) };
    },

    /**
     * Swaps staging in. Journaled first (both sides' triggers, views, routines and events, and the state), then:
     * triggers dropped on both sides (a table with triggers cannot change database), one atomic RENAME TABLE
     * (live tables to `previousDb`, staging tables to live), the restored programs created in live, staging
     * dropped. A retry, after success or after a crash anywhere in between, finishes from the journal.
     */
    async swapDatabase(input: { liveDb: string; stagingDb: string; previousDb: string; checksums?: TableChecksums }): Promise<{ swapped: number; previous: number; compared?: { tables: number; writtenSinceSwap: string[] } }> {
      // The per-table comparison after the RENAME reads every row: heartbeat on a timer so a large site's swap
      // is not taken for a dead worker.
      return withHeartbeat(() => ({ swapping: input.liveDb }), async () => {
        await assertScratchNames(galera, { live: input.liveDb, staging: input.stagingDb, previous: input.previousDb });
        const node = await galera.writerNode();
        let journal = await readJournal(galera, input.liveDb);
        if (journal?.state === 'swapped' && (await tablesOf(galera, input.stagingDb)).length) {
          // A committed restore whose clean-up never ran (its staging was emptied by its RENAME); this is a new one.
          await galera.query(node, "DELETE FROM drover_meta.database_swaps WHERE live_db = ? AND state = 'swapped'", [input.liveDb]);
          journal = null;
        }
        if (journal && (journal.staging !== input.stagingDb || journal.previous !== input.previousDb)) {
          throw failure('InvalidInput', `${input.liveDb} has an unfinished swap with ${journal.staging} / ${journal.previous} (state ${journal.state}): undo or finish that restore first`);
        }
        if (!journal) {
          const staged = await tablesOf(galera, input.stagingDb);
          if (staged.length === 0) return { swapped: 0, previous: (await tablesOf(galera, input.previousDb)).length };
          await galera.query(node, `CREATE DATABASE IF NOT EXISTS ${ident(input.liveDb)} DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
          journal = {
            staging: input.stagingDb,
            previous: input.previousDb,
            state: 'recorded',
            previousTables: (await tablesOf(galera, input.liveDb)).length,
            programs: { restored: await readPrograms(galera, node, input.stagingDb), previous: await readPrograms(galera, node, input.liveDb) },
          };
          await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.previousDb)}`);
          await galera.query(node, `CREATE DATABASE ${ident(input.previousDb)}`);
          faultPoint('swapDatabase:before-journal');
          await galera.query(
            node,
            'INSERT INTO drover_meta.database_swaps (live_db, staging_db, previous_db, state, previous_tables, programs) VALUES (?, ?, ?, ?, ?, ?)',
            [input.liveDb, input.stagingDb, input.previousDb, 'recorded', journal.previousTables, JSON.stringify(journal.programs)],
          );
          faultPoint('swapDatabase:journaled');
        }
        let moved = 0;
        let compared: { tables: number; writtenSinceSwap: string[] } | undefined;
        if (journal.state === 'recorded') {
          const staged = await tablesOf(galera, input.stagingDb);
          if (staged.length) {
            await galera.query(node, `CREATE DATABASE IF NOT EXISTS ${ident(input.previousDb)}`);
            await dropPrograms(galera, node, input.liveDb, 'triggers');
            faultPoint('swapDatabase:live-triggers-dropped');
            await dropPrograms(galera, node, input.stagingDb, 'triggers');
            faultPoint('swapDatabase:staging-triggers-dropped');
            const live = await tablesOf(galera, input.liveDb);
            const renames = [
              ...live.map((t) => `${ident(input.liveDb)}.${ident(t)} TO ${ident(input.previousDb)}.${ident(t)}`),
              ...staged.map((t) => `${ident(input.stagingDb)}.${ident(t)} TO ${ident(input.liveDb)}.${ident(t)}`),
            ];
            const stagedIds = input.checksums ? await innodbTableIds(galera, node, input.stagingDb) : null;
            await galera.query(node, `RENAME TABLE ${renames.join(', ')}`);
            moved = staged.length;
            faultPoint('swapDatabase:renamed');
            // At once, before the site can write much: a failure here is undone like any failed swap.
            if (input.checksums) compared = await checkLiveEqualsStaged(galera, input.liveDb, input.checksums, stagedIds);
          } else if (input.checksums) {
            // Renamed by an attempt that crashed: no ids from before the RENAME, so the checksums must match exactly.
            compared = await checkLiveEqualsStaged(galera, input.liveDb, input.checksums, null);
          }
          await dropPrograms(galera, node, input.liveDb, 'all');
          faultPoint('swapDatabase:live-programs-dropped');
          await createPrograms(galera, node, input.liveDb, journal.programs.restored, input.stagingDb);
          faultPoint('swapDatabase:programs-created');
          if (input.checksums) await checkLivePrograms(galera, input.liveDb);
          await setJournalState(galera, input.liveDb, 'swapped');
          faultPoint('swapDatabase:swapped');
        }
        if (journal.state === 'undoing') throw failure('InvalidInput', `the swap of ${input.liveDb} is being undone: it cannot be redone`);
        await killConnectionsUsing(galera, input.stagingDb);
        await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.stagingDb)}`);
        return { swapped: moved, previous: journal.previousTables, ...(compared ? { compared } : {}) };
      });
    },

    /**
     * Undoes swapDatabase from its journal: the restored tables go to the staging database (dropped by the
     * restore's next compensation), the previous tables and programs come back. Nothing journaled: nothing to
     * undo. Safe to retry after a crash anywhere.
     */
    async undoDatabaseSwap(input: { liveDb: string; previousDb: string }): Promise<{ restored: number }> {
      const journal = await readJournal(galera, input.liveDb);
      if (!journal || journal.previous !== input.previousDb) {
        // Nothing journaled: never swapped, or undone up to its last step (an empty previous database is left).
        if (input.previousDb !== input.liveDb && !(await tablesOf(galera, input.previousDb)).length) {
          await galera.query(await galera.writerNode(), `DROP DATABASE IF EXISTS ${ident(input.previousDb)}`);
        }
        return { restored: 0 };
      }
      await assertScratchNames(galera, { live: input.liveDb, staging: journal.staging, previous: journal.previous });
      const node = await galera.writerNode();
      const renamed = journal.state !== 'recorded' || (await tablesOf(galera, journal.staging)).length === 0;
      if (renamed) {
        if (journal.state !== 'undoing') await setJournalState(galera, input.liveDb, 'undoing');
        faultPoint('undoDatabaseSwap:journaled');
        const previous = await tablesOf(galera, journal.previous);
        const live = await tablesOf(galera, input.liveDb);
        // Not yet moved back: the previous tables are still aside (or, if live had none, the restored ones are live).
        if (previous.length || (journal.previousTables === 0 && live.length)) {
          await galera.query(node, `CREATE DATABASE IF NOT EXISTS ${ident(journal.staging)}`);
          await dropPrograms(galera, node, input.liveDb, 'triggers');
          faultPoint('undoDatabaseSwap:live-triggers-dropped');
          const renames = [
            ...live.map((t) => `${ident(input.liveDb)}.${ident(t)} TO ${ident(journal.staging)}.${ident(t)}`),
            ...previous.map((t) => `${ident(journal.previous)}.${ident(t)} TO ${ident(input.liveDb)}.${ident(t)}`),
          ];
          await galera.query(node, `RENAME TABLE ${renames.join(', ')}`);
          faultPoint('undoDatabaseSwap:renamed');
        }
      }
      await dropPrograms(galera, node, input.liveDb, 'all');
      faultPoint('undoDatabaseSwap:live-programs-dropped');
      await createPrograms(galera, node, input.liveDb, journal.programs.previous, input.liveDb);
      faultPoint('undoDatabaseSwap:programs-created');
      await galera.query(node, 'DELETE FROM drover_meta.database_swaps WHERE live_db = ?', [input.liveDb]);
      faultPoint('undoDatabaseSwap:unjournaled');
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(journal.previous)}`);
      return { restored: journal.previousTables };
    },

    /**
     * After a restore: the database answers as WordPress under the site's table prefix. Errors name every
     * missing table or option.
     */
    async checkWordPressDatabase(input: { database: string; tablePrefix?: string }): Promise<{ siteurl: string; posts: number }> {
      const prefix = input.tablePrefix ?? 'wp_';
      const node = await galera.writerNode();
      const tables = new Set(await tablesOf(galera, input.database));
      const missing = ['options', 'posts'].map((t) => `${prefix}${t}`).filter((t) => !tables.has(t));
      if (missing.length) throw failure('RestoreVerificationFailed', `${input.database} is not a working WordPress database with table prefix "${prefix}": no table ${missing.join(', no table ')}`);
      const url = await galera.query<RowDataPacket[]>(node, `SELECT option_value FROM ${ident(input.database)}.${ident(`${prefix}options`)} WHERE option_name = 'siteurl'`);
      if (!url.length) throw failure('RestoreVerificationFailed', `${input.database}.${prefix}options has no siteurl option: not a working WordPress database`);
      const [posts] = await galera.query<RowDataPacket[]>(node, `SELECT COUNT(*) AS n FROM ${ident(input.database)}.${ident(`${prefix}posts`)}`);
      return { siteurl: String(url[0].option_value), posts: Number(posts.n) };
    },

    /**
     * The last word of a restore: the live database equals the staged copy verified before the swap, table by
     * table (CHECKSUM TABLE), and holds exactly the triggers, views, routines and events that were staged.
     */
    async checkLiveDatabaseMatchesStaged(input: { database: string; checksums: TableChecksums }): Promise<{ tables: number; programs: number }> {
      const live = await checksumsOf(galera, input.database);
      const names = [...new Set([...Object.keys(live), ...Object.keys(input.checksums)])].sort();
      const differ = names.filter((t) => live[t] !== input.checksums[t]).map((t) => (!(t in live) ? `${t} missing` : !(t in input.checksums) ? `${t} not in the restore point` : `${t} differs`));
      if (differ.length) throw failure('RestoreVerificationFailed', `live ${input.database} does not equal the verified staging copy: ${differ.join(', ')}`);
      return { tables: names.length, programs: await checkLivePrograms(galera, input.database) };
    },

    /**
     * Drops a scratch database (staging, previous, drill copies); never a registered site's. Idempotent. Dropping
     * a swap's previous database commits that swap: its journal row goes too.
     */
    async dropDatabase(input: { name: string }): Promise<{ dropped: boolean }> {
      if (!/^[A-Za-z0-9_]{1,64}$/.test(input.name)) throw failure('InvalidInput', `refusing to drop "${input.name}"`);
      const owner = await siteOwning(galera, { database: input.name });
      if (owner) throw failure('InvalidInput', `refusing to drop ${input.name}: it is the live database of site ${owner}`);
      await ensureMetaSchema(galera);
      const node = await galera.writerNode();
      await killConnectionsUsing(galera, input.name);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.name)}`);
      await galera.query(node, "DELETE FROM drover_meta.database_swaps WHERE previous_db = ? AND state = 'swapped'", [input.name]);
      return { dropped: true };
    },
  };
}

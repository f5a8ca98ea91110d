/**
 * Swapping a verified staging database in on the Galera cluster: one RENAME TABLE (atomic in MariaDB) moves the
 * base tables, and the triggers, views, routines and events follow by hand (RENAME TABLE cannot carry them). The
 * replaced tables stay in a "previous" database so the swap can be undone.
 *
 * Every swap and undo is journaled in drover_meta.database_swaps before it changes anything, so a retry after a
 * crash between any two of its commands finishes it from the journal: the site ends old or new, never a mix.
 */
import type { RowDataPacket } from 'mysql2/promise';
import { ensureMetaSchema } from '../lib/meta-schema';
import type { ActivityDeps } from '../lib/clients/deps';
import type { GaleraClient } from '../lib/clients/galera-client';
import { failure } from '../lib/clients/errors';
import { createPrograms, dropPrograms, ident, readPrograms, requalify, type DatabaseProgram } from './lib/database-programs';
import { faultPoint } from './lib/fault-points';
import { assertScratchNames, checksumsOf, innodbTableIds, killConnectionsUsing, tablesOf, type TableChecksums } from './lib/galera-tables';
import { withHeartbeat } from './lib/heartbeat';

interface SwapJournal {
  staging: string;
  previous: string;
  state: 'recorded' | 'swapped' | 'undoing';
  previousTables: number;
  programs: { restored: DatabaseProgram[]; previous: DatabaseProgram[] };
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

export function createGaleraSwapActivities({ galera }: Pick<ActivityDeps, 'galera'>) {
  return {
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
     * The last word of a restore: the live database equals the staged copy verified before the swap, table by
     * table (CHECKSUM TABLE), and holds exactly the triggers, views, routines and events that were staged.
     */
    async checkLiveDatabaseMatchesStaged(input: { database: string; checksums: TableChecksums }): Promise<{ tables: number; programs: number }> {
      // No InnoDB ids to go by this late: every table must match exactly.
      const { tables } = await checkLiveEqualsStaged(galera, input.database, input.checksums, null);
      return { tables, programs: await checkLivePrograms(galera, input.database) };
    },
  };
}

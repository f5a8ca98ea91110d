/**
 * Restore activities on the Galera cluster: load a restore point's dump into a staging database, verify it
 * against the manifest, then swap it in (galera-swap.ts: journaled, undoable; its activities are part of these so
 * every queue that restores registers both). A failed load never touches the live database.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2/promise';
import { ensureMetaSchema } from '../lib/meta-schema';
import { siteOwning } from '../lib/site-registry';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { createGaleraSwapActivities } from './galera-swap';
import { ident, requalifyDumpStream, spawnMariadbLoad } from './lib/database-programs';
import { decryptObjectTo, withVerifiedObject } from './lib/encrypted-download';
import { loadDumpFile } from './lib/dump-load';
import { stallMs, stallPoint } from './lib/fault-points';
import { assertScratchNames, checksumsOf, killConnectionsUsing, tablesOf, type TableChecksums } from './lib/galera-tables';
import { writeClientOptionsFile } from './lib/mariadb-options-file';
import { byteCounter, withHeartbeat } from './lib/heartbeat';

export function createGaleraRestoreActivities({ galera, s3, bucket, backup }: Pick<ActivityDeps, 'galera' | 's3' | 'bucket' | 'backup'>) {
  return {
    ...createGaleraSwapActivities({ galera }),
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
        const options = writeClientOptionsFile(node, galera.credentials, 'load');
        try {
          // The writer lost mid-load (stopped, cut off: GaleraClient.watched): the load's programs are stopped and
          // the step fails DatabaseUnavailable, retried on the next Synced node, instead of waiting on it for good.
          await galera.watched(node, async (lost) => {
            progress.phase = 'load';
            if (file && !input.sourceDb) {
              // Nothing to requalify (the manifest says no statement names the backed-up database) and the checked
              // file at hand: loaded without passing through this worker's event loop.
              const load = loadDumpFile({ identityFile: backup.identityFile!, file, key: input.key, database: input.stagingDb, optionsFile: options.file, signal: AbortSignal.any([cancellationSignal(), lost]), stallMs: stallMs('loadDatabaseIntoStaging') });
              piped = load.progress;
              await load.done;
              return;
            }
            const { client, exit: clientExit } = spawnMariadbLoad(options.file, input.stagingDb);
            // A cancelled or timed-out attempt stops its client at once (the server side is killed by the next attempt).
            const signal = AbortSignal.any([cancellationSignal(), lost]);
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
          });
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

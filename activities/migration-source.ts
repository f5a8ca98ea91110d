/**
 * A migration's old host (issue 15): the pre-flight that looks before anything moves, and the database dump
 * taken there over SSH and loaded into a staging database on the farm. The source is only read: the commands run
 * on it are `cat`, `find`, `sed`, `php -r`, `mysql -e SELECT …` and `mysqldump --single-transaction`; the one
 * write is a cutover's freeze (WordPress's `.maintenance` file in the source's root, removed again after).
 */
import { pipeline } from 'node:stream/promises';
import { cancellationSignal } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2/promise';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { mapDumpDdl, unmappedCollations } from '../lib/dump-collations';
import { wordpressVersionCommand } from '../lib/wp-version-shell';
import { parseWpConfig } from '../lib/wp-config';
import { digestsFrom, PROGRAMS_SQL, TABLE_COLUMNS_SQL, tableDigestSql, type TableDigest } from '../lib/table-digest';
import { ident, requalifier, spawnMariadbLoad } from './lib/database-programs';
import { dumpDdlFilter } from './lib/dump-line-filter';
import { faultPoint } from './lib/fault-points';
import { writeClientOptionsFile } from './lib/mariadb-options-file';
import { byteCounter, withHeartbeat, withProgressWatch } from './lib/heartbeat';
import { clientOptionFile, connectOldHost, querySource, readPasswordFile, shq, withOptionFile, type SourceRef } from './lib/old-host';

/** What marks a `.maintenance` file as Drover's (a cutover's freeze), and the file's content. */
export const MAINTENANCE_MARK = 'drover migration cutover';
const MAINTENANCE_FILE = `<?php /* ${MAINTENANCE_MARK} */ $upgrading = time();`;

export interface SourcePreflight {
  /** The docroot WordPress was found in, and where wp-config.php is (WordPress also looks one folder up). */
  wpConfigPath: string;
  tablePrefix: string;
  wpVersion: string | null;
  phpVersion: string | null;
  files: number;
  bytes: number;
  db: { version: string; charset: string; collation: string; tables: number; rows: number; bytes: number; collations: string[]; toMap: string[] };
  /** The source's `home` option: the URL rewritten when the input names no from_url. */
  home: string | null;
  dumpProgram: string;
}

/** How far a load got, in heartbeats. */
interface LoadProgress {
  phase: string;
  dumpedBytes: number;
}

export function createMigrationSourceActivities({ migrateSsh, galera, stepStallMs }: Pick<ActivityDeps, 'migrateSsh' | 'galera' | 'stepStallMs'>) {
  return {
    /**
     * Looks at the old host without changing it: the password file readable here, SSH reachable, WordPress in
     * source_path (wp-config.php there or one folder up), its table prefix read from wp-config.php (parsed, not
     * run), sizes, the database's version, charset and collations (MySQL 8's to be mapped), PHP's version.
     */
    async preflightMigrationSource(src: SourceRef): Promise<SourcePreflight> {
      const password = await readPasswordFile(src.sourceDbPasswordFile);
      const signal = cancellationSignal();
      return withHeartbeat(() => ({ phase: 'preflight' }), async () => {
        const ssh = await connectOldHost(migrateSsh, src, signal);
        try {
          const p = shq(src.sourcePath);
          const script = [
            `cd ${p} 2>/dev/null || { echo "source_path ${src.sourcePath.replace(/["`$\\]/g, '')} does not exist or cannot be entered" >&2; exit 3; }`,
            'if [ -f wp-config.php ]; then c=wp-config.php; elif [ -f ../wp-config.php ] && [ ! -f ../wp-settings.php ]; then c=../wp-config.php; else echo "no wp-config.php in source_path (nor one folder up): no WordPress there" >&2; exit 4; fi',
            'echo "config=$(cd "$(dirname "$c")" && pwd)/wp-config.php"',
            `echo "wp=$(${wordpressVersionCommand(null)})"`,
            `echo "php=$(php -r 'echo PHP_VERSION;' 2>/dev/null)"`,
            'echo "files=$(find . -type f | wc -l)"',
            "echo \"bytes=$(find . -type f -printf '%s\\n' | awk '{s+=$1} END {printf \"%d\", s}')\"",
            'echo "dump=$(command -v mysqldump || command -v mariadb-dump)"',
            'echo "config64=$(base64 -w0 "$c")"',
          ].join('\n');
          const r = await ssh.exec('sh -s', { stdin: script, signal });
          if (r.code === 3 || r.code === 4) throw failure('MigrationSourceInvalid', r.stderr.trim());
          if (r.code !== 0) throw failure('RemoteCommandFailed', `pre-flight on ${src.ssh.host} exited ${r.code}: ${r.stderr.trim().slice(-300)}`);
          const kv = Object.fromEntries(r.stdout.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
          const config = parseWpConfig(Buffer.from(kv.config64 ?? '', 'base64').toString('utf8'));
          if (!config.tablePrefix) throw failure('MigrationSourceInvalid', `${kv.config}: no literal $table_prefix = '…'; found (a computed prefix is not guessed)`);
          if (!kv.dump) throw failure('MigrationSourceInvalid', `neither mysqldump nor mariadb-dump is installed on ${src.ssh.host}`);
          const prefix = config.tablePrefix;
          const sql = [
            "SELECT 'version', VERSION() UNION ALL SELECT 'charset', @@character_set_database UNION ALL SELECT 'collation', @@collation_database",
            `SELECT 'home', option_value FROM ${ident(prefix + 'options')} WHERE option_name = 'home'`,
            "SELECT 'table', TABLE_NAME, IFNULL(TABLE_ROWS, 0), IFNULL(DATA_LENGTH + INDEX_LENGTH, 0), IFNULL(TABLE_COLLATION, '') FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE'",
            "SELECT DISTINCT 'collation_used', COLLATION_NAME FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND COLLATION_NAME IS NOT NULL",
          ].join(';\n');
          const rows = await querySource(ssh, src, password, sql, signal);
          const get = (k: string) => rows.find((x) => x[0] === k)?.[1] ?? '';
          const tables = rows.filter((x) => x[0] === 'table');
          if (!tables.some((t) => t[1] === `${prefix}options`)) throw failure('MigrationSourceInvalid', `database ${src.sourceDb} has no ${prefix}options table: the prefix in wp-config.php (${prefix}) does not match it`);
          const collations = [...new Set([get('collation'), ...tables.map((t) => t[4]), ...rows.filter((x) => x[0] === 'collation_used').map((x) => x[1])].filter(Boolean))].sort();
          return {
            wpConfigPath: kv.config,
            tablePrefix: prefix,
            wpVersion: kv.wp || null,
            phpVersion: kv.php || null,
            files: Number(kv.files),
            bytes: Number(kv.bytes),
            db: {
              version: get('version'),
              charset: get('charset'),
              collation: get('collation'),
              tables: tables.length,
              rows: tables.reduce((n, t) => n + Number(t[2]), 0),
              bytes: tables.reduce((n, t) => n + Number(t[3]), 0),
              collations,
              toMap: unmappedCollations(collations),
            },
            home: rows.find((x) => x[0] === 'home')?.[1] ?? null,
            dumpProgram: kv.dump,
          };
        } finally {
          ssh.close();
        }
      });
    },

    /**
     * Freezes writes on the source for a cutover's final sync: WordPress's maintenance mode, a `.maintenance` file
     * in the WordPress root (`$upgrading = time()`, so it never goes stale the way a fixed time does after ten
     * minutes). Marked as Drover's, so `unfreezeMigrationSource` removes only its own; an operator's own
     * `.maintenance` is left as it is (and reported). Idempotent.
     */
    async freezeMigrationSource(src: SourceRef): Promise<{ frozen: boolean; operatorsOwn: boolean }> {
      const signal = cancellationSignal();
      const ssh = await connectOldHost(migrateSsh, src, signal);
      try {
        const f = shq(`${src.sourcePath}/.maintenance`);
        const r = await ssh.execOrThrow(`if [ -e ${f} ] && ! grep -q ${shq(MAINTENANCE_MARK)} ${f}; then echo operators; else printf '%s\\n' ${shq(MAINTENANCE_FILE)} > ${f}.drover && mv -f ${f}.drover ${f} && echo frozen; fi`, { signal });
        return { frozen: true, operatorsOwn: r.stdout.trim() === 'operators' };
      } finally {
        ssh.close();
      }
    },

    /** Ends a cutover's freeze: removes the `.maintenance` file if it is Drover's. Idempotent. */
    async unfreezeMigrationSource(src: SourceRef): Promise<{ removed: boolean }> {
      const signal = cancellationSignal();
      const ssh = await connectOldHost(migrateSsh, src, signal);
      try {
        const f = shq(`${src.sourcePath}/.maintenance`);
        const r = await ssh.execOrThrow(`if [ -e ${f} ] && grep -q ${shq(MAINTENANCE_MARK)} ${f}; then rm -f ${f} && echo removed; fi`, { signal });
        return { removed: r.stdout.trim() === 'removed' };
      } finally {
        ssh.close();
      }
    },

    /**
     * The source database's per-table digests (row count and content sum, lib/table-digest.ts) and its triggers,
     * views and routines, read on the old host (SELECTs only): what the migrated site is verified against.
     */
    async sourceDatabaseDigests(src: SourceRef): Promise<{ digests: Record<string, TableDigest>; programs: string[] }> {
      const password = await readPasswordFile(src.sourceDbPasswordFile);
      const signal = cancellationSignal();
      return withHeartbeat(() => ({ phase: 'digest source' }), async () => {
        const ssh = await connectOldHost(migrateSsh, src, signal);
        try {
          const cols = (await querySource(ssh, src, password, TABLE_COLUMNS_SQL, signal)).filter((r) => r[0] === 'columns');
          const sql = [...cols.map((c) => tableDigestSql(c[1], c[2].split(','))), PROGRAMS_SQL].join(';\n');
          const rows = await querySource(ssh, src, password, sql, signal);
          return { digests: digestsFrom(rows), programs: rows.filter((r) => r[0] === 'program').map((r) => `${r[1]} ${r[2]}`) };
        } finally {
          ssh.close();
        }
      });
    },

    /**
     * Dumps the source database on the old host (mysqldump/mariadb-dump --single-transaction, the password in a
     * temporary option file there) and streams it over SSH into `stagingDb` on the farm, MySQL 8 collations
     * mapped on the way. A retry starts the load again from an empty staging database after killing what the
     * previous attempt left running (its client connection on the farm; on the old host its dump dies with the
     * SSH session). Heartbeats with the bytes loaded.
     */
    async loadSourceDatabaseIntoStaging(input: { source: SourceRef; stagingDb: string }): Promise<{ bytes: number; tables: number; mapped: Record<string, number> }> {
      if (!/_drover_stg_/.test(input.stagingDb)) throw failure('InvalidInput', `refusing to load into ${input.stagingDb}: not a staging name`);
      const password = await readPasswordFile(input.source.sourceDbPasswordFile);
      const signal = cancellationSignal();
      const progress: LoadProgress = { phase: 'stop earlier load', dumpedBytes: 0 };
      const node = await galera.writerNode();
      // A previous attempt's client may still be loading: stop it before the database is recreated under it.
      const [others] = await Promise.all([galera.query<RowDataPacket[]>(node, 'SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND ID <> CONNECTION_ID()', [input.stagingDb])]);
      for (const o of others) await galera.query(node, `KILL ${Number(o.ID)}`).catch(() => undefined);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.stagingDb)}`);
      await galera.query(node, `CREATE DATABASE ${ident(input.stagingDb)} DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
      const options = writeClientOptionsFile(node, galera.credentials, 'migrate-load');
      const cnf = options.file;
      const mapped: Record<string, number> = {};
      const ssh = await connectOldHost(migrateSsh, input.source, signal);
      try {
        progress.phase = 'dump and load';
        const args = `--single-transaction --quick --skip-lock-tables --no-tablespaces --routines --triggers --hex-blob --default-character-set=utf8mb4 --skip-comments ${shq(input.source.sourceDb)}`;
        const dump = await ssh.execStream(withOptionFile(['mysqldump', 'mariadb-dump'], args), { stdin: clientOptionFile(input.source, password) });
        const { client, exit: clientExit } = spawnMariadbLoad(cnf, input.stagingDb, ['--default-character-set=utf8mb4']);
        const stop = () => {
          client.kill('SIGKILL');
          ssh.close();
        };
        signal.addEventListener('abort', stop, { once: true });
        const counter = byteCounter();
        let crashArmed = true;
        counter.on('data', () => {
          // Fault injection: dies with the load half done (a test restarts the worker; the retry starts over).
          if (crashArmed && counter.bytes > 16 * 1024) {
            crashArmed = false;
            faultPoint('loadSourceDatabase:loading');
          }
        });
        // DDL lines made loadable on MariaDB, and those naming the source's database (a trigger created as `` `db`.t ``,
        // mariadb-dump's `ALTER DATABASE db`) made to name staging: on the farm that name is nobody's, or another's.
        // Backquoted names only: a legacy database's name is often a word (`shop`), and its bare form cannot be told
        // from a table alias's (`shop.price` of `… FROM products AS shop`); a trigger created as `shop.t` fails the load
        // naming the table, as before, and is never rewritten silently. One requalifier for the dump: it reads it as one
        // text (a string literal may span lines), and rewrites no literal or comment.
        const toStaging = requalifier(input.source.sourceDb, input.stagingDb, { bareNames: false });
        try {
          // The farm's writer lost mid-load (stopped, cut off: GaleraClient.watched): dump and load are stopped and the
          // step fails DatabaseUnavailable, retried on the next Synced node.
          // A dump that gives no byte for the stall bound (the old host's database hung, or its disk, ssh still
          // answering) fails StepStalled, dump and load stopped; once the dump has ended, the load's tail is Galera's.
          let dumped = false;
          void dump.code.then(() => (dumped = true), () => (dumped = true));
          await galera.watched(node, (lost) => {
            lost.addEventListener('abort', stop, { once: true });
            return withHeartbeat(
              () => ({ ...progress, dumpedBytes: counter.bytes }),
              () =>
                withProgressWatch(
                  {
                    moved: () => counter.bytes,
                    // Waiting on the dump: nothing of it left unread, and the load taking what it is given (a
                    // statement Galera is slow to take holds the dump back, which is not the old host's stall).
                    waitingOnRemote: () => dump.stdout.readableLength === 0 && !client.stdin.writableNeedDrain,
                    what: `dumping ${input.source.sourceDb} on ${input.source.ssh.host}:${input.source.ssh.port}`,
                    stop: () => (client.kill('SIGKILL'), ssh.destroy()),
                    stallMs: stepStallMs,
                    streamed: () => dumped,
                  },
                  Promise.all([pipeline(dump.stdout, counter, dumpDdlFilter((l) => toStaging(mapDumpDdl(l, mapped)), toStaging), client.stdin), dump.exit, clientExit]),
                ),
            );
          });
        } finally {
          signal.removeEventListener('abort', stop);
        }
        const [t] = await galera.query<RowDataPacket[]>(node, "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", [input.stagingDb]);
        return { bytes: counter.bytes, tables: Number(t.n), mapped };
      } finally {
        ssh.close();
        options.remove();
      }
    },
  };
}

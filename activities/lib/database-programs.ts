/**
 * A database's stored programs and views (triggers, views, procedures, functions, events): read as the SQL that
 * recreates them, dropped, and created again in another database. A restore moves base tables with RENAME TABLE,
 * which cannot carry these (MariaDB refuses to move a table with triggers, "Trigger in wrong schema", and views,
 * routines and events belong to their database), so the swap journals both sets and moves them by hand.
 *
 * Definitions are read on a connection whose default database is the one read, so MariaDB prints table
 * references without the database name and the SQL recreates the object against whatever database it runs in.
 */
import { Transform } from 'node:stream';
import type { PoolConnection, RowDataPacket } from 'mysql2/promise';
import type { GaleraClient, GaleraNode } from '../../lib/clients/galera-client';
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import { programEnv } from '../../lib/program-env';
import type { Readable, Writable } from 'node:stream';
import { classifyMariadbClientExit } from '../../lib/clients/errors';
import { dumpDdlFilter } from './dump-line-filter';
import { codeOnly, qualifiedNamePatterns, type CodeRewriter } from './qualified-names';
import { killedFailure } from './process-chain';

export type ProgramKind = 'TRIGGER' | 'VIEW' | 'PROCEDURE' | 'FUNCTION' | 'EVENT';

export interface DatabaseProgram {
  kind: ProgramKind;
  name: string;
  /** The statement that creates it, unqualified. */
  create: string;
  sqlMode: string | null;
  charset: string | null;
  collation: string | null;
  timeZone: string | null;
}

export const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

/**
 * Runs `fn` on a connection whose default database is `database`, watched (GaleraClient.onNode); the session is
 * discarded after: its state (default database, sql_mode, time_zone) must not leak to the pool's next user.
 */
export async function onDatabase<T>(galera: GaleraClient, node: GaleraNode, database: string, fn: (conn: PoolConnection) => Promise<T>): Promise<T> {
  return galera.onNode(
    node,
    async (conn) => {
      await conn.query(`USE ${ident(database)}`);
      return fn(conn);
    },
    { discard: true },
  );
}

const LISTS: { kind: ProgramKind; sql: string }[] = [
  // Triggers in the order they fire, so recreating them keeps ACTION_ORDER.
  { kind: 'TRIGGER', sql: 'SELECT TRIGGER_NAME AS name FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY EVENT_OBJECT_TABLE, EVENT_MANIPULATION, ACTION_TIMING, ACTION_ORDER' },
  { kind: 'VIEW', sql: 'SELECT TABLE_NAME AS name FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME' },
  { kind: 'PROCEDURE', sql: "SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'PROCEDURE' ORDER BY ROUTINE_NAME" },
  { kind: 'FUNCTION', sql: "SELECT ROUTINE_NAME AS name FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? AND ROUTINE_TYPE = 'FUNCTION' ORDER BY ROUTINE_NAME" },
  { kind: 'EVENT', sql: 'SELECT EVENT_NAME AS name FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME' },
];

const CREATE_COLUMN: Record<ProgramKind, string> = { TRIGGER: 'SQL Original Statement', VIEW: 'Create View', PROCEDURE: 'Create Procedure', FUNCTION: 'Create Function', EVENT: 'Create Event' };

/** Every trigger, view, routine and event of `database`, as SQL that recreates it. */
export async function readPrograms(galera: GaleraClient, node: GaleraNode, database: string): Promise<DatabaseProgram[]> {
  return onDatabase(galera, node, database, async (conn) => {
    const out: DatabaseProgram[] = [];
    for (const { kind, sql } of LISTS) {
      const [names] = await conn.query<RowDataPacket[]>(sql, [database]);
      for (const { name } of names) {
        const [[row]] = await conn.query<RowDataPacket[]>(`SHOW CREATE ${kind} ${ident(String(name))}`);
        const create = row[CREATE_COLUMN[kind]];
        // A routine whose body this user may not read shows NULL: restoring it would silently lose it.
        if (typeof create !== 'string' || !create) throw new Error(`cannot read the definition of ${kind.toLowerCase()} ${database}.${name}: the restore user needs SHOW CREATE ROUTINE (or SELECT on mysql.proc)`);
        out.push({
          kind,
          name: String(name),
          create,
          sqlMode: row.sql_mode ?? null,
          charset: row.character_set_client ?? null,
          collation: row.collation_connection ?? null,
          timeZone: row.time_zone ?? null,
        });
      }
    }
    return out;
  });
}

/** Drops every trigger (or, with `all`, every trigger, view, routine and event) of `database`. Idempotent. */
export async function dropPrograms(galera: GaleraClient, node: GaleraNode, database: string, which: 'triggers' | 'all'): Promise<number> {
  return onDatabase(galera, node, database, async (conn) => {
    let dropped = 0;
    for (const { kind, sql } of which === 'all' ? LISTS : LISTS.slice(0, 1)) {
      const [names] = await conn.query<RowDataPacket[]>(sql, [database]);
      for (const { name } of names) {
        await conn.query(`DROP ${kind} IF EXISTS ${ident(String(name))}`);
        dropped++;
      }
    }
    return dropped;
  });
}

const CREATE_ORDER: ProgramKind[] = ['FUNCTION', 'PROCEDURE', 'VIEW', 'TRIGGER', 'EVENT'];

/**
 * Creates `programs`, read from database `readFrom`, in `database` (references qualified with `readFrom` now
 * name `database`; each dropped first if it exists, so a retry is harmless), with the
 * sql_mode and time zone they were defined under. Views may use each other: they are created in
 * passes until none is left or a pass makes no progress (then the first error is the answer).
 */
export async function createPrograms(galera: GaleraClient, node: GaleraNode, database: string, programs: DatabaseProgram[], readFrom: string): Promise<number> {
  return onDatabase(galera, node, database, async (conn) => {
    const create = async (p: DatabaseProgram) => {
      await conn.query(`DROP ${p.kind} IF EXISTS ${ident(p.name)}`);
      if (p.sqlMode !== null) await conn.query('SET SESSION sql_mode = ?', [p.sqlMode]);
      // Not character_set_client: the text reaches us, and goes back, as utf8mb4; setting the original (often
      // utf8mb3) would mangle what it cannot encode.
      if (p.timeZone) await conn.query('SET SESSION time_zone = ?', [p.timeZone]);
      await conn.query(requalify(p.create, readFrom, database, { sqlMode: p.sqlMode }));
    };
    for (const kind of CREATE_ORDER) {
      let pending = programs.filter((p) => p.kind === kind);
      while (pending.length) {
        const failed: { p: DatabaseProgram; err: unknown }[] = [];
        for (const p of pending) await create(p).catch((err: unknown) => failed.push({ p, err }));
        if (failed.length === pending.length) throw failed[0].err;
        pending = failed.map((f) => f.p);
      }
    }
    return programs.length;
  });
}

/** A stable text per object for comparing two databases' programs (definer and body included). */
export function programKey(p: DatabaseProgram): string {
  return `${p.kind} ${p.name}`;
}

/**
 * Rewrites references qualified with database `from` (`` `from`.x `` or `from.x`), and an `ALTER DATABASE` of it,
 * to database `to` (qualified-names.ts), in the statements' code only: never inside a string literal or a comment
 * (`'https://from.example.com'` stays as written; qualified-names.ts `codeOnly`). Trigger and routine definitions
 * keep the text they were written with, so one written as `CREATE TRIGGER shop.t … ON shop.posts` would otherwise
 * land in (or act on) the live database when loaded into staging or moved; mariadb-dump's `ALTER DATABASE` around a
 * program whose collation is not the database's default would change the live database's default. `bareNames:
 * false` leaves `from.x` unquoted alone (a migration's legacy names are often words, as table aliases are); a bare
 * name inside a quoted name (a view's column `` `count(from.t.id)` ``) is never rewritten. `sqlMode`: the one the
 * text was defined under (how its strings read: qualified-names.ts sqlLexMode). Given a dump line by line, use one
 * `requalifier` for the whole dump: a string literal may span lines, and the dump's own `SET sql_mode` lines say
 * how each program reads.
 */
export function requalifier(from: string, to: string, o: { bareNames?: boolean; sqlMode?: string | null } = {}): CodeRewriter {
  if (from === to) return codeOnly((code) => code, o);
  const { quoted, bare, alter } = qualifiedNamePatterns(from);
  // A bare name only outside quoted names (each quoted name matched first, and kept): a view's column named
  // `count(shop.p.id)` keeps its name.
  const bareOutsideNames = (ansiQuotes: boolean) => new RegExp(`(\`(?:[^\`]|\`\`)*\`${ansiQuotes ? '|"(?:[^"]|"")*"' : ''})|${bare.source}`, 'g');
  const bareIn = { plain: bareOutsideNames(false), ansi: bareOutsideNames(true) };
  return codeOnly((code, mode) => {
    const quotedDone = code.replace(quoted, `${ident(to)}.`);
    const bareDone = o.bareNames === false ? quotedDone : quotedDone.replace(mode.ansiQuotes ? bareIn.ansi : bareIn.plain, (m, name?: string) => name ?? `${ident(to)}.`);
    return bareDone.replace(alter, (_m, head: string) => `${head}${ident(to)}`);
  }, o);
}

/** `requalifier` for one whole statement's text (`sqlMode`: the one it was defined under). */
export function requalify(sqlText: string, from: string, to: string, o: { bareNames?: boolean; sqlMode?: string | null } = {}): string {
  return requalifier(from, to, o)(sqlText);
}

/**
 * A stream filter over a mariadb-dump that requalifies `from` to `to` in its statements but never in its data:
 * an INSERT's lines, from `INSERT INTO ` to the `;` that ends it, pass through untouched and unbuffered
 * (dumpDdlFilter); the few other lines (DDL, triggers, routines) are rewritten.
 */
export function requalifyDumpStream(from: string, to: string): Transform {
  const rewrite = requalifier(from, to);
  return dumpDdlFilter(rewrite, rewrite);
}

/**
 * The end of a MariaDB client's stderr for a failure message, without the site data its errors quote: a syntax
 * error's `near '…'` (the statement's text, values included), a duplicate's `entry '…'`, an incorrect value's
 * `value: '…'`. Such messages reach the worker's log in plain text (only histories are encrypted), and the rows they
 * quote may hold password hashes, keys or e-mail addresses. Names of tables, keys and columns are kept.
 */
export function clientErrorText(stderr: string, max = 300): string {
  return stderr
    .trim()
    .replace(/(near )'[\s\S]*?'( at line \d+)/g, "$1'…'$2")
    .replace(/(Duplicate entry )'[\s\S]*?'( for key)/g, "$1'…'$2")
    .replace(/(value: )'[\s\S]*?'( for column)/g, "$1'…'$2")
    // A quote the message was cut inside (or that the patterns above did not close): nothing after it is kept.
    .replace(/(near |Duplicate entry |value: )'(?!…')[^\n]*$/gm, "$1'…'")
    .slice(-max);
}

/**
 * A `mariadb` client loading `database` from its stdin (binary mode, no reconnect: a lost connection fails the
 * load instead of resuming it half-way). `exit` settles when it ends; a non-zero exit names the database and the
 * client's last error; a client killed by a signal (the OOM killer; the caller's own kill comes after its first
 * failure, which is the one reported) WorkerProcessKilled. A client that dies closes its stdin: `exit` reports
 * that, not an EPIPE on the writer.
 */
export function spawnMariadbLoad(optionsFile: string, database: string, extraArgs: string[] = []): { client: ChildProcessByStdio<Writable, null, Readable>; exit: Promise<void> } {
  const client = spawn('mariadb', [`--defaults-extra-file=${optionsFile}`, '--binary-mode', '--skip-reconnect', ...extraArgs, database], { stdio: ['pipe', 'ignore', 'pipe'], env: programEnv() });
  let err = '';
  client.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  const exit = new Promise<void>((resolve, reject) =>
    client.once('close', (code, signal) =>
      code === 0 ? resolve() : reject(killedFailure('mariadb', { code, signal }, `loading ${database}`) ?? classifyMariadbClientExit(err, `loading ${database} failed: ${clientErrorText(err) || `mariadb exited ${code}`}`)),
    ),
  );
  client.stdin.on('error', () => undefined);
  return { client, exit };
}

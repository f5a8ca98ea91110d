/**
 * References qualified with a database's name, as a restore must rewrite them when it loads a dump under another
 * name: `` `db`.x `` (or `"db".x`, under ANSI_QUOTES) or `db.x` (not part of a longer name), and `` ALTER DATABASE `db` ``, which mariadb-dump writes
 * around a trigger, routine or event whose database collation is not the database's default now (to create it
 * under its own, then to set the default back). One definition for the rewrite (database-programs.ts
 * `requalify`) and for the backup's test of whether a dump has any such statement (dump-row-counter.ts).
 */

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The two forms of a reference qualified with `db` (each match ends with the `.`), and an `ALTER DATABASE` (or
 * `SCHEMA`) of `db` (its first group the words before the name), as global patterns.
 */
export function qualifiedNamePatterns(db: string): { quoted: RegExp; bare: RegExp; alter: RegExp } {
  const quotedName = `\`${escapeRegExp(db.replace(/`/g, '``'))}\``;
  // Double-quoted, a name only under ANSI_QUOTES: elsewhere a string, which codeOnly never gives a rewrite.
  const ansiName = `"${escapeRegExp(db.replace(/"/g, '""'))}"`;
  return {
    quoted: new RegExp(`(?:${quotedName}|${ansiName})\\s*\\.`, 'g'),
    bare: new RegExp(`(?<![\\w$\`.])${escapeRegExp(db)}\\s*\\.(?=[\\w$\`])`, 'g'),
    // The keywords in either case (mariadb-dump writes them upper case), the name exactly: names are case-sensitive.
    alter: new RegExp(`(\\b(?:ALTER|alter)\\s+(?:DATABASE|SCHEMA|database|schema)\\s+)(?:${quotedName}|${escapeRegExp(db)}(?![\\w$]))`, 'g'),
  };
}

/** A test of whether a statement's text names `db` as `requalify` finds it: what it would rewrite. */
export function namesDatabaseTest(db: string): (text: string) => boolean {
  const tests = Object.values(qualifiedNamePatterns(db)).map((p) => new RegExp(p.source, p.flags.replace('g', '')));
  return (text) => tests.some((t) => t.test(text));
}

/** How a program's sql_mode has its text read: `\` an escape in a string or not, `"…"` a string or a name. */
export interface SqlLexMode {
  backslashEscapes: boolean;
  ansiQuotes: boolean;
}

/**
 * The lexing an sql_mode gives (null or empty: the server's default, `\` an escape, `"…"` a string). ANSI_QUOTES
 * also comes with the combination modes that include it.
 */
export function sqlLexMode(sqlMode: string | null | undefined): SqlLexMode {
  const flags = new Set((sqlMode ?? '').toUpperCase().split(',').map((f) => f.trim()));
  return {
    backslashEscapes: !flags.has('NO_BACKSLASH_ESCAPES'),
    ansiQuotes: ['ANSI_QUOTES', 'ANSI', 'DB2', 'MAXDB', 'MSSQL', 'ORACLE', 'POSTGRESQL'].some((f) => flags.has(f)),
  };
}

/**
 * mariadb-dump's lines that set the sql_mode the next statements are read under: the header's
 * `/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='…' *\/;` and, around each program, `/*!50003 SET sql_mode = '…'
 * *\/ ;` then `= @saved_sql_mode` (a variable: back to the dump's own, taken as the default here).
 */
const DUMP_SQL_MODE = /^\/\*!\d+\s+SET\s+(?:@\w+\s*=\s*@@\w+\s*,\s*)?sql_mode\s*=\s*(?:'([^']*)'|@)/i;

type Lexed = 'code' | 'string' | 'name' | 'line comment' | 'block comment';

/**
 * Rewrites SQL text given piece by piece; says whether what it was given so far ends in code, or inside a literal, a
 * quoted name or a block comment (`unfinished`: a whole dump never ends so); `resync` reads on from code (a dump's
 * top-level `DELIMITER` line, which no literal spans).
 */
export type CodeRewriter = ((text: string) => string) & { inCode: () => boolean; unfinished: () => boolean; resync: () => void };

/**
 * A rewriter of SQL text that applies `rewrite` to its code only: string literals and comments (`#`, `-- `,
 * `/* … *\/`) pass through as they are. Names in quotes and executable comments (`/*!50003 … *\/`, `/*M!100100 …
 * *\/`, which the server runs) are code; `rewrite` is told the mode, to tell names from the rest. Strings are read
 * as `sqlMode` says (sqlLexMode: `\` an escape unless NO_BACKSLASH_ESCAPES; `"…"` a name under ANSI_QUOTES, else a
 * string; doubled quotes always). Where it is in the text carries from one call to the next, so a dump given line
 * by line is read as one text (a trigger's string literal may span lines); a dump line that sets the sql_mode
 * (DUMP_SQL_MODE) sets it for what follows. A line that starts with `DELIMITER` inside a literal or a comment is part of
 * it, as the mariadb client reads it (dumpDdlFilter asks `inCode()` to tell, and `resync()`s at a top-level one).
 */
export function codeOnly(rewrite: (code: string, mode: SqlLexMode) => string, o: { sqlMode?: string | null } = {}): CodeRewriter {
  const initial = sqlLexMode(o.sqlMode);
  let mode = initial;
  let state: Lexed = 'code';
  // The quote that ends the string or name being read.
  let closer = '';
  const rewriter = (text: string) => {
    if (state === 'code') {
      const set = DUMP_SQL_MODE.exec(text);
      if (set) mode = set[1] === undefined ? initial : sqlLexMode(set[1]);
    }
    let out = '';
    // The start of the run not yet written out: code while state is code or a name, else a literal or a comment.
    let run = 0;
    const code = (end: number) => {
      out += rewrite(text.slice(run, end), mode);
      run = end;
    };
    const other = (end: number) => {
      out += text.slice(run, end);
      run = end;
    };
    for (let i = 0; i < text.length; i++) {
      const c = text[i];
      switch (state) {
        case 'code':
          if (c === '`' || (c === '"' && mode.ansiQuotes)) [state, closer] = ['name', c];
          else if (c === "'" || c === '"') {
            code(i);
            [state, closer] = ['string', c];
          } else if (c === '#' || (c === '-' && text[i + 1] === '-' && /^[\x00-\x20]?$/.test(text[i + 2] ?? ''))) {
            code(i);
            state = 'line comment';
          } else if (c === '/' && text[i + 1] === '*' && text[i + 2] !== '!' && !(text[i + 2] === 'M' && text[i + 3] === '!')) {
            code(i);
            state = 'block comment';
            i++;
          }
          break;
        case 'string':
          if (c === '\\' && mode.backslashEscapes) i++;
          else if (c === closer) {
            other(i + 1);
            state = 'code';
          }
          break;
        case 'name':
          if (c === closer) state = 'code';
          break;
        case 'line comment':
          if (c === '\n') {
            other(i + 1);
            state = 'code';
          }
          break;
        case 'block comment':
          if (c === '*' && text[i + 1] === '/') {
            other(i + 2);
            state = 'code';
            i++;
          }
          break;
      }
    }
    if (state === 'code' || state === 'name') code(text.length);
    else other(text.length);
    return out;
  };
  return Object.assign(rewriter, {
    inCode: () => state === 'code',
    unfinished: () => state === 'string' || state === 'name' || state === 'block comment',
    resync: () => {
      state = 'code';
    },
  });
}

/**
 * References qualified with a database's name, as a restore must rewrite them when it loads a dump under another
 * name: `` `db`.x `` or `db.x` (not part of a longer name), and `` ALTER DATABASE `db` ``, which mariadb-dump writes
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
  return {
    quoted: new RegExp(`${quotedName}\\s*\\.`, 'g'),
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

type Lexed = 'code' | "'" | '"' | '`' | 'line comment' | 'block comment';

/**
 * A rewriter of SQL text that applies `rewrite` to its code only: string literals (`'…'` and `"…"`, with `\` and
 * doubled-quote escapes, as under the default sql_mode) and comments (`#`, `-- `, `/* … *\/`) pass through as they
 * are. Backquoted names and mariadb-dump's versioned comments (`/*!50003 … *\/`, which the server runs) are code.
 * Where it is in the text carries from one call to the next, so a dump given line by line is read as one text (a
 * trigger's string literal may span lines); a `DELIMITER` line, which mariadb-dump writes around each program,
 * starts from code again, so a literal misread under another sql_mode cannot reach past its program.
 */
export function codeOnly(rewrite: (code: string) => string): (text: string) => string {
  let state: Lexed = 'code';
  return (text) => {
    if (/^DELIMITER\s/.test(text)) state = 'code';
    let out = '';
    // The start of the run not yet written out: code while state is code or `, else a literal or a comment.
    let run = 0;
    const code = (end: number) => {
      out += rewrite(text.slice(run, end));
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
          if (c === "'" || c === '"') {
            code(i);
            state = c;
          } else if (c === '`') state = '`';
          else if (c === '#' || (c === '-' && text[i + 1] === '-' && /^[\s]?$/.test(text[i + 2] ?? ''))) {
            code(i);
            state = 'line comment';
          } else if (c === '/' && text[i + 1] === '*' && text[i + 2] !== '!') {
            code(i);
            state = 'block comment';
            i++;
          }
          break;
        case "'":
        case '"':
          if (c === '\\') i++;
          else if (c === state) {
            other(i + 1);
            state = 'code';
          }
          break;
        case '`':
          if (c === '`') state = 'code';
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
    if (state === 'code' || state === '`') code(text.length);
    else other(text.length);
    return out;
  };
}

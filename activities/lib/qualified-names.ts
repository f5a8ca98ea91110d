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

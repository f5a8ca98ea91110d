/**
 * References qualified with a database's name, as a restore must rewrite them when it loads a dump under another
 * name: `` `db`.x `` or `db.x` (not part of a longer name). One definition for the rewrite (database-programs.ts
 * `requalify`) and for the backup's test of whether a dump has any such statement (dump-row-counter.ts).
 */

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** The two forms of a reference qualified with `db`, as global patterns (each match ends with the `.`). */
export function qualifiedNamePatterns(db: string): { quoted: RegExp; bare: RegExp } {
  return {
    quoted: new RegExp(`\`${escapeRegExp(db.replace(/`/g, '``'))}\`\\s*\\.`, 'g'),
    bare: new RegExp(`(?<![\\w$\`.])${escapeRegExp(db)}\\s*\\.(?=[\\w$\`])`, 'g'),
  };
}

/** A test of whether a statement's text has a reference qualified with `db`: what `requalify` would rewrite. */
export function namesDatabaseTest(db: string): (text: string) => boolean {
  const { quoted, bare } = qualifiedNamePatterns(db);
  const q = new RegExp(quoted.source);
  const b = new RegExp(bare.source);
  return (text) => q.test(text) || b.test(text);
}

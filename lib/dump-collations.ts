/**
 * MySQL 8 dump text the farm's MariaDB (10.11) can load. MySQL 8 defaults to `utf8mb4_0900_*` collations,
 * which MariaDB 10.11 lacks; its UCA 14.0 collations (`utf8mb4_uca1400_*`, MariaDB 10.10+) are the nearest, and
 * the NO PAD variants keep MySQL 8's NO PAD comparison (with PAD SPACE, 'a' and 'a ' would collide in a unique
 * key that held both on the source). MySQL-only versioned comments (`/*!80016 DEFAULT ENCRYPTION='N' *\/`),
 * which MariaDB would run because 80016 is below its version number, are dropped. `DEFINER=` clauses of triggers,
 * views and routines are dropped too: the old host's accounts do not exist on the farm.
 *
 * Applied to the dump's DDL lines only: row data (the `INSERT INTO` lines) passes untouched, so a value that
 * happens to contain a collation's name is never changed.
 */

export const COLLATION_MAP: Readonly<Record<string, string>> = {
  utf8mb4_0900_ai_ci: 'utf8mb4_uca1400_nopad_ai_ci',
  utf8mb4_0900_as_ci: 'utf8mb4_uca1400_nopad_as_ci',
  utf8mb4_0900_as_cs: 'utf8mb4_uca1400_nopad_as_cs',
  utf8mb4_0900_bin: 'utf8mb4_nopad_bin',
};

const COLLATION = /\butf8mb4_0900_(?:ai_ci|as_ci|as_cs|bin)\b|\butf8mb4_[a-z_]+?_0900_(?:ai_ci|as_ci|as_cs)\b/g;
const MYSQL8_COMMENT = /\/\*!80\d{3}[^*]*\*\//g;
// The old host's account that owns a trigger, view or routine does not exist on the farm: a trigger whose definer is
// missing fails every write to its table. Without the clause the object belongs to the account loading the dump.
const DEFINER = /\/\*!50017 DEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*`\s*\*\/ ?|\bDEFINER=`(?:[^`]|``)*`@`(?:[^`]|``)*` ?/g;

/** One DDL line (or statement) of a dump made loadable on MariaDB; `mapped` counts what was replaced. */
export function mapDumpDdl(line: string, mapped: Record<string, number> = {}): string {
  return line
    .replace(COLLATION, (c) => {
      // Language-specific 0900 collations (utf8mb4_de_pb_0900_ai_ci…) map to the generic one of the same strength.
      const to = COLLATION_MAP[c] ?? COLLATION_MAP[`utf8mb4_0900_${c.slice(-5)}`] ?? 'utf8mb4_uca1400_nopad_ai_ci';
      mapped[`${c} → ${to}`] = (mapped[`${c} → ${to}`] ?? 0) + 1;
      return to;
    })
    .replace(MYSQL8_COMMENT, '')
    .replace(DEFINER, '');
}

/** Collations a source reports that the farm must map (for the pre-flight's report). */
export function unmappedCollations(collations: readonly string[]): string[] {
  return collations.filter((c) => /_0900_/.test(c));
}

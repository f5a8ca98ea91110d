/**
 * A table's content digest that the old host's MySQL/MariaDB and the farm's MariaDB compute alike, so a migration
 * can prove a table it did not rewrite arrived unchanged: the row count and the sum of each row's CRC32 over its
 * columns' stored bytes (`CAST(… AS BINARY)`, hex-encoded, NULL spelled `-`, which hex never is). Order does not
 * matter (a sum); any changed, lost or added row changes it (barring a CRC collision).
 */

const ident = (name: string) => '`' + name.replace(/`/g, '``') + '`';
const literal = (s: string) => "'" + s.replace(/\\/g, '\\\\').replace(/'/g, "''") + "'";

/** `SELECT 'digest', <table>, <rows>, <sum>` for one table (columns in their ordinal order). */
export function tableDigestSql(table: string, columns: readonly string[]): string {
  if (!columns.length) throw new Error(`table ${table}: no columns`);
  const row = `CONCAT_WS(',', ${columns.map((c) => `COALESCE(HEX(CAST(${ident(c)} AS BINARY)), '-')`).join(', ')})`;
  return `SELECT 'digest', ${literal(table)}, COUNT(*), COALESCE(SUM(CRC32(${row})), 0) FROM ${ident(table)}`;
}

/** The columns of every base table of the current database, one row per table: `columns`, name, comma-joined columns. */
export const TABLE_COLUMNS_SQL =
  "SET SESSION group_concat_max_len = 1048576; SELECT 'columns', c.TABLE_NAME, GROUP_CONCAT(c.COLUMN_NAME ORDER BY c.ORDINAL_POSITION SEPARATOR ',') FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' GROUP BY c.TABLE_NAME ORDER BY c.TABLE_NAME";

/** Triggers, views and routines of the current database: `program`, kind, name. */
export const PROGRAMS_SQL = [
  "SELECT 'program', 'trigger', TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE()",
  "SELECT 'program', 'view', TABLE_NAME FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE()",
  "SELECT 'program', LOWER(ROUTINE_TYPE), ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE()",
].join(' UNION ALL ') + ' ORDER BY 2, 3';

export interface TableDigest {
  rows: number;
  sum: string;
}

/** Digests by table from `digest` rows (strings as the mysql client prints them, or values from mysql2). */
export function digestsFrom(rows: readonly (readonly unknown[])[]): Record<string, TableDigest> {
  const out: Record<string, TableDigest> = {};
  for (const r of rows) if (r[0] === 'digest') out[String(r[1])] = { rows: Number(r[2]), sum: String(r[3]) };
  return out;
}

/**
 * What differs between a source database and its migrated copy: the same base tables, the same row counts, the
 * same content where nothing was rewritten (`rewritten`: tables the URL rewrite changed rows in, compared by row
 * count only), the same triggers, views and routines. Empty: they match.
 */
export function digestProblems(
  source: { digests: Record<string, TableDigest>; programs: string[] },
  migrated: { digests: Record<string, TableDigest>; programs: string[] },
  rewritten: ReadonlySet<string>,
): string[] {
  const problems: string[] = [];
  const tables = [...new Set([...Object.keys(source.digests), ...Object.keys(migrated.digests)])].sort();
  for (const t of tables) {
    const s = source.digests[t];
    const m = migrated.digests[t];
    if (!m) problems.push(`table ${t} is missing`);
    else if (!s) problems.push(`table ${t} is not in the source`);
    else if (s.rows !== m.rows) problems.push(`table ${t} has ${m.rows} rows, the source ${s.rows}`);
    else if (!rewritten.has(t) && s.sum !== m.sum) problems.push(`table ${t} differs from the source (nothing in it was rewritten)`);
  }
  const lost = source.programs.filter((p) => !migrated.programs.includes(p));
  const extra = migrated.programs.filter((p) => !source.programs.includes(p));
  if (lost.length) problems.push(`missing ${lost.join(', ')}`);
  if (extra.length) problems.push(`not in the source: ${extra.join(', ')}`);
  return problems;
}

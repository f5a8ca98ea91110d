/**
 * Rewrites one table's URLs in a (staging) database through any mysql2-like connection: keyset pagination over
 * the primary key, values read as the bytes stored (`CAST(… AS BINARY)`, so serialized lengths are counted in
 * the bytes PHP reads), rewritten by lib/url-rewrite, written back one row at a time by key. No SQL builder.
 *
 * Tables without a primary key use a unique key whose columns are all NOT NULL; a table with neither is refused
 * (not touched) and reported with how many rows hold the old host, because an UPDATE matching all columns
 * could hit a different row that compares equal under the collation.
 */
import { TableRewriter, type ColumnLimit, type ColumnValue, type TableRewriteReport, type UrlRewriter } from '../../lib/url-rewrite';

/**
 * What this needs from a connection: mysql2/promise's `query` (rows first in the result). A pool works too:
 * every UPDATE is its own autocommitted statement, and `describeTable` needs a default database.
 */
export interface SqlConnection {
  query(sql: string, params?: unknown[]): Promise<[unknown, unknown]>;
}

export interface TableColumn {
  readonly name: string;
  /** information_schema DATA_TYPE, lower case (`varchar`, `longtext`, `bigint`). */
  readonly dataType: string;
  readonly limit?: ColumnLimit;
  /** A generated (virtual or stored) column: computed by the server, never written. */
  readonly generated?: boolean;
}

export interface TableDescription {
  readonly name: string;
  readonly columns: readonly TableColumn[];
  /** The primary key, else a unique key on NOT NULL columns, else empty. */
  readonly key: readonly string[];
  readonly keyKind: 'primary' | 'unique' | 'none';
}

export interface RewriteTableOptions {
  /** Rows per SELECT (default 500). */
  readonly batchSize?: number;
  readonly includeGuid?: boolean;
  /** Called after each batch with the counts so far and the last key read (heartbeat details to resume from). */
  readonly onBatch?: (report: TableRewriteReport, lastKey: readonly unknown[]) => void;
  /** Resume after this key (from a previous attempt's heartbeat). */
  readonly resumeAfter?: readonly unknown[];
}

export type RewriteTableResult =
  | ({ readonly status: 'rewritten' } & TableRewriteReport)
  | { readonly status: 'refused'; readonly table: string; readonly reason: string; readonly rowsWithOldHost: number };

/** Column types that can hold a URL: character and binary strings (binary ones are handled as bytes). */
const TEXT_TYPES = new Set([
  'char', 'varchar', 'tinytext', 'text', 'mediumtext', 'longtext', 'json',
  'binary', 'varbinary', 'tinyblob', 'blob', 'mediumblob', 'longblob',
]);

export function quoteIdent(name: string): string {
  return '`' + name.replace(/`/g, '``') + '`';
}

function rowsOf(result: [unknown, unknown]): Record<string, unknown>[] {
  return result[0] as Record<string, unknown>[];
}

/**
 * Reads a base table's columns, size limits and key from information_schema (the connection's current
 * database). Throws for a view or a missing table: a view's rows belong to the tables under it.
 */
export async function describeTable(conn: SqlConnection, table: string): Promise<TableDescription> {
  const [kind] = rowsOf(
    await conn.query('SELECT TABLE_TYPE AS type FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ?', [table]),
  );
  if (!kind) throw new Error(`table ${table} not found in the current database`);
  if (kind.type !== 'BASE TABLE') throw new Error(`${table} is a ${String(kind.type).toLowerCase()}, not a base table`);
  const cols = rowsOf(
    await conn.query(
      `SELECT COLUMN_NAME AS name, LOWER(DATA_TYPE) AS dataType, CHARACTER_MAXIMUM_LENGTH AS maxChars,
              CHARACTER_OCTET_LENGTH AS maxBytes, CHARACTER_SET_NAME AS charset, IS_NULLABLE AS nullable, EXTRA AS extra
         FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
      [table],
    ),
  );
  const columns: TableColumn[] = cols.map((c) => ({
    name: String(c.name),
    dataType: String(c.dataType),
    generated: /GENERATED/i.test(String(c.extra ?? '')),
    limit:
      c.maxBytes === null || c.maxBytes === undefined
        ? undefined
        : {
            maxBytes: Number(c.maxBytes),
            maxChars: Number(c.maxChars),
            utf8: typeof c.charset === 'string' && c.charset.startsWith('utf8'),
          },
  }));
  const notNull = new Set(cols.filter((c) => c.nullable === 'NO').map((c) => String(c.name)));
  const idx = rowsOf(
    await conn.query(
      `SELECT INDEX_NAME AS idx, COLUMN_NAME AS col FROM information_schema.STATISTICS
         WHERE TABLE_SCHEMA = DATABASE() AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`,
      [table],
    ),
  );
  const keys = new Map<string, string[]>();
  for (const r of idx) keys.set(String(r.idx), [...(keys.get(String(r.idx)) ?? []), String(r.col)]);
  const primary = keys.get('PRIMARY');
  if (primary) return { name: table, columns, key: primary, keyKind: 'primary' };
  const unique = [...keys.values()].find((k) => k.every((c) => notNull.has(c)));
  if (unique) return { name: table, columns, key: unique, keyKind: 'unique' };
  return { name: table, columns, key: [], keyKind: 'none' };
}

function likeHost(host: string): string {
  return '%' + host.replace(/[\\%_]/g, (c) => '\\' + c) + '%';
}

/**
 * Rewrites one table in key order, batch by batch; returns what changed (or why the table was refused).
 * Safe to run again after a crash when `rewriter.needles.idempotent` (rows already rewritten no longer match).
 */
export async function rewriteTable(
  conn: SqlConnection,
  table: TableDescription,
  rewriter: UrlRewriter,
  options: RewriteTableOptions = {},
): Promise<RewriteTableResult> {
  const text = table.columns.filter((c) => TEXT_TYPES.has(c.dataType) && !c.generated);
  const t = quoteIdent(table.name);
  // Rows that cannot hold any spelling of the old URL are not read: each spelling contains the host verbatim.
  const asciiHost = /^[\x20-\x7e]+$/.test(rewriter.needles.host);
  const filterSql = asciiHost && text.length > 0 ? `(${text.map((c) => `CAST(${quoteIdent(c.name)} AS BINARY) LIKE ?`).join(' OR ')})` : '';
  const filterParams = filterSql ? text.map(() => likeHost(rewriter.needles.host)) : [];

  if (table.key.length === 0) {
    const [count] = rowsOf(await conn.query(`SELECT COUNT(*) AS n FROM ${t}${filterSql ? ` WHERE ${filterSql}` : ''}`, filterParams));
    return {
      status: 'refused',
      table: table.name,
      reason: 'no primary key and no unique key on NOT NULL columns: rows cannot be addressed one by one',
      rowsWithOldHost: Number(count.n),
    };
  }

  const key = table.key;
  const rewritten = text.filter((c) => !key.includes(c.name));
  const limits: Record<string, ColumnLimit> = {};
  for (const c of rewritten) if (c.limit) limits[c.name] = c.limit;
  const rows = new TableRewriter(
    rewriter,
    { name: table.name, columns: text.map((c) => c.name), primaryKey: key, limits },
    { includeGuid: options.includeGuid },
  );

  const keyList = key.map(quoteIdent).join(', ');
  const select =
    `SELECT ${[...key.map(quoteIdent), ...rewritten.map((c) => `CAST(${quoteIdent(c.name)} AS BINARY) AS ${quoteIdent(c.name)}`)].join(', ')}` +
    ` FROM ${t}`;
  const after = `(${keyList}) > (${key.map(() => '?').join(', ')})`;
  const where = (resume: boolean): string => {
    const parts = [...(resume ? [after] : []), ...(filterSql ? [filterSql] : [])];
    return parts.length ? ` WHERE ${parts.join(' AND ')}` : '';
  };
  const batchSize = options.batchSize ?? 500;
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, not ${batchSize}`);
  let lastKey: readonly unknown[] | undefined = options.resumeAfter;
  for (;;) {
    const resume = lastKey !== undefined;
    const batch = rowsOf(
      await conn.query(`${select}${where(resume)} ORDER BY ${keyList} LIMIT ${batchSize}`, [...(resume ? lastKey! : []), ...filterParams]),
    );
    for (const row of batch) {
      const change = rows.rewriteRow(row as Record<string, ColumnValue>);
      if (!change) continue;
      const cols = Object.keys(change.set);
      await conn.query(
        `UPDATE ${t} SET ${cols.map((c) => `${quoteIdent(c)} = ?`).join(', ')} WHERE ${key.map((k) => `${quoteIdent(k)} = ?`).join(' AND ')}`,
        [...cols.map((c) => change.set[c]), ...key.map((k) => change.key[k])],
      );
    }
    if (batch.length > 0) lastKey = key.map((k) => batch[batch.length - 1][k]);
    options.onBatch?.(rows.report(), lastKey ?? []);
    if (batch.length < batchSize) break;
  }
  return { status: 'rewritten', ...rows.report() };
}

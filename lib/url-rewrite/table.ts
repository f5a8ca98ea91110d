/**
 * Row-by-row rewrite of one table, with no database access: the caller streams rows in (in any batching) and
 * writes back the changes it gets. `guid` is left alone by default (WordPress: "never change the GUID", feed
 * readers key on it), and so are primary-key columns (a changed key is a different row). Both are still
 * counted when they hold the old URL, so the report shows what was left.
 */
import type { UrlRewriter } from './rewrite-value';
import { containsOldUrl } from './needles';

/** A value as a driver hands it over; only strings and Buffers can hold a URL (keys are often numbers). */
export type ColumnValue = Buffer | string | number | bigint | Date | null;

export interface TableShape {
  readonly name: string;
  /** The columns the rows carry that may hold text (other columns may be present in rows; they are ignored). */
  readonly columns: readonly string[];
  /** The key the changes are addressed by; empty when the table has none (the caller decides what to do). */
  readonly primaryKey: readonly string[];
  /**
   * Column size limits. A rewritten value that would not fit (a longer `to_url` in a VARCHAR(255)) is not
   * written: MariaDB would reject it in strict mode and silently truncate it otherwise.
   */
  readonly limits?: Readonly<Record<string, ColumnLimit>>;
}

export interface ColumnLimit {
  readonly maxBytes: number;
  /** In characters; for a utf8/utf8mb4 column characters are counted as UTF-8 code points, otherwise bytes. */
  readonly maxChars: number;
  readonly utf8: boolean;
}

function fits(value: Buffer, limit: ColumnLimit | undefined): boolean {
  if (!limit) return true;
  if (value.length > limit.maxBytes) return false;
  if (!limit.utf8) return value.length <= limit.maxChars;
  let chars = 0;
  for (const b of value) if ((b & 0xc0) !== 0x80) chars++;
  return chars <= limit.maxChars;
}

export interface TableRewriteOptions {
  /** Rewrite the `guid` column too (default false). */
  readonly includeGuid?: boolean;
}

/** One changed row: its key (as read) and the new values of the columns that changed (same type as read). */
export interface RowChange {
  readonly key: Readonly<Record<string, ColumnValue>>;
  readonly set: Readonly<Record<string, Buffer | string>>;
}

export interface ColumnCounts {
  /** False for `guid` (unless included) and key columns: scanned and counted, never changed. */
  readonly rewritten: boolean;
  valuesChanged: number;
  /** Values that still hold the old URL after the rewrite (malformed, binary, opaque parts, or not rewritten). */
  valuesLeftAlone: number;
  /** Values with a serialized part that held the old URL and did not parse (PHP cannot read them either). */
  valuesMalformed: number;
  /** Rewritten values that would not fit the column: not written (also counted as left alone). */
  valuesTooLong: number;
}

export interface TableRewriteReport {
  readonly table: string;
  rowsScanned: number;
  rowsChanged: number;
  readonly columns: Record<string, ColumnCounts>;
}

export class TableRewriter {
  private readonly counts: Record<string, ColumnCounts> = {};
  private readonly state: TableRewriteReport;

  constructor(
    private readonly rewriter: UrlRewriter,
    private readonly table: TableShape,
    options: TableRewriteOptions = {},
  ) {
    for (const c of table.columns) {
      const skipped = table.primaryKey.includes(c) || (c.toLowerCase() === 'guid' && !options.includeGuid);
      this.counts[c] = { rewritten: !skipped, valuesChanged: 0, valuesLeftAlone: 0, valuesMalformed: 0, valuesTooLong: 0 };
    }
    this.state = { table: table.name, rowsScanned: 0, rowsChanged: 0, columns: this.counts };
  }

  /** Rewrites one row; null when nothing in it changed. */
  rewriteRow(row: Readonly<Record<string, ColumnValue>>): RowChange | null {
    this.state.rowsScanned++;
    const set: Record<string, Buffer | string> = {};
    let changed = false;
    for (const c of this.table.columns) {
      const v = row[c];
      if (typeof v !== 'string' && !Buffer.isBuffer(v)) continue;
      const counts = this.counts[c];
      if (!counts.rewritten) {
        const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
        if (containsOldUrl(this.rewriter.needles, bytes)) counts.valuesLeftAlone++;
        continue;
      }
      const bytes = typeof v === 'string' ? Buffer.from(v, 'utf8') : v;
      const r = this.rewriter.rewrite(bytes);
      if (r.malformed > 0) counts.valuesMalformed++;
      if (r.changed && !fits(r.value, this.table.limits?.[c])) {
        counts.valuesTooLong++;
        counts.valuesLeftAlone++;
        continue;
      }
      if (r.leftAlone > 0) counts.valuesLeftAlone++;
      if (!r.changed) continue;
      counts.valuesChanged++;
      set[c] = typeof v === 'string' ? r.value.toString('utf8') : r.value;
      changed = true;
    }
    if (!changed) return null;
    this.state.rowsChanged++;
    const key: Record<string, ColumnValue> = {};
    for (const k of this.table.primaryKey) key[k] = row[k] ?? null;
    return { key, set };
  }

  /** The counts so far (a snapshot). */
  report(): TableRewriteReport {
    return structuredCloneReport(this.state);
  }
}

function structuredCloneReport(r: TableRewriteReport): TableRewriteReport {
  const columns: Record<string, ColumnCounts> = {};
  for (const [k, v] of Object.entries(r.columns)) columns[k] = { ...v };
  return { table: r.table, rowsScanned: r.rowsScanned, rowsChanged: r.rowsChanged, columns };
}

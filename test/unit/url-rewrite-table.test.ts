/**
 * The table-level rewrite: TableRewriter (pure, row by row) and the activity-side rewriteTable over a fake
 * mysql2-like connection that keeps one table in memory and answers the keyset SELECTs and keyed UPDATEs.
 */
import type { Connection } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { TableRewriter, UrlRewriter } from '../../lib/url-rewrite';
import { rewriteTable, type SqlConnection, type TableDescription } from '../../activities/lib/url-rewrite-table';

const FROM = 'https://old.example.com';
const TO = 'https://new.example';
const rw = new UrlRewriter(FROM, TO);
const ser = (s: string) => `s:${Buffer.byteLength(s)}:"${s}";`;

// mysql2's promise connection is what the activity will pass.
const _mysql2Fits: SqlConnection = null as unknown as Connection;

describe('TableRewriter', () => {
  const shape = { name: 'wp_posts', columns: ['ID', 'post_content', 'guid', 'post_excerpt'], primaryKey: ['ID'] };

  it('returns only changed rows (key + changed columns), leaves guid alone and counts per column', () => {
    const t = new TableRewriter(rw, shape);
    expect(t.rewriteRow({ ID: 1, post_content: `<a href="${FROM}/a">`, guid: `${FROM}/?p=1`, post_excerpt: null })).toEqual({
      key: { ID: 1 },
      set: { post_content: `<a href="${TO}/a">` },
    });
    expect(t.rewriteRow({ ID: 2, post_content: 'nothing', guid: `${FROM}/?p=2`, post_excerpt: 'x' })).toBeNull();
    expect(t.rewriteRow({ ID: 3, post_content: Buffer.from(`a:1:{i:0;${ser(FROM)}}`), guid: 'g', post_excerpt: Buffer.from([0xff, ...Buffer.from(FROM)]) })).toEqual({
      key: { ID: 3 },
      set: { post_content: Buffer.from(`a:1:{i:0;${ser(TO)}}`) },
    });
    expect(t.report()).toEqual({
      table: 'wp_posts',
      rowsScanned: 3,
      rowsChanged: 2,
      columns: {
        ID: { rewritten: false, valuesChanged: 0, valuesLeftAlone: 0, valuesMalformed: 0, valuesTooLong: 0 },
        post_content: { rewritten: true, valuesChanged: 2, valuesLeftAlone: 0, valuesMalformed: 0, valuesTooLong: 0 },
        guid: { rewritten: false, valuesChanged: 0, valuesLeftAlone: 2, valuesMalformed: 0, valuesTooLong: 0 },
        post_excerpt: { rewritten: true, valuesChanged: 0, valuesLeftAlone: 1, valuesMalformed: 0, valuesTooLong: 0 },
      },
    });
  });

  it('rewrites guid when asked', () => {
    const t = new TableRewriter(rw, shape, { includeGuid: true });
    expect(t.rewriteRow({ ID: 1, post_content: '', guid: `${FROM}/?p=1` })?.set).toEqual({ guid: `${TO}/?p=1` });
  });

  it('does not write a value that would not fit the column', () => {
    const longer = new UrlRewriter(FROM, 'https://a-much-longer-host-name.example');
    const t = new TableRewriter(longer, { name: 'x', columns: ['id', 'v'], primaryKey: ['id'], limits: { v: { maxBytes: 120, maxChars: 30, utf8: true } } });
    expect(t.rewriteRow({ id: 1, v: `${FROM}/é` })).toBeNull();
    expect(t.report().columns.v).toMatchObject({ valuesTooLong: 1, valuesLeftAlone: 1, valuesChanged: 0 });
  });

  it('counts malformed serialized values', () => {
    const t = new TableRewriter(rw, { name: 'wp_options', columns: ['option_id', 'option_value'], primaryKey: ['option_id'] });
    expect(t.rewriteRow({ option_id: 1, option_value: `s:99:"${FROM}";` })).toBeNull();
    expect(t.report().columns.option_value).toMatchObject({ valuesMalformed: 1, valuesLeftAlone: 1 });
  });
});

/** One in-memory table with an integer key `id`, answering the SQL rewriteTable sends. */
function fakeTable(rows: Record<string, string | number | null>[]) {
  const table = rows.map((r) => ({ ...r }));
  const log: string[] = [];
  const conn: SqlConnection = {
    query(sql: string, params: unknown[] = []) {
      log.push(sql);
      if (sql.startsWith('SELECT COUNT(*)')) {
        const like = String(params[0]).slice(1, -1);
        return Promise.resolve([[{ n: table.filter((r) => Object.values(r).some((v) => String(v).includes(like))).length }], []]);
      }
      if (sql.startsWith('SELECT')) {
        const limit = Number(/LIMIT (\d+)/.exec(sql)![1]);
        const resume = sql.includes('(`id`) > (?)');
        const after = resume ? Number(params[0]) : -Infinity;
        const like = String(params[resume ? 1 : 0]).slice(1, -1);
        const cols = [...sql.matchAll(/CAST\(`(\w+)` AS BINARY\) AS/g)].map((m) => m[1]);
        const hit = table
          .filter((r) => Number(r.id) > after && Object.values(r).some((v) => String(v).includes(like)))
          .sort((a, b) => Number(a.id) - Number(b.id))
          .slice(0, limit)
          .map((r) => Object.fromEntries([['id', r.id], ...cols.map((c) => [c, r[c] === null ? null : Buffer.from(String(r[c]))])]));
        return Promise.resolve([hit, []]);
      }
      if (sql.startsWith('UPDATE')) {
        const cols = [...sql.split(' WHERE ')[0].matchAll(/`(\w+)` = \?/g)].map((m) => m[1]).slice(0);
        const id = params[params.length - 1];
        const row = table.find((r) => r.id === id)!;
        cols.forEach((c, i) => (row[c] = (params[i] as Buffer).toString()));
        return Promise.resolve([{ affectedRows: 1 }, []]);
      }
      throw new Error(`unexpected SQL ${sql}`);
    },
  };
  return { conn, table, log };
}

const OPTIONS: TableDescription = {
  name: 'wp9_options',
  columns: [
    { name: 'id', dataType: 'bigint' },
    { name: 'option_name', dataType: 'varchar' },
    { name: 'option_value', dataType: 'longtext' },
    { name: 'guid', dataType: 'varchar' },
  ],
  key: ['id'],
  keyKind: 'primary',
};

describe('rewriteTable (activity side) over a fake connection', () => {
  const rows = () =>
    Array.from({ length: 25 }, (_, i) => ({
      id: i + 1,
      option_name: `opt${i}`,
      option_value: i % 3 === 0 ? `a:1:{s:3:"url";${ser(`${FROM}/${i}`)}}` : i % 3 === 1 ? `plain ${FROM}` : 'nothing',
      guid: `${FROM}/?p=${i}`,
    }));

  it('rewrites in key-ordered batches, updates by key, reports per column, and leaves guid', async () => {
    const { conn, table, log } = fakeTable(rows());
    const batches: unknown[][] = [];
    const result = await rewriteTable(conn, OPTIONS, rw, { batchSize: 4, onBatch: (_r, last) => batches.push([...last]) });
    expect(result).toMatchObject({ status: 'rewritten', rowsScanned: 25, rowsChanged: 17 });
    if (result.status !== 'rewritten') throw new Error('refused');
    expect(result.columns.option_value.valuesChanged).toBe(17);
    expect(result.columns.guid).toMatchObject({ rewritten: false, valuesLeftAlone: 25 });
    expect(table[0].option_value).toBe(`a:1:{s:3:"url";${ser(`${TO}/0`)}}`);
    expect(table[1].option_value).toBe(`plain ${TO}`);
    expect(table.every((r) => String(r.guid).startsWith(FROM))).toBe(true);
    expect(batches.map((b) => b[0])).toEqual([4, 8, 12, 16, 20, 24, 25]);
    expect(log.filter((s) => s.startsWith('UPDATE'))[0]).toBe('UPDATE `wp9_options` SET `option_value` = ? WHERE `id` = ?');
    expect(log.find((s) => s.startsWith('SELECT'))).toContain('CAST(`option_value` AS BINARY) LIKE ?');
  });

  it('resumes after the key a previous attempt heartbeated, and a second run changes nothing', async () => {
    const { conn, table } = fakeTable(rows());
    const first = await rewriteTable(conn, OPTIONS, rw, { resumeAfter: [12] });
    expect(first).toMatchObject({ rowsScanned: 13 });
    expect(table[9].option_value).toContain(FROM);
    expect(table[12].option_value).toContain(TO);
    await rewriteTable(conn, OPTIONS, rw);
    const again = await rewriteTable(conn, OPTIONS, rw);
    expect(again).toMatchObject({ status: 'rewritten', rowsChanged: 0 });
  });

  it('refuses a table without a usable key, touching nothing, and says how many rows hold the old host', async () => {
    const { conn, table, log } = fakeTable(rows());
    const result = await rewriteTable(conn, { ...OPTIONS, key: [], keyKind: 'none' }, rw);
    expect(result).toEqual({
      status: 'refused',
      table: 'wp9_options',
      reason: expect.stringMatching(/no primary key/),
      rowsWithOldHost: 25,
    });
    expect(log.some((s) => s.startsWith('UPDATE'))).toBe(false);
    expect(table).toEqual(rows());
  });
});

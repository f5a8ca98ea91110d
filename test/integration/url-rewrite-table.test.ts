/**
 * rewriteTable on the real Galera cluster: a scratch database with wp_options-like rows (values serialized by
 * PHP: objects of classes the farm lacks, multibyte strings, nested serialized data, JSON), a posts table with
 * `guid`, a column too small for the new URL, and a table without any key. PHP's unserialize() judges the result.
 */
import { randomUUID } from 'node:crypto';
import mysql, { type Connection, type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseGaleraNodes } from '../../lib/clients/galera-client';
import { describeTable, rewriteTable } from '../../activities/lib/url-rewrite-table';
import { UrlRewriter } from '../../lib/url-rewrite';
import { phpJudge, phpSerialize } from '../helpers/php';
import { testEnv } from '../helpers/temporal';

const FROM = 'https://old.example.com';
const TO = 'https://new-site.example';
const rewriter = new UrlRewriter(FROM, TO);
const db = `urlrw_${randomUUID().slice(0, 8)}`;
const CLASSES = `class Old_Plugin_Settings { public $home; protected $cdn; private $token;
  function __construct($h, $c, $t) { $this->home = $h; $this->cdn = $c; $this->token = $t; } }`;
const EXPRS = [
  `['siteurl' => 'https://old.example.com', 'ü' => 'café — 日本語 🎉 https://old.example.com/ü', 5 => 0.1, 'f' => 1e100]`,
  `new Old_Plugin_Settings('https://old.example.com', '//old.example.com/cdn', "t\\0k")`,
  `['widget' => serialize(['url' => 'https://old.example.com/w', 'o' => new Old_Plugin_Settings('a', 'b', 'https://old.example.com')])]`,
  `['builder' => json_encode(['img' => 'https://old.example.com/i.png'])]`,
  `'https://other.example'`,
];

let conn: Connection;
let originals: Buffer[];

beforeAll(async () => {
  const env = testEnv();
  const [node] = parseGaleraNodes(env.DROVER_GALERA_NODES);
  const admin = await mysql.createConnection({ host: node.host, port: node.port, user: env.DROVER_GALERA_USER, password: env.DROVER_GALERA_PASSWORD });
  await admin.query(`CREATE DATABASE ${db} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
  await admin.end();
  conn = await mysql.createConnection({ host: node.host, port: node.port, user: env.DROVER_GALERA_USER, password: env.DROVER_GALERA_PASSWORD, database: db, charset: 'utf8mb4' });
  await conn.query(`CREATE TABLE wp7_options (option_id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    option_name VARCHAR(191) NOT NULL UNIQUE, option_value LONGTEXT NOT NULL, autoload VARCHAR(20) NOT NULL DEFAULT 'yes')`);
  await conn.query(`CREATE TABLE wp7_posts (ID BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    post_content LONGTEXT NOT NULL, post_title VARCHAR(30) NOT NULL, guid VARCHAR(255) NOT NULL,
    content_head VARCHAR(40) AS (LEFT(post_content, 40)) VIRTUAL)`);
  await conn.query('CREATE VIEW wp7_post_view AS SELECT ID, post_content FROM wp7_posts');
  await conn.query(`CREATE TABLE wp7_keyless (k VARCHAR(50), v TEXT)`);
  originals = phpSerialize(CLASSES, EXPRS);
  for (const [i, v] of originals.entries()) await conn.query('INSERT INTO wp7_options (option_name, option_value) VALUES (?, ?)', [`opt${i}`, v]);
  for (let i = 1; i <= 7; i++) {
    await conn.query('INSERT INTO wp7_posts (post_content, post_title, guid) VALUES (?, ?, ?)', [
      `<img src="${FROM}/wp-content/${i}.jpg"> {"u":"https:\\/\\/old.example.com"}`,
      i === 3 ? `${FROM}/abcdef` : `post ${i}`,
      `${FROM}/?p=${i}`,
    ]);
  }
  await conn.query('INSERT INTO wp7_keyless (k, v) VALUES (?, ?), (?, ?)', ['a', `${FROM}/a`, 'b', 'nothing']);
});

afterAll(async () => {
  await conn?.query(`DROP DATABASE IF EXISTS ${db}`);
  await conn?.end();
});

async function bytes(sql: string): Promise<Buffer[]> {
  const [rows] = await conn.query<RowDataPacket[]>(sql);
  return rows.map((r) => r.v as Buffer);
}

describe('rewriteTable on Galera', () => {
  it('rewrites wp_options in batches; PHP unserializes every value, byte-identical to its own replace', async () => {
    const table = await describeTable(conn, 'wp7_options');
    expect(table).toMatchObject({ key: ['option_id'], keyKind: 'primary' });
    const result = await rewriteTable(conn, table, rewriter, { batchSize: 2 });
    expect(result).toMatchObject({ status: 'rewritten', rowsScanned: 4, rowsChanged: 4 });
    const after = await bytes('SELECT CAST(option_value AS BINARY) AS v FROM wp7_options ORDER BY option_id');
    const verdicts = phpJudge(CLASSES, rewriter.needles, after.map((v, i) => ({ original: originals[i], rewritten: v })));
    verdicts.forEach((v, i) => {
      expect(v.unserializes, EXPRS[i]).toBe(true);
      expect(v.roundTrips, EXPRS[i]).toBe(true);
      expect(after[i].equals(v.expected!), EXPRS[i]).toBe(true);
    });
    expect(after[0].toString()).toContain(`café — 日本語 🎉 ${TO}/ü`);
    expect(after[4].equals(originals[4])).toBe(true);
    // The farm does not have the plugin's class: the values still unserialize, with exact lengths.
    expect(phpJudge('', rewriter.needles, after.map((v) => ({ rewritten: v }))).every((v) => v.unserializes && v.roundTrips)).toBe(true);
  });

  it('leaves guid alone, does not overflow a VARCHAR(30), and reports both', async () => {
    const result = await rewriteTable(conn, await describeTable(conn, 'wp7_posts'), rewriter);
    if (result.status !== 'rewritten') throw new Error(result.reason);
    expect(result).toMatchObject({ rowsScanned: 7, rowsChanged: 7 });
    expect(result.columns.post_content).toMatchObject({ valuesChanged: 7, valuesLeftAlone: 0 });
    expect(result.columns.post_title).toMatchObject({ valuesChanged: 0, valuesTooLong: 1, valuesLeftAlone: 1 });
    expect(result.columns.guid).toMatchObject({ rewritten: false, valuesChanged: 0, valuesLeftAlone: 7 });
    expect(result.columns).not.toHaveProperty('content_head'); // generated: the server recomputes it
    const [rows] = await conn.query<RowDataPacket[]>('SELECT post_content, post_title, guid, content_head FROM wp7_posts ORDER BY ID');
    expect(rows[0]).toMatchObject({ post_content: `<img src="${TO}/wp-content/1.jpg"> {"u":"https:\\/\\/new-site.example"}`, post_title: 'post 1', guid: `${FROM}/?p=1` });
    expect(rows[2].post_title).toBe(`${FROM}/abcdef`);
    expect(rows[0].content_head).toBe(`<img src="${TO}/wp-content/1.jpg">`.slice(0, 40));
    // A second run finds nothing more to do.
    expect(await rewriteTable(conn, await describeTable(conn, 'wp7_posts'), rewriter)).toMatchObject({ rowsChanged: 0 });
  });

  it('refuses to describe a view', async () => {
    await expect(describeTable(conn, 'wp7_post_view')).rejects.toThrow(/is a view, not a base table/);
  });

  it('refuses a table without any key and leaves it as it was', async () => {
    const table = await describeTable(conn, 'wp7_keyless');
    expect(table.keyKind).toBe('none');
    expect(await rewriteTable(conn, table, rewriter)).toMatchObject({ status: 'refused', rowsWithOldHost: 1 });
    const [rows] = await conn.query<RowDataPacket[]>('SELECT v FROM wp7_keyless ORDER BY k');
    expect(rows.map((r) => r.v)).toEqual([`${FROM}/a`, 'nothing']);
  });
});

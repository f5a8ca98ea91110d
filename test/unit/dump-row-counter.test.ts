/**
 * The backup counts each table's rows in the dump as it streams past, and every restore of the point checks the
 * staging database against those counts: a miscount makes every restore of that point fail. Dumps built here with
 * a known number of rows per table, in both of mariadb-dump's layouts (a batch of rows on one line, one row per
 * line), with the strings that could fool a scanner (quotes, backslashes at the end of a string, parentheses,
 * semicolons, newlines, `INSERT INTO` itself, unicode) and a routine whose body has lines that start like a data
 * INSERT, cut into chunks at every kind of boundary.
 */
import { describe, expect, it } from 'vitest';
import { DumpRowCounter } from '../../activities/lib/dump-row-counter';

/** A SQL string literal as mariadb-dump writes it (backslash escapes; newlines escaped). */
function sqlString(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n').replace(/\r/g, '\\r')}'`;
}

const NASTY = ["it's", 'ends with a backslash \\', '\\', "(;) INSERT INTO `wp_posts` VALUES (1);", 'line\nbreak', 'Grüße 日本 😀', '', "'''", ')),((', '\\\\\\'];

function row(id: number, rnd: () => number): string {
  const text = NASTY[Math.floor(rnd() * NASTY.length)] + 'x'.repeat(Math.floor(rnd() * 40));
  return `(${id},${sqlString(text)},0x${Buffer.from(`blob ${id}`).toString('hex')},NULL,${(rnd() * 1000).toFixed(3)})`;
}

/** A mulberry32 generator: the same dump on every run. */
function random(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function dump(tables: Record<string, number>, layout: 'batch' | 'row-per-line', seed: number): string {
  const rnd = random(seed);
  const out = ['-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB\n', '/*!40101 SET NAMES utf8mb4 */;\n'];
  let id = 1;
  for (const [table, rows] of Object.entries(tables)) {
    const quoted = `\`${table.replace(/`/g, '``')}\``;
    out.push(`DROP TABLE IF EXISTS ${quoted};\n`, `CREATE TABLE ${quoted} (\n  \`id\` bigint(20) NOT NULL,\n  \`v\` longtext DEFAULT ('(;'),\n  PRIMARY KEY (\`id\`)\n) ENGINE=InnoDB;\n`);
    out.push(`LOCK TABLES ${quoted} WRITE;\n`);
    let left = rows;
    while (left > 0) {
      const batch = Math.min(left, 1 + Math.floor(rnd() * 7));
      const values = Array.from({ length: batch }, () => row(id++, rnd));
      out.push(layout === 'batch' ? `INSERT INTO ${quoted} VALUES ${values.join(',')};\n` : `INSERT INTO ${quoted} VALUES\n${values.join(',\n')};\n`);
      left -= batch;
    }
    out.push('UNLOCK TABLES;\n');
  }
  out.push('DELIMITER ;;\n', "/*!50003 CREATE*/ /*!50003 TRIGGER `t` AFTER INSERT ON `wp_posts` FOR EACH ROW INSERT INTO `log` VALUES (NEW.id, '(') */;;\n", 'DELIMITER ;\n');
  // A routine's body as its author wrote it: lines that start like a data INSERT, inside the DELIMITER block.
  out.push('DELIMITER ;;\n', 'CREATE PROCEDURE `archive`()\nBEGIN\nINSERT INTO `wp_posts` VALUES (999, \'(not a row)\');\nINSERT INTO `wp_postmeta`\n  VALUES (1), (2);\nEND ;;\n', 'DELIMITER ;\n');
  // Data again after the block.
  out.push("INSERT INTO `wp_after` VALUES (1,'a'),(2,'b');\n");
  return out.join('');
}

function count(data: Buffer, cuts: (i: number) => number): Map<string, number> {
  const counter = new DumpRowCounter();
  const seen: Buffer[] = [];
  counter.on('data', (d: Buffer) => seen.push(d));
  for (let at = 0, i = 0; at < data.length; i++) {
    const end = Math.min(data.length, at + cuts(i));
    counter.write(data.subarray(at, end));
    at = end;
  }
  counter.end();
  // It passes every byte through unchanged.
  expect(Buffer.concat(seen).equals(data)).toBe(true);
  return counter.rows;
}

const TABLES = { wp_posts: 37, wp_postmeta: 211, 'wp_odd`name': 5, 'wp_ünïcødé_日本': 9, wp_empty: 0 };
const EXPECTED = new Map([...Object.entries(TABLES).filter(([, n]) => n > 0), ['wp_after', 2]]);

describe('DumpRowCounter', () => {
  for (const layout of ['batch', 'row-per-line'] as const) {
    const data = Buffer.from(dump(TABLES, layout, layout === 'batch' ? 1 : 2));
    it(`counts every row of a ${layout} dump in one chunk`, () => {
      expect(count(data, () => data.length)).toEqual(EXPECTED);
    });
    it(`counts every row of a ${layout} dump cut into single bytes`, () => {
      expect(count(data, () => 1)).toEqual(EXPECTED);
    });
    it(`counts every row of a ${layout} dump cut at random lengths`, () => {
      for (let seed = 1; seed <= 20; seed++) {
        const rnd = random(seed * 97);
        expect(count(data, () => 1 + Math.floor(rnd() * 300))).toEqual(EXPECTED);
      }
    });
  }
  it('carries a backslash at the end of a chunk over to the next one', () => {
    const data = Buffer.from("INSERT INTO `t` VALUES (1,'a\\'),(b'),(2,'\\\\'),(3,'\\\\\\''),(4,'');\n");
    const at = data.indexOf('\\');
    // Cut right after the first backslash, inside the string: the quote that follows is escaped.
    const counter = new DumpRowCounter();
    counter.resume();
    counter.write(data.subarray(0, at + 1));
    counter.write(data.subarray(at + 1));
    counter.end();
    expect(counter.rows).toEqual(new Map([['t', 4]]));
  });
});

/**
 * Whether a statement names the database decides whether a restore under another name passes the dump through the
 * requalifying filter (database-programs.ts requalifyDumpStream) or loads it as it is: the counter must find every
 * line the filter would rewrite, and a database named only in data or comments must not count.
 */
describe('DumpRowCounter: does a statement name the database', () => {
  const base = dump(TABLES, 'row-per-line', 3);
  const named = async (data: string, db: string, cuts: (i: number) => number) => {
    const counter = new DumpRowCounter(db);
    counter.resume();
    const finished = new Promise((r) => counter.once('finish', r));
    const bytes = Buffer.from(data);
    for (let at = 0, i = 0; at < bytes.length; i++) {
      const end = Math.min(bytes.length, at + cuts(i));
      counter.write(bytes.subarray(at, end));
      at = end;
    }
    counter.end();
    await finished;
    return counter.namesDatabase;
  };
  const rewritten = async (data: string, db: string) => {
    const { requalifyDumpStream } = await import('../../activities/lib/database-programs');
    const s = requalifyDumpStream(db, 'elsewhere');
    const out: Buffer[] = [];
    s.on('data', (d: Buffer) => out.push(d));
    const ended = new Promise((r) => s.once('end', r));
    s.end(Buffer.from(data));
    await ended;
    return Buffer.concat(out).toString() !== data;
  };
  const header = '-- Host: db1    Database: shop\n';
  const cases: [string, string, boolean][] = [
    ['a dump with no qualified name, its header naming the database', header + base, false],
    ['the name qualified in rows only (both layouts)', header + base + "INSERT INTO `wp_posts` VALUES (1,'see `shop`.wp_posts and shop.wp_options'),\n(2,'shop . x');\n" + "INSERT INTO `wp_x` VALUES (3,'`shop`.y');\n", false],
    ['a longer name that ends with it', base + 'DELIMITER ;;\nCREATE TRIGGER t AFTER INSERT ON wp_posts FOR EACH ROW UPDATE myshop.wp_x SET a=1 ;;\nDELIMITER ;\n', false],
    ['a trigger body qualified with backticks', base + 'DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER `t2` AFTER INSERT ON `wp_posts` FOR EACH ROW UPDATE `shop`.`wp_x` SET a=1 */;;\nDELIMITER ;\n', true],
    ['a routine line that starts like data, qualified bare', base + 'DELIMITER ;;\nCREATE PROCEDURE p()\nBEGIN\nINSERT INTO shop.wp_log VALUES (1);\nEND ;;\nDELIMITER ;\n', true],
    // The counter takes the literal's DELIMITER line for the command, and the next body line for data: qualified, never data.
    ['a routine whose literal holds a DELIMITER line, then a qualified INSERT', base + "DELIMITER ;;\nCREATE PROCEDURE p()\nBEGIN\nSET @h = 'x\nDELIMITER ;\ny';\nINSERT INTO `shop`.`wp_log` VALUES (1);\nEND ;;\nDELIMITER ;\n", true],
    ['a view at the top level', base + 'CREATE VIEW v AS SELECT * FROM shop .wp_posts;\n', true],
    ['the last line, with no newline after it', base + 'UPDATE `shop`.t SET a = 1;', true],
    // mariadb-dump around a trigger whose database collation is not the database's default now.
    ['an ALTER DATABASE of it, quoted', base + 'DELIMITER ;;\nALTER DATABASE `shop` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;;\nDELIMITER ;\n', true],
    ['an ALTER SCHEMA of it, bare', base + 'alter schema shop CHARACTER SET utf8mb4;\n', true],
    ['an ALTER DATABASE of another database', base + 'ALTER DATABASE `shopping` CHARACTER SET latin1 ;\nALTER DATABASE shop_2 CHARACTER SET latin1 ;\n', false],
  ];
  for (const [what, data, expected] of cases) {
    it(`${what}: ${expected ? 'names it' : 'does not'} (as the filter finds), in one chunk, in single bytes and at random cuts`, async () => {
      expect(await rewritten(data, 'shop')).toBe(expected);
      expect(await named(data, 'shop', () => data.length)).toBe(expected);
      expect(await named(data, 'shop', () => 1)).toBe(expected);
      const rnd = random(7);
      expect(await named(data, 'shop', () => 1 + Math.floor(rnd() * 200))).toBe(expected);
    });
  }
  it('a line over 1 MiB outside the data is taken to name it; no database given, nothing is tested', async () => {
    const long = `-- ${'x'.repeat(1.5 * 1024 * 1024)}\n`;
    expect(await named(base + long, 'shop', () => 64 * 1024)).toBe(true);
    expect(await named(long + base, 'shop', () => 64 * 1024)).toBe(true);
    const counter = new DumpRowCounter();
    counter.resume();
    const finished = new Promise((r) => counter.once('finish', r));
    counter.end(Buffer.from(base + 'UPDATE `shop`.t SET a = 1;\n'));
    await finished;
    expect(counter.namesDatabase).toBe(false);
  });
  it('a restore requalifies unless the manifest says no statement names the database (older points: it does)', async () => {
    const { requalifyFrom } = await import('../../lib/backup-layout');
    expect(requalifyFrom({ database: { name: 'shop', namesDatabase: false } as never })).toEqual({});
    expect(requalifyFrom({ database: { name: 'shop', namesDatabase: true } as never })).toEqual({ sourceDb: 'shop' });
    expect(requalifyFrom({ database: { name: 'shop' } as never })).toEqual({ sourceDb: 'shop' });
  });
});

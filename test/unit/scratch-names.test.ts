/** Scratch database names of a restore (lib/scratch-names.ts) and the registry's name and prefix rules. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fnv1a64 } from '../../lib/hash';
import { scratchDatabaseNames, scratchNamesProblem } from '../../lib/scratch-names';
import { literalTablePrefix, siteSchema } from '../../lib/site-registry';

const nameChar = fc.constantFrom(...'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_'.split(''));
const liveName = (min: number, max: number) => fc.array(nameChar, { minLength: min, maxLength: max }).map((a) => a.join('')).filter((n) => siteSchema.shape.database.safeParse(n).success);

describe('scratch database names', () => {
  it('at 56-64 characters: staging, previous and live all differ, all valid MariaDB names', () => {
    fc.assert(
      fc.property(liveName(56, 64), (live) => {
        const { staging, previous } = scratchDatabaseNames(live);
        expect(scratchNamesProblem({ live, staging, previous })).toBeNull();
        for (const n of [staging, previous]) expect(n).toMatch(/^[A-Za-z0-9_]{1,64}$/);
      }),
      { numRuns: 2000 },
    );
  });

  it('at any length, never a registrable name: no site can own a scratch database', () => {
    fc.assert(
      fc.property(liveName(1, 64), (live) => {
        const { staging, previous } = scratchDatabaseNames(live);
        expect(siteSchema.shape.database.safeParse(staging).success).toBe(false);
        expect(siteSchema.shape.database.safeParse(previous).success).toBe(false);
      }),
      { numRuns: 2000 },
    );
  });

  it('two live names that differ only past what is kept get different scratch names', () => {
    fc.assert(
      fc.property(liveName(56, 64), liveName(56, 64), (a, b) => {
        fc.pre(a !== b);
        const x = scratchDatabaseNames(a);
        const y = scratchDatabaseNames(b);
        expect(new Set([a, b, x.staging, x.previous, y.staging, y.previous]).size).toBe(6);
      }),
      { numRuns: 2000 },
    );
  });

  it('the cases of the issue: 60 and 64 characters', () => {
    for (const live of ['wp_' + 'a'.repeat(57), 'wp_' + 'b'.repeat(61)]) {
      const { staging, previous } = scratchDatabaseNames(live);
      expect([live.length, staging.length <= 64, previous.length <= 64]).toEqual([live.length, true, true]);
      expect(new Set([live, staging, previous]).size).toBe(3);
    }
    // The old scheme (suffix cut to 64) collided here: what this replaces.
    const old = (live: string) => [`${live}_drover_stg`.slice(0, 64), `${live}_drover_prev`.slice(0, 64)];
    expect(new Set(old('wp_' + 'a'.repeat(57))).size).toBe(1);
  });

  it('FNV-1a 64 matches the reference vectors', () => {
    expect(fnv1a64('')).toBe('cbf29ce484222325');
    expect(fnv1a64('a')).toBe('af63dc4c8601ec8c');
    expect(fnv1a64('foobar')).toBe('85944171f73967e8');
  });

  it('a problem names the clash', () => {
    expect(scratchNamesProblem({ live: 'wp_x', staging: 'wp_y', previous: 'wp_y' })).toMatch(/must all differ/);
  });
});

describe('registration rules', () => {
  it('refuses Drover\'s scratch marker and system databases, naming the rule', () => {
    const bad = (database: string) => siteSchema.shape.database.safeParse(database);
    expect(bad('wp_shop_drover_stg').error?.issues[0].message).toMatch(/_drover_/);
    expect(bad('drover_meta').error?.issues[0].message).toMatch(/system database/);
    expect(bad('wp_' + 'x'.repeat(61)).success).toBe(true);
    expect(bad('wp_' + 'x'.repeat(62)).success).toBe(false);
  });

  it('reads a literal $table_prefix from wp-config.php, not a computed or commented one', () => {
    expect(literalTablePrefix("<?php\ndefine('DB_NAME', 'x');\n$table_prefix = 'shop7_';\n")).toBe('shop7_');
    expect(literalTablePrefix('<?php\n$table_prefix  =  "wp_";')).toBe('wp_');
    expect(literalTablePrefix("<?php\n// $table_prefix = 'old_';\n$table_prefix = getenv('PREFIX');")).toBeNull();
    expect(literalTablePrefix("<?php\n/* $table_prefix = 'old_'; */\n")).toBeNull();
    expect(literalTablePrefix('<?php\n')).toBeNull();
  });
});

describe('requalifying a dump for staging', () => {
  /** The dump through requalifyDumpStream('shop', 'stg') in chunks of `size` bytes (1: line boundaries and the INSERT prefix split). */
  const filtered = async (dump: string, size = 1): Promise<string> => {
    const { requalifyDumpStream } = await import('../../activities/lib/database-programs');
    const out: Buffer[] = [];
    const s = requalifyDumpStream('shop', 'stg');
    s.on('data', (d: Buffer) => out.push(d));
    const ended = new Promise<void>((res, rej) => {
      s.once('end', res);
      s.once('error', rej);
    });
    const bytes = Buffer.from(dump);
    for (let i = 0; i < bytes.length; i += size) s.write(bytes.subarray(i, i + size));
    s.end();
    await ended;
    return Buffer.concat(out).toString();
  };
  it('rewrites the backed-up database name in statements, never in row data', async () => {
    const { requalify } = await import('../../activities/lib/database-programs');
    expect(requalify('CREATE TRIGGER `shop`.t AFTER INSERT ON `shop`.wp_posts FOR EACH ROW UPDATE shop.wp_x SET a=1', 'shop', 'shop_stg')).toBe(
      'CREATE TRIGGER `shop_stg`.t AFTER INSERT ON `shop_stg`.wp_posts FOR EACH ROW UPDATE `shop_stg`.wp_x SET a=1',
    );
    expect(requalify('UPDATE myshop.t, shop2.t SET x = 1', 'shop', 'z')).toBe('UPDATE myshop.t, shop2.t SET x = 1');
    expect(requalify('ALTER DATABASE `shop` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;', 'shop', 'shop_stg')).toBe('ALTER DATABASE `shop_stg` CHARACTER SET latin1 COLLATE latin1_swedish_ci ;');
    expect(requalify('alter schema shop charset utf8mb4', 'shop', 'z')).toBe('alter schema `z` charset utf8mb4');
    expect(requalify('ALTER DATABASE `shopping` CHARACTER SET latin1', 'shop', 'z')).toBe('ALTER DATABASE `shopping` CHARACTER SET latin1');
    // Names are case-sensitive; the keywords are not.
    expect(requalify('ALTER DATABASE SHOP CHARACTER SET latin1', 'shop', 'z')).toBe('ALTER DATABASE SHOP CHARACTER SET latin1');
    // A migration's legacy names are words: only their backquoted form is taken for the database (a URL in a string is not).
    const body = "CREATE TRIGGER `shop`.t BEFORE INSERT ON `shop`.p FOR EACH ROW SET NEW.u = 'https://shop.example.com', NEW.v = shop.f()";
    expect(requalify(body, 'shop', 'stg', { bareNames: false })).toBe("CREATE TRIGGER `stg`.t BEFORE INSERT ON `stg`.p FOR EACH ROW SET NEW.u = 'https://shop.example.com', NEW.v = shop.f()");
    expect(requalify(body, 'shop', 'stg')).toBe("CREATE TRIGGER `stg`.t BEFORE INSERT ON `stg`.p FOR EACH ROW SET NEW.u = 'https://shop.example.com', NEW.v = `stg`.f()");
    const dump = "CREATE TRIGGER `shop`.t BEFORE INSERT ON `shop`.p FOR EACH ROW SET @a = 1;;\nINSERT INTO `p` VALUES (1,'see `shop`.p and shop.p');\n/*!50003 CREATE PROCEDURE x() UPDATE shop.p SET a = 1 */;;\n";
    expect(await filtered(dump)).toBe(
      "CREATE TRIGGER `stg`.t BEFORE INSERT ON `stg`.p FOR EACH ROW SET @a = 1;;\nINSERT INTO `p` VALUES (1,'see `shop`.p and shop.p');\n/*!50003 CREATE PROCEDURE x() UPDATE `stg`.p SET a = 1 */;;\n",
    );
  });

  it('rewrites code only: never a string literal, with its escapes, even one spanning lines, nor a comment', async () => {
    const { requalify } = await import('../../activities/lib/database-programs');
    const q = (s: string) => requalify(s, 'shop', 'stg');
    expect(q(`SET NEW.a = 'it''s shop.x', NEW.b = "say \\"shop.x\\"", NEW.c = shop.f('\\\\'), NEW.d = shop.g()`)).toBe(
      `SET NEW.a = 'it''s shop.x', NEW.b = "say \\"shop.x\\"", NEW.c = \`stg\`.f('\\\\'), NEW.d = \`stg\`.g()`,
    );
    expect(q("UPDATE shop.t SET a = 1 -- don't touch shop.t\n, b = `it's`.c # shop.t's\n; /* shop.t's */ UPDATE `shop`.t SET c = 'x'")).toBe(
      "UPDATE `stg`.t SET a = 1 -- don't touch shop.t\n, b = `it's`.c # shop.t's\n; /* shop.t's */ UPDATE `stg`.t SET c = 'x'",
    );
    // Versioned comments are code; a column's default is a literal.
    expect(q("/*!50003 CREATE*/ /*!50003 TRIGGER t AFTER INSERT ON shop.p FOR EACH ROW SET @u = 'shop.p' */")).toBe("/*!50003 CREATE*/ /*!50003 TRIGGER t AFTER INSERT ON `stg`.p FOR EACH ROW SET @u = 'shop.p' */");
    expect(q("  `u` varchar(64) DEFAULT 'https://shop.example.com' COMMENT '`shop`.u',")).toBe("  `u` varchar(64) DEFAULT 'https://shop.example.com' COMMENT '`shop`.u',");
    // A trigger's literal spanning lines of the dump, given to the filter byte by byte.
    const trigger = (db: string) =>
      `DELIMITER ;;\n/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE UPDATE ON ${db}.p FOR EACH ROW SET NEW.body = 'first line\nsecond: shop.example.com\nthird', NEW.x = ${db}.f() */;;\nDELIMITER ;\n`;
    expect(await filtered(trigger('shop'))).toBe(trigger('`stg`'));
  });

  it("reads each program's strings under the sql_mode it was defined under; never rewrites inside a quoted name", async () => {
    const { requalify } = await import('../../activities/lib/database-programs');
    // As mariadb-dump writes a trigger defined under NO_BACKSLASH_ESCAPES, then one under its default mode again.
    const dump = (db: string) =>
      [
        "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */;",
        "/*!50003 SET sql_mode              = 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES' */ ;",
        'DELIMITER ;;',
        `/*!50003 CREATE*/ /*!50003 TRIGGER t BEFORE UPDATE ON ${db}.p FOR EACH ROW SET NEW.a = REPLACE(NEW.a, '\\', '/'), NEW.u = 'https://shop.example.com', NEW.x = ${db}.f() */;;`,
        'DELIMITER ;',
        '/*!50003 SET sql_mode              = @saved_sql_mode */ ;',
        'DELIMITER ;;',
        `/*!50003 CREATE*/ /*!50003 TRIGGER t2 BEFORE INSERT ON ${db}.p FOR EACH ROW SET NEW.b = 'it\\'s shop.x', NEW.y = ${db}.g() */;;`,
        'DELIMITER ;',
        '',
      ].join('\n');
    expect(await filtered(dump('shop'))).toBe(dump('`stg`'));
    // A program's own text, with the sql_mode it keeps.
    const body = "SET NEW.a = REPLACE(NEW.a, '\\', '/'), NEW.x = shop.f()";
    expect(requalify(body, 'shop', 'stg', { sqlMode: 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES' })).toBe("SET NEW.a = REPLACE(NEW.a, '\\', '/'), NEW.x = `stg`.f()");
    // Under ANSI_QUOTES "…" is a name (and "shop". qualifies); elsewhere a string.
    expect(requalify(`UPDATE "shop".t SET a = 'x "shop".t' WHERE "shop"."t".b = 1`, 'shop', 'stg', { sqlMode: 'PIPES_AS_CONCAT,ANSI_QUOTES' })).toBe(`UPDATE \`stg\`.t SET a = 'x "shop".t' WHERE \`stg\`."t".b = 1`);
    expect(requalify(`SET @a = "shop".t, @b = shop.t`, 'shop', 'stg')).toBe('SET @a = "shop".t, @b = `stg`.t');
    // A view's column named after its expression keeps its name; a name quoted after the bare database is requalified.
    expect(requalify('select count(shop.p.id) AS `count(shop.p.id)` from `shop`.`p` join shop.`q`', 'shop', 'stg')).toBe('select count(`stg`.p.id) AS `count(shop.p.id)` from `stg`.`p` join `stg`.`q`');
    // MariaDB's own executable comments are code; `--` before a control character starts a comment.
    expect(requalify('/*M!100100 ALTER DATABASE `shop` CHARACTER SET latin1 */;', 'shop', 'stg')).toBe('/*M!100100 ALTER DATABASE `stg` CHARACTER SET latin1 */;');
    expect(requalify("SET @a = 1 --\x01 it's shop.t\n, @b = shop.f()", 'shop', 'stg')).toBe("SET @a = 1 --\x01 it's shop.t\n, @b = `stg`.f()");
  });

  it("leaves mariadb-dump 10.11's one-row-per-line INSERTs alone to their last row", async () => {
    // What mariadb-dump 10.11 writes: `INSERT INTO … VALUES`, then one row per line, the last ending with `;`.
    const rows = "INSERT INTO `p` VALUES\n(1,'see `shop`.p and shop.p'),\n(2,'shop.example.org;'),\n(3,'line\\nbreak; shop.x');\n";
    const dump = `CREATE TABLE \`shop\`.p (a int);\n${rows}CREATE VIEW \`shop\`.v AS SELECT * FROM shop.p;\n${rows}`;
    const expected = `CREATE TABLE \`stg\`.p (a int);\n${rows}CREATE VIEW \`stg\`.v AS SELECT * FROM \`stg\`.p;\n${rows}`;
    for (const size of [1, 7, dump.length]) {
      expect(await filtered(dump, size)).toBe(expected);
    }
  });

  it('rewrites every line of a routine, including body lines that start like a data INSERT', async () => {
    const routine = (db: string) =>
      `DELIMITER ;;\nCREATE PROCEDURE \`archive\`()\nBEGIN\nINSERT INTO log (a)\nSELECT a FROM ${db}.p;\nINSERT INTO log VALUES (1); \nUPDATE ${db}.p SET a = 2;\nEND ;;\nDELIMITER ;\n`;
    const rows = "INSERT INTO `p` VALUES\n(1,'shop.p'),\n(2,'x');\n";
    const dump = `${routine('shop')}${rows}`;
    expect(await filtered(dump)).toBe(`${routine('`stg`')}${rows}`);
  });

  it('takes a line that starts with DELIMITER inside a string literal for part of the literal', async () => {
    // A routine whose literal spans lines, one of them `DELIMITER ;` (as the mariadb client reads it: text of the
    // literal), then a body line that starts like a data INSERT and names the database.
    const routine = (db: string) =>
      `DELIMITER ;;
CREATE PROCEDURE \`notes\`()
BEGIN
SET @help = 'to load this by hand:
DELIMITER ;
then shop.p as before';
INSERT INTO ${db}.log VALUES (1);
UPDATE ${db}.p SET a = 2;
END ;;
DELIMITER ;
`;
    const rows = "INSERT INTO `p` VALUES\n(1,'shop.p');\n";
    const dump = `${routine('shop')}${rows}`;
    expect(await filtered(dump)).toBe(`${routine('`stg`')}${rows}`);
  });

  it('reads on from code at a top-level DELIMITER line, and refuses a dump that ends inside a literal or a program', async () => {
    // A top-level line misread (an unclosed quote): the program after it is still requalified.
    const program = (db: string) => `DELIMITER ;;\nCREATE TRIGGER t BEFORE INSERT ON ${db}.p FOR EACH ROW SET NEW.x = ${db}.f() ;;\nDELIMITER ;\n`;
    expect(await filtered(`SET @x = 'unclosed;\n${program('shop')}`)).toBe(`SET @x = 'unclosed;\n${program('`stg`')}`);
    await expect(filtered("CREATE TABLE t (a int);\nSET @x = 'never closed\n")).rejects.toThrow(/ends inside a string literal/);
    await expect(filtered('DELIMITER ;;\nCREATE PROCEDURE p() BEGIN END ;;\n')).rejects.toThrow(/ends inside a DELIMITER block/);
  });
});

import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { dumpDdlFilter } from '../../activities/lib/dump-line-filter';
import { mapDumpDdl } from '../../lib/dump-collations';
import { asMysql8Dump } from '../../devkit/old-host';

describe('MySQL 8 collations in a dump', () => {
  it('maps 0900 collations to MariaDB uca1400 NO PAD ones and drops MySQL-only versioned comments', () => {
    const mapped: Record<string, number> = {};
    expect(mapDumpDdl(") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci /*!80016 DEFAULT ENCRYPTION='N' */;", mapped)).toBe(
      ') ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_uca1400_nopad_ai_ci ;',
    );
    expect(mapDumpDdl('`slug` varchar(200) COLLATE utf8mb4_0900_bin NOT NULL, `n` text COLLATE utf8mb4_de_pb_0900_as_cs', mapped)).toBe(
      '`slug` varchar(200) COLLATE utf8mb4_nopad_bin NOT NULL, `n` text COLLATE utf8mb4_uca1400_nopad_as_cs',
    );
    expect(mapped).toEqual({ 'utf8mb4_0900_ai_ci → utf8mb4_uca1400_nopad_ai_ci': 1, 'utf8mb4_0900_bin → utf8mb4_nopad_bin': 1, 'utf8mb4_de_pb_0900_as_cs → utf8mb4_uca1400_nopad_as_cs': 1 });
    expect(mapDumpDdl('/*!40101 SET NAMES utf8mb4 */;')).toBe('/*!40101 SET NAMES utf8mb4 */;');
  });

  it('rewrites DDL lines only: row data holding a collation name passes byte for byte, across chunk boundaries', async () => {
    const dump = asMysql8Dump("-- MariaDB dump 10.19\nCREATE TABLE `t` (\n  `v` text\n) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_520_ci;\nINSERT INTO `t` VALUES ('utf8mb4_0900_ai_ci stays'),('é');\n");
    expect(dump).toContain('COLLATE=utf8mb4_0900_ai_ci;');
    const bytes = Buffer.from(dump);
    const chunks = Array.from({ length: bytes.length }, (_, i) => bytes.subarray(i, i + 1));
    const out: Buffer[] = [];
    for await (const c of Readable.from(chunks).pipe(dumpDdlFilter((l) => mapDumpDdl(l)))) out.push(c as Buffer);
    const text = Buffer.concat(out).toString('utf8');
    expect(text).toContain('COLLATE=utf8mb4_uca1400_nopad_ai_ci;');
    expect(text).toContain("INSERT INTO `t` VALUES ('utf8mb4_0900_ai_ci stays'),('é');");
    expect(text.startsWith('-- MySQL dump 10.13')).toBe(true);
  });

  it("drops the old host's DEFINER clauses of triggers, views and routines (its accounts do not exist on the farm)", () => {
    expect(mapDumpDdl('/*!50003 CREATE*/ /*!50017 DEFINER=`u_old`@`localhost`*/ /*!50003 TRIGGER `wpx7_posts_bi` BEFORE INSERT ON `wpx7_posts` FOR EACH ROW SET NEW.post_title = TRIM(NEW.post_title) */;;')).toBe(
      '/*!50003 CREATE*/ /*!50003 TRIGGER `wpx7_posts_bi` BEFORE INSERT ON `wpx7_posts` FOR EACH ROW SET NEW.post_title = TRIM(NEW.post_title) */;;',
    );
    expect(mapDumpDdl('/*!50013 DEFINER=`u_old`@`localhost` SQL SECURITY DEFINER */')).toBe('/*!50013 SQL SECURITY DEFINER */');
    expect(mapDumpDdl('CREATE DEFINER=`u``x`@`%` PROCEDURE `wpx7_count_posts`()')).toBe('CREATE PROCEDURE `wpx7_count_posts`()');
  });
});

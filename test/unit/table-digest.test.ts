import { describe, expect, it } from 'vitest';
import { digestProblems, digestsFrom, tableDigestSql } from '../../lib/table-digest';

describe('table digests (migration verification)', () => {
  it('builds one SELECT per table, identifiers and the name quoted', () => {
    expect(tableDigestSql("wp`x'", ['a', 'b`c'])).toBe(
      "SELECT 'digest', 'wp`x''', COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS(',', COALESCE(HEX(CAST(`a` AS BINARY)), '-'), COALESCE(HEX(CAST(`b``c` AS BINARY)), '-')))), 0) FROM `wp``x'`",
    );
  });

  it('names missing and extra tables, row counts, changed content outside rewritten tables, and programs', () => {
    const source = { digests: digestsFrom([['digest', 'a', '3', '10'], ['digest', 'b', '2', '7'], ['digest', 'c', '1', '1'], ['digest', 'gone', '0', '0']]), programs: ['trigger t1', 'view v1', 'procedure p1'] };
    const live = { digests: digestsFrom([['digest', 'a', 3, '11'], ['digest', 'b', 2, '8'], ['digest', 'c', 2, '1'], ['digest', 'new', 0, '0']]), programs: ['trigger t1', 'procedure p1', 'function f'] };
    expect(digestProblems(source, live, new Set(['a']))).toEqual([
      'table b differs from the source (nothing in it was rewritten)',
      'table c has 2 rows, the source 1',
      'table gone is missing',
      'table new is not in the source',
      'missing view v1',
      'not in the source: function f',
    ]);
    expect(digestProblems(source, source, new Set())).toEqual([]);
  });
});

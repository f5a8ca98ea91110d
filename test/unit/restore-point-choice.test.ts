import { describe, expect, it } from 'vitest';
import { chooseRestorePoint, parseRestoreAt } from '../../lib/restore-point-choice';

const points = [
  { date: '2026-11-20', complete: true },
  { date: '2026-11-21', complete: false },
  { date: '2026-11-18', complete: true },
  { date: '2026-11-22', complete: true },
];

describe('choosing a restore point', () => {
  it.each([
    [undefined, '2026-11-22'],
    ['latest', '2026-11-22'],
    ['2026-11-22', '2026-11-22'],
    ['2026-11-21', '2026-11-20'], // the 21st is incomplete: the newest complete point before it
    ['2026-11-19', '2026-11-18'],
    ['2026-11-21T23:59:59Z', '2026-11-20'],
    ['2026-11-22T01:00:00+02:00', '2026-11-20'], // 2026-11-21T23:00Z
    ['2026-11-17', null], // before the first backup
  ])('--at %s → %s', (at, want) => {
    expect(chooseRestorePoint(points, parseRestoreAt(at))).toBe(want);
  });

  it.each(['yesterday', '2026-02-30', '2026-11-22T10:00', '22/11/2026', '2026-11-22T25:00:00Z'])('rejects %s', (at) => {
    expect(() => parseRestoreAt(at)).toThrow(/not/);
  });
});

import { describe, expect, it } from 'vitest';
import { chooseRestorePoint, parseRestoreAt } from '../../lib/restore-point-choice';

const points = [
  { date: '2026-11-20', complete: true, takenAt: '2026-11-20T02:10:00.000Z', manifestWrittenAt: '2026-11-20T02:31:00.000Z' },
  { date: '2026-11-21', complete: false },
  // Backed up before snapshot times were recorded: counts as taken when its manifest was written.
  { date: '2026-11-18', complete: true, manifestWrittenAt: '2026-11-18T02:40:00.000Z' },
  { date: '2026-11-22', complete: true, takenAt: '2026-11-22T02:05:00.000Z', manifestWrittenAt: '2026-11-22T02:20:00.000Z' },
  { date: 'safety/20261122T100000Z', complete: true, takenAt: '2026-11-22T10:00:03.000Z' },
];

describe('choosing a restore point', () => {
  it.each([
    [undefined, '2026-11-22'],
    ['latest', '2026-11-22'], // a safety point is never "latest"
    ['2026-11-22', '2026-11-22'],
    ['2026-11-21', '2026-11-20'], // the 21st is incomplete: the newest complete point before it
    ['2026-11-19', '2026-11-18'],
    ['2026-11-22T01:00:00Z', '2026-11-20'], // the 22nd's point was taken at 02:05, after the time asked for
    ['2026-11-22T02:04:59Z', '2026-11-20'],
    ['2026-11-22T02:05:00Z', '2026-11-22'],
    ['2026-11-22T04:05:00+02:00', '2026-11-22'], // 02:05Z
    ['2026-11-21T23:59:59Z', '2026-11-20'],
    ['2026-11-18T02:30:00Z', null], // the old point's manifest was written at 02:40: it may hold later data
    ['2026-11-18T02:40:00Z', '2026-11-18'],
    ['2026-11-17', null], // before the first backup
    ['safety/20261122T100000Z', 'safety/20261122T100000Z'],
    ['safety/20261101T000000Z', null],
  ])('--at %s → %s', (at, want) => {
    expect(chooseRestorePoint(points, parseRestoreAt(at))).toBe(want);
  });

  it.each(['yesterday', '2026-02-30', '2026-11-22T10:00', '22/11/2026', '2026-11-22T25:00:00Z', 'safety/2026', 'safety/../x'])('rejects %s', (at) => {
    expect(() => parseRestoreAt(at)).toThrow(/not/);
  });
});

/** The operators' retention policy: table-driven cases and properties over random histories. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { dateOf, dayNumber, parseRestorePoints, planRetention, type RestorePointRef } from '../../lib/retention';

/** Every night from `from` to `to` inclusive, complete unless listed in `missing`/`incomplete`. */
function nights(from: string, to: string, opts: { missing?: string[]; incomplete?: string[] } = {}): RestorePointRef[] {
  const out: RestorePointRef[] = [];
  for (let d = dayNumber(from); d <= dayNumber(to); d++) {
    const date = dateOf(d);
    if (opts.missing?.includes(date)) continue;
    out.push({ date, complete: !opts.incomplete?.includes(date) });
  }
  return out;
}

describe('retention: a full year of nightly backups', () => {
  // 2026-11-22 is a Sunday. One year of nights up to and including it.
  const now = '2026-11-22';
  const year = nights('2025-11-01', now);
  const plan = planRetention(year, now);
  const keptDates = new Set(plan.decisions.filter((d) => d.action === 'keep').map((d) => d.date));

  it('keeps the 14 dailies (ages 0-13)', () => {
    for (let age = 0; age < 14; age++) expect(keptDates.has(dateOf(dayNumber(now) - age))).toBe(true);
    expect(plan.decisions.find((d) => d.date === '2026-11-08')!.reasons).not.toContain('daily'); // age 14
  });

  it('keeps the Sunday of each of the 26 most recent ISO weeks', () => {
    const sundays = plan.decisions.filter((d) => d.reasons.includes('weekly')).map((d) => d.date);
    expect(sundays).toHaveLength(26);
    for (const s of sundays) expect(new Date(`${s}T00:00:00Z`).getUTCDay()).toBe(0);
    expect(sundays[0]).toBe('2026-11-22');
    expect(sundays[25]).toBe(dateOf(dayNumber(now) - 25 * 7));
  });

  it('keeps the 1st of each of the 12 most recent months', () => {
    const firsts = plan.decisions.filter((d) => d.reasons.includes('monthly')).map((d) => d.date).sort();
    expect(firsts).toEqual(['2025-12-01', '2026-01-01', '2026-02-01', '2026-03-01', '2026-04-01', '2026-05-01', '2026-06-01', '2026-07-01', '2026-08-01', '2026-09-01', '2026-10-01', '2026-11-01']);
  });

  it('deletes everything else, and keeps at most 14 + 26 + 12 points', () => {
    expect(plan.keep).toBeLessThanOrEqual(52);
    expect(keptDates.has('2025-11-01')).toBe(false); // the 13th month back
    expect(plan.decisions.find((d) => d.date === '2026-05-13')!).toMatchObject({ action: 'delete', reasons: ['expired'] });
    expect(plan.keep + plan.delete).toBe(year.length);
  });
});

describe('retention: gaps and edges', () => {
  it.each([
    {
      name: 'missing Sunday: the newest complete point of that week stands in',
      points: nights('2026-11-09', '2026-11-22', { missing: ['2026-11-15'] }).concat(nights('2026-10-05', '2026-10-11', { missing: ['2026-10-11'] })),
      now: '2026-11-22',
      expectWeekly: { '2026-W41': '2026-10-10' },
    },
    {
      name: 'incomplete Sunday counts as missing',
      points: nights('2026-10-05', '2026-10-11', { incomplete: ['2026-10-11'] }),
      now: '2026-11-22',
      expectWeekly: { '2026-W41': '2026-10-10' },
    },
    {
      name: 'a week that crosses the year boundary is one ISO week (2026-W01 starts Monday 2025-12-29)',
      points: nights('2025-12-29', '2026-01-03'),
      now: '2026-01-10',
      expectWeekly: { '2026-W01': '2026-01-03' },
    },
  ])('$name', ({ points, now, expectWeekly }) => {
    const plan = planRetention(points, now);
    for (const [week, date] of Object.entries(expectWeekly)) {
      const rep = plan.decisions.find((d) => d.periods.includes(week));
      expect(rep?.date, week).toBe(date);
      expect(rep?.action).toBe('keep');
    }
  });

  it('missing 1st: the oldest complete point of that month stands in', () => {
    const plan = planRetention(nights('2026-06-01', '2026-06-30', { missing: ['2026-06-01', '2026-06-02'] }), '2026-11-22');
    expect(plan.decisions.find((d) => d.periods.includes('2026-06'))!.date).toBe('2026-06-03');
  });

  it('leap day: February 2028 has 29 days and 2028-02-29 is a valid point', () => {
    const plan = planRetention(nights('2028-02-20', '2028-03-05'), '2028-03-05');
    expect(plan.decisions.find((d) => d.date === '2028-02-29')!.reasons).toContain('daily');
    expect(plan.decisions.find((d) => d.periods.includes('2028-02'))!.date).toBe('2028-02-20');
    expect(plan.decisions.find((d) => d.periods.includes('2028-03'))!.date).toBe('2028-03-01');
    expect(() => planRetention([{ date: '2027-02-29', complete: true }], '2027-03-01')).toThrow(/calendar date/);
  });

  it('a long outage never empties a site: the newest 3 complete points are kept however old', () => {
    const plan = planRetention(nights('2024-01-01', '2024-01-10'), '2026-11-22');
    expect(plan.decisions.filter((d) => d.action === 'keep').map((d) => d.date)).toEqual(['2024-01-10', '2024-01-09', '2024-01-08']);
    expect(plan.decisions.find((d) => d.date === '2024-01-10')!.reasons).toEqual(['newest']);
  });

  it('incomplete points: left alone for 2 days, deleted after', () => {
    const plan = planRetention(nights('2026-11-15', '2026-11-22', { incomplete: ['2026-11-22', '2026-11-20', '2026-11-19'] }), '2026-11-22');
    const of = (date: string) => plan.decisions.find((d) => d.date === date)!;
    expect(of('2026-11-22')).toMatchObject({ action: 'keep', reasons: ['incomplete-recent'] });
    expect(of('2026-11-20')).toMatchObject({ action: 'keep', reasons: ['incomplete-recent'] });
    expect(of('2026-11-19')).toMatchObject({ action: 'delete', reasons: ['incomplete-stale'] });
  });

  it('points dated after now are kept and flagged', () => {
    expect(planRetention([{ date: '2026-12-01', complete: true }], '2026-11-22').decisions[0]).toMatchObject({ action: 'keep', reasons: ['future'] });
  });

  it('rejects duplicates and malformed dates', () => {
    expect(() => planRetention([{ date: '2026-11-01', complete: true }, { date: '2026-11-01', complete: false }], '2026-11-22')).toThrow(/twice/);
    expect(() => planRetention([], '2026-13-01')).toThrow(/calendar date/);
    expect(() => planRetention([], '22/11/2026')).toThrow(/YYYY-MM-DD/);
  });
});

describe('retention: properties', () => {
  const start = dayNumber('2024-01-01');
  const history = fc
    .record({
      now: fc.integer({ min: start + 30, max: start + 1100 }),
      days: fc.uniqueArray(fc.integer({ min: 0, max: 1100 }), { maxLength: 400 }),
      incompleteEvery: fc.integer({ min: 2, max: 50 }),
    })
    .map(({ now, days, incompleteEvery }) => ({
      now: dateOf(now),
      points: days.filter((d) => start + d <= now).map((d, i) => ({ date: dateOf(start + d), complete: i % incompleteEvery !== 0 })),
    }));

  it('never empties a site that has a complete point, and keeps the newest min(3, n) complete points', () => {
    fc.assert(
      fc.property(history, ({ now, points }) => {
        const plan = planRetention(points, now);
        const complete = points.filter((p) => p.complete).map((p) => p.date).sort().reverse();
        const keptComplete = new Set(plan.decisions.filter((d) => d.action === 'keep' && d.complete).map((d) => d.date));
        for (const d of complete.slice(0, 3)) expect(keptComplete.has(d)).toBe(true);
        if (complete.length) expect(keptComplete.size).toBeGreaterThan(0);
      }),
    );
  });

  it('keeps at most 14 + 26 + 12 + 3 complete points and every decision has a reason', () => {
    fc.assert(
      fc.property(history, ({ now, points }) => {
        const plan = planRetention(points, now);
        expect(plan.decisions.filter((d) => d.action === 'keep' && d.complete).length).toBeLessThanOrEqual(55);
        expect(plan.decisions.length).toBe(points.length);
        for (const d of plan.decisions) expect(d.reasons.length).toBeGreaterThan(0);
      }),
    );
  });

  it('is stable: re-planning the kept set deletes nothing more on the same day', () => {
    fc.assert(
      fc.property(history, ({ now, points }) => {
        const survivors = planRetention(points, now).decisions.filter((d) => d.action === 'keep').map(({ date, complete }) => ({ date, complete }));
        expect(planRetention(survivors, now).delete).toBe(0);
      }),
    );
  });

  it('never deletes a complete point younger than 14 days', () => {
    fc.assert(
      fc.property(history, ({ now, points }) => {
        for (const d of planRetention(points, now).decisions) if (d.complete && d.ageDays < 14) expect(d.action).toBe('keep');
      }),
    );
  });
});

describe('parseRestorePoints', () => {
  it('reads JSON arrays of dates or objects, and one date per line', () => {
    expect(parseRestorePoints('["2026-11-01", {"date": "2026-11-02T02:00:00Z", "complete": false}]')).toEqual([
      { date: '2026-11-01', complete: true },
      { date: '2026-11-02', complete: false },
    ]);
    expect(parseRestorePoints('# nightly\n2026-11-01\n\n2026-11-02\n')).toEqual([
      { date: '2026-11-01', complete: true },
      { date: '2026-11-02', complete: true },
    ]);
  });
  it('names the bad entry', () => {
    expect(() => parseRestorePoints('2026-11-01\n2026-11-31\n')).toThrow(/line 2/);
    expect(() => parseRestorePoints('[{"date": 5}]')).toThrow(/\[0\]\.date/);
    expect(() => parseRestorePoints('["2026-11-01garbage"]')).toThrow(/\[0\]/);
  });
});

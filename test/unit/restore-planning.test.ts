/** Pure pieces of disaster recovery: the drill's rotating sample, side-by-side names, the sites file, the window. */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { readSitesFile } from '../../client/commands/restore';
import { drillSample, weekNumber } from '../../lib/drill-sample';
import { runWindow } from '../../workflows/lib/child-window';
import { restoreTargetNames } from '../../lib/restore-targets';
import { scratchDir } from '../helpers/scratch';

const sites = (n: number) => Array.from({ length: n }, (_, i) => `site${String(i).padStart(3, '0')}.example.com`);

describe('drill sample', () => {
  it('covers every site within ceil(n / size) consecutive weeks, size sites each week', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 60 }), fc.integer({ min: 1, max: 10 }), fc.integer({ min: 0, max: 3000 }), (n, size, week0) => {
        const all = sites(n);
        const rounds = Math.ceil(n / size);
        const seen = new Set<string>();
        for (let w = week0; w < week0 + rounds; w++) {
          const s = drillSample(all, size, w);
          expect(s).toHaveLength(Math.min(size, n));
          expect(new Set(s).size).toBe(s.length);
          s.forEach((x) => seen.add(x));
        }
        expect(seen.size).toBe(n);
      }),
    );
  });

  it('two weeks in a row never drill the same sites while there are more sites than the sample', () => {
    const all = sites(10);
    expect(drillSample(all, 3, 100)).not.toEqual(drillSample(all, 3, 101));
    expect(drillSample(all, 3, 100)).toEqual(drillSample([...all].reverse(), 3, 100)); // order of the listing is irrelevant
  });

  it('numbers weeks from Monday', () => {
    expect(weekNumber('2026-11-23')).toBe(weekNumber('2026-11-29')); // Monday .. Sunday
    expect(weekNumber('2026-11-30')).toBe(weekNumber('2026-11-23') + 1);
  });
});

describe('side-by-side names', () => {
  const live = { domain: 'shop.example.com', database: 'wp_shop', filesPath: '/srv/sites/shop.example.com' };
  it('keeps the live names when restoring over the site itself', () => {
    expect(restoreTargetNames(live)).toEqual({ database: 'wp_shop', filesPath: live.filesPath });
    expect(restoreTargetNames(live, 'shop.example.com')).toEqual({ database: 'wp_shop', filesPath: live.filesPath });
  });
  it('derives a database and a sibling docroot from the new name', () => {
    expect(restoreTargetNames(live, 'copy.example.com')).toEqual({ database: 'wp_copy_example_com', filesPath: '/srv/sites/copy.example.com' });
  });
  it('gives long names distinct databases within MariaDB\'s limits', () => {
    const a = restoreTargetNames(live, `drill.a-very-long-subdomain-of-the-farm-number-one.example.com`).database;
    const b = restoreTargetNames(live, `drill.a-very-long-subdomain-of-the-farm-number-two.example.com`).database;
    expect(a).not.toBe(b);
    expect(a.length).toBeLessThanOrEqual(48);
    expect(`${a}_drover_prev`.length).toBeLessThanOrEqual(64);
    expect(a).toMatch(/^[a-z0-9_]+$/);
  });
});

describe('sites file', () => {
  const file = (text: string) => {
    const f = path.join(scratchDir('sites-'), 'sites.txt');
    writeFileSync(f, text);
    return f;
  };
  it('reads one domain per line, ignoring comments, blanks and repeats', () => {
    expect(readSitesFile(file('# wave 1\na.example.com\n\nb.example.com  # shop\na.example.com\n'))).toEqual(['a.example.com', 'b.example.com']);
  });
  it.each([
    ['a.example.com\nNot A Domain\n', /line 2: "Not A Domain"/],
    ['# nothing\n', /names no site/],
  ])('refuses %j naming the line', (text, msg) => {
    expect(() => readSitesFile(file(text))).toThrow(msg);
    try {
      readSitesFile(file(text));
    } catch (err) {
      expect((err as { field: string }).field).toBe('--sites-file');
    }
  });
  it('names a missing file', () => {
    expect(() => readSitesFile('/nonexistent/sites.txt')).toThrow(/--sites-file: cannot read \/nonexistent\/sites.txt: ENOENT/);
  });
});

describe('bounded window', () => {
  it('never runs more than the limit at once, runs everything, and stops starting when told to rest', async () => {
    let now = 0;
    let peak = 0;
    const done: number[] = [];
    const left = await runWindow([1, 2, 3, 4, 5, 6, 7], 3, async (i) => {
      now++;
      peak = Math.max(peak, now);
      await new Promise((r) => setTimeout(r, (7 - i) * 2));
      now--;
      done.push(i);
    });
    expect(left).toEqual([]);
    expect(peak).toBe(3);
    expect(done.sort()).toEqual([1, 2, 3, 4, 5, 6, 7]);
    const some: number[] = [];
    const rest = await runWindow([1, 2, 3, 4, 5], 2, async (i) => void some.push(i), () => some.length >= 2);
    expect(some).toEqual([1, 2]);
    expect(rest).toEqual([3, 4, 5]);
  });
});

import { describe, expect, it } from 'vitest';
import { parseMigrationInput, type MigrationSource } from '../../lib/migration-input';
import { parseSplit, shares, splitWaves, waveNames, wavesCsv } from '../../lib/migration-plan';
import { concurrencyRefusal, isInputRefusal, retryRefusal, skipRefusal, type WaveSite } from '../../workflows/lib/wave-state';

const HEADER = 'domain,source_ssh,source_path,source_db,source_db_host,source_db_user,source_db_password_file,from_url,to_url,wave';
const csv = (n: number, pin: Record<number, string> = {}) =>
  [HEADER, ...Array.from({ length: n }, (_, i) => `site-${i}.example.com,deploy@old${i % 7}.example.net:2222,/var/www/s${i},wp_${i},db.internal:3307,u${i},/etc/pw/${i},https://old-${i}.example.net,,${pin[i] ?? ''}`)].join('\n') + '\n';
const rows = (text: string): MigrationSource[] => {
  const r = parseMigrationInput(text, 'sites.csv');
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.rows;
};
const split = (text: string, percents = [10, 40, 50]) => {
  const r = splitWaves(rows(text), percents, ['pilot', 'bulk', 'final']);
  if (!r.ok) throw new Error(JSON.stringify(r.problems));
  return r.waves;
};

describe('migrate plan: waves from one list', () => {
  it.each([
    ['10,40,50', [10, 40, 50]],
    [' 34, 33 ,33', [34, 33, 33]],
  ])('parses the split %s', (text, percents) => expect(parseSplit(text)).toEqual({ ok: true, percents }));

  it.each([['10,40'], ['10,40,60'], ['0,50,50'], ['a,b'], ['10.5,89.5'], ['']])('refuses the split "%s"', (text) => expect(parseSplit(text).ok).toBe(false));

  it('names three waves pilot, bulk, final; others wave-n; refuses bad or repeated names', () => {
    expect(waveNames(3)).toEqual({ ok: true, names: ['pilot', 'bulk', 'final'] });
    expect(waveNames(2)).toEqual({ ok: true, names: ['wave-1', 'wave-2'] });
    expect(waveNames(2, 'a,a').ok).toBe(false);
    expect(waveNames(2, 'A,b').ok).toBe(false);
    expect(waveNames(2, 'single,b').ok).toBe(false);
  });

  it.each([[500, [10, 40, 50], [50, 200, 250]], [7, [10, 40, 50], [1, 3, 3]], [1, [10, 40, 50], [0, 0, 1]], [3, [34, 33, 33], [1, 1, 1]]])('shares %i sites by %j as %j', (n, p, out) => {
    expect(shares(n, p)).toEqual(out);
    expect(shares(n, p).reduce((a, b) => a + b, 0)).toBe(n);
  });

  it('splits 500 sites 10/40/50, every site once, the same way every time and whatever the row order', () => {
    const text = csv(500);
    const a = split(text);
    expect(a.map((w) => w.rows.length)).toEqual([50, 200, 250]);
    expect(new Set(a.flatMap((w) => w.rows.map((r) => r.domain))).size).toBe(500);
    expect(split(text)).toEqual(a);
    const [header, ...body] = text.trim().split('\n');
    const reversed = split([header, ...body.reverse()].join('\n'));
    for (const i of [0, 1, 2]) expect(reversed[i].rows.map((r) => r.domain).sort()).toEqual(a[i].rows.map((r) => r.domain).sort());
    // Not simply the first rows: the pilot is spread over the file.
    expect(Math.max(...a[0].rows.map((r) => r.line))).toBeGreaterThan(100);
    for (const w of a) for (const r of w.rows) expect(r.wave).toBe(w.name);
  });

  it('keeps a pinned site in its wave and counts it in that wave\'s share', () => {
    const a = split(csv(100));
    const inFinal = a[2].rows[0].domain;
    const pinnedLine = Number(/site-(\d+)/.exec(inFinal)![1]);
    const b = split(csv(100, { [pinnedLine]: 'pilot' }));
    expect(b.map((w) => w.rows.length)).toEqual([10, 40, 50]);
    expect(b[0].rows.map((r) => r.domain)).toContain(inFinal);
  });

  it('refuses a row pinned to a wave the split does not have, naming its line and field', () => {
    const r = splitWaves(rows(csv(5, { 2: 'wave-9' })), [10, 40, 50], ['pilot', 'bulk', 'final']);
    expect(r).toMatchObject({ ok: false, problems: [{ line: 4, field: 'wave' }] });
  });

  it('writes CSV that reads back as the same rows (IPv6 hosts, commas and quotes in paths)', () => {
    const text = `${HEADER}\nxn--caf-dma.example.com,root@[2001:db8::1]:22,"/var/www/a, ""b""",wp,,u,/pw,,,pilot\nb.example.com,deploy@h:2222,/x,wp,[2001:db8::2]:3306,u,/pw,https://b.old,https://b.example.com,\n`;
    const original = rows(text);
    const again = rows(wavesCsv(original));
    expect(again.map(({ line: _l, ...r }) => r)).toEqual(original.map(({ line: _l, ...r }) => r));
  });
});

describe('wave steering refusals (the update validators)', () => {
  const site = (state: WaveSite['state']): WaveSite => ({ domain: 'a.example.com', state, attempts: 1 });
  it.each([
    [undefined, false, 'site: no site a.example.com in wave w'],
    [site('failed'), true, 'wave w is being cancelled'],
    [site('running'), false, 'a.example.com is running: only a failed or cancelled site is retried'],
    [site('migrated'), false, 'a.example.com is migrated: only a failed or cancelled site is retried'],
    [site('failed'), false, null],
    [site('cancelled'), false, null],
  ])('retry %j (cancelling %s): %s', (s, cancelling, why) => expect(retryRefusal(s, 'a.example.com', 'w', cancelling)).toBe(why));
  it.each([
    [undefined, /^site: no site a.example.com in wave w$/],
    [site('running'), /in flight/],
    [site('migrated'), /already migrated/],
    [site('skipped'), /already skipped/],
    [site('queued'), null],
    [site('failed'), null],
  ])('skip %j: %s', (s, why) => (why ? expect(skipRefusal(s, 'a.example.com', 'w')).toMatch(why) : expect(skipRefusal(s, 'a.example.com', 'w')).toBeNull()));
  it.each([[0], [51], [2.5], ['5'], [null]])('refuses concurrency %j', (n) => expect(concurrencyRefusal(n)).toMatch(/concurrency: expected a whole number from 1 to 50/));
  it('names the field of what refuses the input (exit 2 in the CLI), not of what refuses the wave\'s state', () => {
    expect(isInputRefusal(retryRefusal(undefined, 'a.example.com', 'w', false)!)).toBe(true);
    expect(isInputRefusal(concurrencyRefusal(0)!)).toBe(true);
    expect(isInputRefusal(retryRefusal(site('migrated'), 'a.example.com', 'w', false)!)).toBe(false);
    expect(isInputRefusal(skipRefusal(site('running'), 'a.example.com', 'w')!)).toBe(false);
  });
  it('takes concurrency 1 and 50', () => {
    expect(concurrencyRefusal(1)).toBeNull();
    expect(concurrencyRefusal(50)).toBeNull();
  });
});

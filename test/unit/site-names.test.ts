/** Domain checks and derived names of a site (lib/site-names.ts, lib/domain-input.ts): tables and properties. */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { normalizeDomain } from '../../lib/domain-input';
import { domainProblem, MAX_DATABASE, MAX_DB_USER, MAX_STACK, siteNames } from '../../lib/site-names';
import { siteSchema } from '../../lib/site-registry';
import { scratchDatabaseNames, scratchNamesProblem } from '../../lib/scratch-names';

const alnum = 'abcdefghijklmnopqrstuvwxyz0123456789'.split('');
const label = (max: number) =>
  fc
    .tuple(fc.constantFrom(...alnum), fc.array(fc.constantFrom(...alnum, '-'), { maxLength: max - 2 }), fc.constantFrom(...alnum))
    .map(([a, mid, b]) => `${a}${mid.join('')}${b}`);
const tld = fc.constantFrom('com', 'org', 'de', 'test', 'shop', 'xn--p1ai');
/** Valid ASCII domains up to 253 characters, most of them long (labels up to 63). */
const domain = fc
  .tuple(fc.array(label(63), { minLength: 1, maxLength: 6 }), tld)
  .map(([ls, t]) => [...ls, t].join('.'))
  .filter((d) => d.length <= 253);
/** A label of exactly n characters. */
const labelOf = (n: number) =>
  fc
    .tuple(fc.constantFrom(...alnum), fc.array(fc.constantFrom(...alnum, '-'), { minLength: n - 2, maxLength: n - 2 }), fc.constantFrom(...alnum))
    .map(([a, mid, b]) => `${a}${mid.join('')}${b}`);
/** Domains at exactly 253 characters: three 63-character labels, one of 59, then .de (3·64 + 60 + 2 = 254 - 1). */
const maxLength = fc.tuple(labelOf(63), labelOf(63), labelOf(63), labelOf(58)).map((ls) => [...ls, 'de'].join('.'));

describe('domain input', () => {
  it.each([
    ['Shop.Example.COM.', 'shop.example.com'],
    ['bücher.de', 'xn--bcher-kva.de'],
    ['例え.テスト', 'xn--r8jz45g.xn--zckzah'],
    ['demo.drover.test', 'demo.drover.test'],
  ])('%s → %s', (input, ascii) => {
    expect(normalizeDomain(input)).toEqual({ ok: true, domain: ascii });
  });

  it.each([
    ['', /empty/],
    ['localhost', /dot|reserved/],
    ['printer.local', /reserved/],
    ['x.internal', /reserved/],
    ['site', /dot/],
    ['a..b.com', /empty label/],
    ['-a.com', /hyphens/],
    ['a_b.com', /characters a domain cannot/],
    ["x.com'; DROP DATABASE mysql; --", /characters a domain cannot/],
    ['$(reboot).com', /characters a domain cannot/],
    ['a.com/../../etc', /characters a domain cannot/],
    ['10.0.0.1', /IP address/],
    [`${'a'.repeat(64)}.com`, /at most 63/],
    [`${'abcdefghi.'.repeat(26)}com`, /at most 253/],
  ])('refuses %j', (input, why) => {
    const r = normalizeDomain(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(why);
  });

  it('any Unicode input either becomes a valid ASCII domain or is refused with a reason (never throws)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 80 }), (s) => {
        const r = normalizeDomain(s);
        if (r.ok) expect(domainProblem(r.domain)).toBeNull();
        else expect(r.problem.length).toBeGreaterThan(0);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('derived names', () => {
  const valid = (d: string) => {
    const n = siteNames(d);
    expect(n.database.length).toBeLessThanOrEqual(MAX_DATABASE);
    expect(n.dbUser.length).toBeLessThanOrEqual(MAX_DB_USER);
    expect(n.stack.length).toBeLessThanOrEqual(MAX_STACK);
    expect(`${n.stack}_wordpress`.length).toBeLessThanOrEqual(63);
    expect(n.dbSecret.length).toBeLessThanOrEqual(63);
    expect(n.database).toMatch(/^wp_[a-z0-9_]+$/);
    expect(n.dbUser).toMatch(/^wp_[a-z0-9_]+$/);
    expect(n.stack).toMatch(/^site-[a-z0-9][a-z0-9-]*[a-z0-9]$/);
    // A name the registry accepts, whose restore scratch names are safe.
    expect(siteSchema.shape.database.safeParse(n.database).success).toBe(true);
    const s = scratchDatabaseNames(n.database);
    expect(scratchNamesProblem({ live: n.database, ...s })).toBeNull();
    expect(n.docroot.startsWith(`${n.siteRoot}/`)).toBe(true);
    return n;
  };

  it('within every limit at any length, up to 253 characters', () => {
    fc.assert(fc.property(domain, (d) => void valid(d)), { numRuns: 3000 });
    fc.assert(
      fc.property(maxLength, (d) => {
        expect(d.length).toBe(253);
        valid(d);
      }),
      { numRuns: 300 },
    );
  });

  it('distinct domains get distinct databases, users and stacks, also when they flatten alike or share a long head', () => {
    const pairs = [
      ['a-b.com', 'a.b.com'],
      ['demo.drover.test', 'demo-drover.test'],
      [`${'x'.repeat(60)}.one.com`, `${'x'.repeat(60)}.two.com`],
    ];
    for (const [a, b] of pairs) {
      const [na, nb] = [valid(a), valid(b)];
      expect(na.database).not.toBe(nb.database);
      expect(na.dbUser).not.toBe(nb.dbUser);
      expect(na.stack).not.toBe(nb.stack);
    }
    fc.assert(
      fc.property(domain, domain, (a, b) => {
        fc.pre(a !== b);
        expect(siteNames(a).database).not.toBe(siteNames(b).database);
        expect(siteNames(a).dbUser).not.toBe(siteNames(b).dbUser);
      }),
      { numRuns: 3000 },
    );
  });

  it('is deterministic and never contains the restore scratch marker (a domain with "drover" in it)', () => {
    expect(siteNames('demo.drover.test')).toEqual(siteNames('demo.drover.test'));
    expect(siteNames('demo.drover.test').database).not.toContain('_drover_');
    expect(siteNames('x.drover-drover.test').database).not.toContain('_drover_');
  });

  it('refuses a domain domainProblem refuses', () => {
    expect(() => siteNames('bad_name.com')).toThrow(/bad_name/);
  });
});

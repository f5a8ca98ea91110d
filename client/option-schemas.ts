/** Option schemas more than one command parses the same way. */
import { z } from 'zod';
import { dayNumber } from '../lib/retention';
import { normalizeDomain } from '../lib/domain-input';
import { UsageError } from './output';

/** A real calendar date YYYY-MM-DD (2026-02-30 refused, which `Date.parse` takes). */
export const calendarDate = z.string().refine((d) => {
  try {
    dayNumber(d);
    return true;
  } catch {
    return false;
  }
}, 'a calendar date YYYY-MM-DD');

/** Today's date in UTC, YYYY-MM-DD. */
export const todayUtc = (): string => new Date().toISOString().slice(0, 10);

/** A whole number from 1 to `max` given as digits only (`0x10`, `1e3` and `2.5` refused), else UsageError naming `field`. */
export function wholeNumber(v: unknown, field: string, max: number): number {
  const s = String(v ?? '');
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > max) throw new UsageError(field, `expected a whole number from 1 to ${max}, got "${s.slice(0, 20)}"`);
  return n;
}

/**
 * A site's domain as an operator types it, normalised as the registry stores it (lower case, an IDN as its
 * xn-- form, no trailing dot): `Shop.Example.com` is the site shop.example.com, not an unknown one.
 */
export const siteDomain = z.string().transform((v, ctx) => {
  const d = normalizeDomain(v);
  if (d.ok) return d.domain;
  ctx.addIssue({ code: 'custom', message: d.problem });
  return z.NEVER;
});

/**
 * The operators' retention policy for restore points, as a pure function (no I/O, no clock): the prune
 * activity, `drover retention plan` and `drover backup prune --dry-run` all compute the same plan from it.
 *
 * - daily: every complete point aged 0-13 calendar days (UTC) from the run's nominal date;
 * - weekly: for each of the 26 most recent ISO weeks (Monday-Sunday, current week counted), the Sunday point
 *   if complete, else the newest complete point of that week;
 * - monthly: for each of the 12 most recent calendar months (current month counted), the point of the 1st if
 *   complete, else the oldest complete point of that month;
 * - a point is kept if any tier keeps it; the newest 3 complete points are always kept;
 * - incomplete points older than 2 days are deleted, younger ones are left alone (a backup may be running).
 * Points dated after `now` are kept and flagged: a clock or naming problem is never a reason to delete.
 *
 * Safety points (`safety/<YYYYMMDDTHHMMSSZ>`, taken by a restore before it changes a live site) are outside the
 * tiers: each is kept for `safetyDays` (14) calendar days from the day it was taken, then deleted.
 */

export interface RetentionPolicy {
  dailyDays: number;
  weeks: number;
  months: number;
  keepNewest: number;
  incompleteGraceDays: number;
  /** Days a safety point is kept. */
  safetyDays: number;
}

export const DEFAULT_RETENTION: Readonly<RetentionPolicy> = Object.freeze({ dailyDays: 14, weeks: 26, months: 12, keepNewest: 3, incompleteGraceDays: 2, safetyDays: 14 });

export interface RestorePointRef {
  /** YYYY-MM-DD (UTC), the nominal date of the backup night, or a safety point's `safety/<id>`. */
  date: string;
  complete: boolean;
}

export type RetentionReason = 'daily' | 'weekly' | 'monthly' | 'newest' | 'incomplete-recent' | 'incomplete-stale' | 'future' | 'expired' | 'safety' | 'safety-expired';

export interface RetentionDecision extends RestorePointRef {
  action: 'keep' | 'delete';
  reasons: RetentionReason[];
  /** For weekly/monthly keeps: which period it represents (2026-W47, 2026-11). */
  periods: string[];
  ageDays: number;
}

export interface RetentionPlan {
  now: string;
  policy: RetentionPolicy;
  keep: number;
  delete: number;
  decisions: RetentionDecision[];
}

const DAY_MS = 86_400_000;

export class InvalidDateError extends Error {
  override readonly name = 'InvalidDateError';
}

/** Days since 1970-01-01 for a strict YYYY-MM-DD calendar date (rejects 2026-02-30 and friends). */
export function dayNumber(date: string): number {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!m) throw new InvalidDateError(`"${date}" is not a date of the form YYYY-MM-DD`);
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d) throw new InvalidDateError(`"${date}" is not a calendar date`);
  return ms / DAY_MS;
}

export function dateOf(day: number): string {
  return new Date(day * DAY_MS).toISOString().slice(0, 10);
}

/** Monday (day number) of the ISO week containing `day`. 1970-01-01 was a Thursday. */
function mondayOf(day: number): number {
  const weekday = (((day + 3) % 7) + 7) % 7; // 0 = Monday
  return day - weekday;
}

/** ISO week label (2026-W47) of the week starting on `monday`. */
function isoWeekLabel(monday: number): string {
  const thursday = monday + 3;
  const year = new Date(thursday * DAY_MS).getUTCFullYear();
  const week = Math.floor((thursday - dayNumber(`${year}-01-01`)) / 7) + 1;
  return `${year}-W${String(week).padStart(2, '0')}`;
}

function monthIndex(day: number): number {
  const d = new Date(day * DAY_MS);
  return d.getUTCFullYear() * 12 + d.getUTCMonth();
}

function monthLabel(index: number): string {
  return `${Math.floor(index / 12)}-${String((index % 12) + 1).padStart(2, '0')}`;
}

/** The day (number) a safety point was taken, from its name; null when `date` is not a safety point. */
export function safetyPointDay(date: string): number | null {
  const m = /^safety\/(\d{4})(\d{2})(\d{2})T\d{6}Z$/.exec(date);
  return m ? dayNumber(`${m[1]}-${m[2]}-${m[3]}`) : null;
}

export function planRetention(allPoints: RestorePointRef[], now: string, policy: RetentionPolicy = DEFAULT_RETENTION): RetentionPlan {
  const today = dayNumber(now);
  const safetyDays = policy.safetyDays ?? DEFAULT_RETENTION.safetyDays;
  const safety: RetentionDecision[] = [];
  const points: RestorePointRef[] = [];
  for (const p of allPoints) {
    const day = safetyPointDay(p.date);
    if (day === null) points.push(p);
    else {
      // Kept whole days from the day taken; a safety point from the future (clock problem) is kept.
      const ageDays = today - day;
      const expired = ageDays >= safetyDays;
      safety.push({ date: p.date, complete: p.complete, action: expired ? 'delete' : 'keep', reasons: [expired ? 'safety-expired' : 'safety'], periods: [], ageDays });
    }
  }
  const seen = new Set<string>();
  const entries = points.map((p) => {
    if (seen.has(p.date)) throw new InvalidDateError(`restore point ${p.date} is listed twice`);
    seen.add(p.date);
    return { p, day: dayNumber(p.date), reasons: new Set<RetentionReason>(), periods: [] as string[] };
  });
  const complete = entries.filter((e) => e.p.complete && e.day <= today);
  const keep = (e: (typeof entries)[number], r: RetentionReason, period?: string) => {
    e.reasons.add(r);
    if (period) e.periods.push(period);
  };

  for (const e of complete) if (today - e.day < policy.dailyDays) keep(e, 'daily');

  const thisMonday = mondayOf(today);
  for (let w = 0; w < policy.weeks; w++) {
    const monday = thisMonday - 7 * w;
    const inWeek = complete.filter((e) => e.day >= monday && e.day <= monday + 6);
    if (inWeek.length === 0) continue;
    const rep = inWeek.find((e) => e.day === monday + 6) ?? inWeek.reduce((a, b) => (b.day > a.day ? b : a));
    keep(rep, 'weekly', isoWeekLabel(monday));
  }

  const thisMonth = monthIndex(today);
  for (let m = 0; m < policy.months; m++) {
    const idx = thisMonth - m;
    const inMonth = complete.filter((e) => monthIndex(e.day) === idx);
    if (inMonth.length === 0) continue;
    const rep = inMonth.find((e) => new Date(e.day * DAY_MS).getUTCDate() === 1) ?? inMonth.reduce((a, b) => (b.day < a.day ? b : a));
    keep(rep, 'monthly', monthLabel(idx));
  }

  for (const e of [...complete].sort((a, b) => b.day - a.day).slice(0, policy.keepNewest)) keep(e, 'newest');

  for (const e of entries) {
    if (e.day > today) keep(e, 'future');
    else if (!e.p.complete) e.reasons.add(today - e.day > policy.incompleteGraceDays ? 'incomplete-stale' : 'incomplete-recent');
  }

  const decisions: RetentionDecision[] = entries
    .sort((a, b) => b.day - a.day)
    .map((e): RetentionDecision => {
      const reasons = [...e.reasons];
      const action = reasons.length === 0 || (reasons.length === 1 && reasons[0] === 'incomplete-stale') ? 'delete' : 'keep';
      return { date: e.p.date, complete: e.p.complete, action, reasons: reasons.length ? reasons : ['expired'], periods: e.periods, ageDays: today - e.day };
    })
    .concat(safety.sort((a, b) => (a.date < b.date ? 1 : -1)));
  return { now, policy: { ...policy, safetyDays }, keep: decisions.filter((d) => d.action === 'keep').length, delete: decisions.filter((d) => d.action === 'delete').length, decisions };
}

/**
 * Reads the `--input` of `drover retention plan`: a JSON array (of dates, or of {date, complete} objects) or
 * one ISO date per line (each a complete point). Errors name the entry.
 */
export function parseRestorePoints(text: string): RestorePointRef[] {
  const trimmed = text.trim();
  if (trimmed.startsWith('[')) {
    let arr: unknown;
    try {
      arr = JSON.parse(trimmed);
    } catch (err) {
      throw new InvalidDateError(`input is not valid JSON: ${(err as Error).message}`);
    }
    return (arr as unknown[]).map((item, i) => {
      if (typeof item === 'string') return { date: checkDate(item.slice(0, 10), `[${i}]`, item), complete: true };
      const o = item as { date?: unknown; complete?: unknown };
      if (typeof o?.date !== 'string') throw new InvalidDateError(`[${i}].date: expected a date string`);
      if (o.complete !== undefined && typeof o.complete !== 'boolean') throw new InvalidDateError(`[${i}].complete: expected true or false`);
      return { date: checkDate(o.date.slice(0, 10), `[${i}].date`, o.date), complete: o.complete ?? true };
    });
  }
  return trimmed
    .split('\n')
    .map((l, i) => ({ line: l.trim(), n: i + 1 }))
    .filter((x) => x.line && !x.line.startsWith('#'))
    .map((x) => ({ date: checkDate(x.line.slice(0, 10), `line ${x.n}`, x.line), complete: true }));
}

function checkDate(date: string, where: string, original: string): string {
  if (original.length > 10 && !/^\d{4}-\d{2}-\d{2}T[\d:.]+(Z|[+-]\d{2}:?\d{2})?$/.test(original)) throw new InvalidDateError(`${where}: "${original}" is not an ISO date`);
  try {
    dayNumber(date);
  } catch (err) {
    throw new InvalidDateError(`${where}: ${(err as Error).message}`);
  }
  return date;
}

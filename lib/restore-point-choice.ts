/**
 * Which restore point a restore uses: `latest`, a date (YYYY-MM-DD) or an ISO timestamp. A restore point is
 * named by its night's nominal date, so a timestamp resolves to the newest complete point whose date is on or
 * before the timestamp's UTC date. Pure: the restore workflow, the CLI's --dry-run and tests share it.
 */
import { dayNumber, InvalidDateError } from './retention';

export type RestoreTarget = { kind: 'latest' } | { kind: 'date'; date: string };

/** Parses `--at`; throws InvalidDateError naming what is wrong. */
export function parseRestoreAt(at: string | undefined): RestoreTarget {
  if (!at || at === 'latest') return { kind: 'latest' };
  if (/^\d{4}-\d{2}-\d{2}$/.test(at)) {
    dayNumber(at);
    return { kind: 'date', date: at };
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(at)) {
    const t = new Date(at);
    if (Number.isNaN(t.getTime())) throw new InvalidDateError(`"${at}" is not a valid timestamp`);
    dayNumber(at.slice(0, 10));
    return { kind: 'date', date: t.toISOString().slice(0, 10) };
  }
  throw new InvalidDateError(`"${at}" is not "latest", a date YYYY-MM-DD or an ISO timestamp with a time zone`);
}

/** The newest complete point at or before the target, or null (e.g. a time before the first backup). */
export function chooseRestorePoint(points: { date: string; complete: boolean }[], target: RestoreTarget): string | null {
  const candidates = points.filter((p) => p.complete && (target.kind === 'latest' || p.date <= target.date)).map((p) => p.date);
  return candidates.sort().at(-1) ?? null;
}

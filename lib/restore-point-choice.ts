/**
 * Which restore point a restore uses: `latest`, a date (YYYY-MM-DD), an ISO timestamp, or a safety point by name
 * (`safety/<id>`). A date picks the newest complete point of that nominal date or before. A timestamp picks by
 * when the point was taken, never by its name: the newest complete point taken at or before the time, where
 * "taken" is the later of the database dump's consistent snapshot and the end of the files archive (both recorded
 * in the manifest object's metadata, readable without the private key). A point written before those were
 * recorded counts as taken when its manifest was written (the last step of a backup): later than the truth,
 * so such a point is never picked for a time before it held its data. Pure: the CLI (which resolves `--at` once
 * and passes the point to the restore), the drill workflow (each site's latest) and tests share it.
 */
import { dayNumber, InvalidDateError } from './retention';

export type RestoreTarget = { kind: 'latest' } | { kind: 'date'; date: string } | { kind: 'time'; time: string } | { kind: 'point'; point: string };

/** What the choice needs of a point: `takenAt` recorded at backup time, else `manifestWrittenAt`. */
export interface ChoosablePoint {
  date: string;
  complete: boolean;
  takenAt?: string | null;
  manifestWrittenAt?: string | null;
}

/** Safety point names: `safety/` and a UTC time to the second, as restores name them. */
export const SAFETY_POINT = /^safety\/\d{8}T\d{6}Z$/;

/** Parses `--at`; throws InvalidDateError naming what is wrong. */
export function parseRestoreAt(at: string | undefined): RestoreTarget {
  if (!at || at === 'latest') return { kind: 'latest' };
  if (SAFETY_POINT.test(at)) return { kind: 'point', point: at };
  if (/^\d{4}-\d{2}-\d{2}$/.test(at)) {
    dayNumber(at);
    return { kind: 'date', date: at };
  }
  if (/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/.test(at)) {
    const t = new Date(at);
    if (Number.isNaN(t.getTime())) throw new InvalidDateError(`"${at}" is not a valid timestamp`);
    dayNumber(at.slice(0, 10));
    return { kind: 'time', time: t.toISOString() };
  }
  throw new InvalidDateError(`"${at}" is not "latest", a date YYYY-MM-DD, an ISO timestamp with a time zone or a safety point safety/<YYYYMMDDTHHMMSSZ>`);
}

/** When a point was taken, as far as can be told without decrypting it (null: unknown, never chosen by time). */
export function pointTakenAt(p: ChoosablePoint): string | null {
  return p.takenAt ?? p.manifestWrittenAt ?? null;
}

/**
 * The newest complete point at or before the target, or null (e.g. a time before the first backup). Safety points
 * are chosen only by name: they are outside the dated series.
 */
export function chooseRestorePoint(points: ChoosablePoint[], target: RestoreTarget): string | null {
  if (target.kind === 'point') return points.some((p) => p.complete && p.date === target.point) ? target.point : null;
  const dated = points.filter((p) => p.complete && !p.date.startsWith('safety/'));
  if (target.kind === 'time') {
    const at = Date.parse(target.time);
    const taken = dated.map((p) => ({ date: p.date, t: pointTakenAt(p) })).filter((p): p is { date: string; t: string } => p.t !== null && Date.parse(p.t) <= at);
    return taken.sort((a, b) => (a.t < b.t ? -1 : a.t > b.t ? 1 : a.date < b.date ? -1 : 1)).at(-1)?.date ?? null;
  }
  return dated.filter((p) => target.kind === 'latest' || p.date <= target.date).map((p) => p.date).sort().at(-1) ?? null;
}

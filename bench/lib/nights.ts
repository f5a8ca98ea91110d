/**
 * Backup nights a bench environment never backed up before: a night whose points are complete already does nothing,
 * and would measure nothing. A counter file in the state folder keeps the last day taken.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/**
 * Takes `count` unused days after `epoch` (YYYY-MM-DD) from the counter `name` in `stateDir`; returns the first
 * day's number and a function giving day `d`'s date.
 */
export function takeNights(stateDir: string, name: string, count: number, epoch: string): { day: number; date: (d: number) => string } {
  const counter = path.join(stateDir, name);
  const last = existsSync(counter) ? Number(readFileSync(counter, 'utf8')) : -count;
  if (!Number.isInteger(last) || last < -count) throw new Error(`${counter}: not a whole number of days; remove it`);
  const day = last + count;
  writeFileSync(counter, String(day));
  const start = Date.parse(`${epoch}T00:00:00Z`);
  return { day, date: (d: number) => new Date(start + d * 86_400_000).toISOString().slice(0, 10) };
}

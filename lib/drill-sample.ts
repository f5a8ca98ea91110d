/**
 * Which sites a weekly restore drill restores: a rotating window over the sorted site list, so every site is
 * drilled once every ceil(n / size) weeks and two drills in a row never pick the same sites (while n > size).
 * Pure: the workflow calls it with the week number of its nominal date, so a replay picks the same sample.
 */
export function drillSample(domains: string[], size: number, week: number): string[] {
  const sorted = [...new Set(domains)].sort();
  if (size <= 0 || sorted.length === 0) return [];
  if (size >= sorted.length) return sorted;
  const rounds = Math.ceil(sorted.length / size);
  const start = ((week % rounds) + rounds) % rounds * size;
  const picked = sorted.slice(start, start + size);
  // The last window of a rotation is short: top it up from the start so every drill restores `size` sites.
  return picked.length < size ? [...picked, ...sorted.slice(0, size - picked.length)] : picked;
}

/** Whole weeks since 1970-01-05 (a Monday) of a YYYY-MM-DD date. */
export function weekNumber(date: string): number {
  const days = Math.floor(Date.parse(`${date}T00:00:00Z`) / 86_400_000);
  return Math.floor((days - 4) / 7);
}

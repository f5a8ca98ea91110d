/**
 * Waves from one migration list (issue 16): `drover migrate plan --split 10,40,50` cuts the list into a pilot,
 * a bulk and a final wave. Pure and stable: sites are ordered by a hash of their domain (not by their place in the
 * file, so the pilot is not just the first rows, and the same list always splits the same way), each wave takes
 * its share (largest remainder), and a row whose `wave` column names one of the waves is pinned there.
 */
import { fnv1a64 } from './hash';
import { DEFAULT_WAVE, MIGRATION_COLUMNS, type InputProblem, type MigrationSource } from './migration-input';

export interface PlannedWave {
  name: string;
  percent: number;
  rows: MigrationSource[];
}

const WAVE_NAME = /^[a-z0-9][a-z0-9-]{0,39}$/;

/** The split's percentages ("10,40,50"): whole numbers above 0 adding up to 100; a message naming why not. */
export function parseSplit(text: string): { ok: true; percents: number[] } | { ok: false; message: string } {
  const parts = text.split(',').map((p) => p.trim());
  if (parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) < 1)) return { ok: false, message: `expected whole percentages above 0 separated by commas (e.g. 10,40,50), got "${text.slice(0, 80)}"` };
  const percents = parts.map(Number);
  const sum = percents.reduce((a, b) => a + b, 0);
  if (sum !== 100) return { ok: false, message: `the percentages add up to ${sum}, not 100` };
  return { ok: true, percents };
}

/** The waves' names: pilot, bulk, final for three; wave-1 … wave-n otherwise; or the operator's. */
export function waveNames(count: number, given?: string): { ok: true; names: string[] } | { ok: false; message: string } {
  const names = given ? given.split(',').map((n) => n.trim()) : count === 3 ? ['pilot', 'bulk', 'final'] : Array.from({ length: count }, (_, i) => `wave-${i + 1}`);
  if (names.length !== count) return { ok: false, message: `${names.length} names for ${count} waves` };
  const bad = names.find((n) => !WAVE_NAME.test(n) || n === DEFAULT_WAVE);
  if (bad !== undefined) return { ok: false, message: `"${bad}" is not a wave name (lower-case letters, digits and -, at most 40, not "${DEFAULT_WAVE}")` };
  if (new Set(names).size !== names.length) return { ok: false, message: 'a wave name is given twice' };
  return { ok: true, names };
}

/** Shares of `total` by percentage, rounded by largest remainder (they add up to `total`). */
export function shares(total: number, percents: number[]): number[] {
  const exact = percents.map((p) => (total * p) / 100);
  const out = exact.map(Math.floor);
  const order = exact.map((e, i) => ({ i, r: e - Math.floor(e) })).sort((a, b) => b.r - a.r || a.i - b.i);
  const missing = total - out.reduce((a, b) => a + b, 0);
  for (let k = 0; k < missing; k++) out[order[k].i]++;
  return out;
}

/** Splits the rows into waves; rows pinned to a wave not in `names` are problems (line, field `wave`). */
export function splitWaves(rows: MigrationSource[], percents: number[], names: string[]): { ok: true; waves: PlannedWave[] } | { ok: false; problems: InputProblem[] } {
  const problems = rows
    .filter((r) => r.wave !== DEFAULT_WAVE && !names.includes(r.wave))
    .map((r) => ({ line: r.line, field: 'wave', message: `pinned to "${r.wave}", which is not one of this split's waves (${names.join(', ')})` }));
  if (problems.length) return { ok: false, problems };
  const waves: PlannedWave[] = names.map((name, i) => ({ name, percent: percents[i], rows: rows.filter((r) => r.wave === name) }));
  const free = rows.filter((r) => r.wave === DEFAULT_WAVE).map((r) => ({ r, h: fnv1a64(r.domain) })).sort((a, b) => (a.h < b.h ? -1 : a.h > b.h ? 1 : a.r.domain < b.r.domain ? -1 : 1));
  const quota = shares(rows.length, percents);
  let next = 0;
  waves.forEach((w, i) => {
    const room = i === waves.length - 1 ? free.length - next : Math.max(0, quota[i] - w.rows.length);
    for (const { r } of free.slice(next, next + room)) w.rows.push({ ...r, wave: w.name });
    next += Math.min(room, free.length - next);
  });
  for (const w of waves) w.rows.sort((a, b) => a.line - b.line);
  return { ok: true, waves };
}

function csvField(v: string): string {
  return /[",\r\n]|^\s|\s$/.test(v) ? `"${v.replace(/"/g, '""')}"` : v;
}

const bracket = (host: string) => (host.includes(':') ? `[${host}]` : host);

/** A wave's rows as a migration CSV (the input's columns and `wave`), which parseMigrationInput reads back. */
export function wavesCsv(rows: MigrationSource[]): string {
  const lines = [[...MIGRATION_COLUMNS, 'wave'].join(',')];
  for (const r of rows) {
    const dbHost = r.sourceDbHost.host === 'localhost' && r.sourceDbHost.port === null ? 'localhost' : `${bracket(r.sourceDbHost.host)}${r.sourceDbHost.port ? `:${r.sourceDbHost.port}` : ''}`;
    const fields = [r.domain, `${r.ssh.user}@${bracket(r.ssh.host)}:${r.ssh.port}`, r.sourcePath, r.sourceDb, dbHost, r.sourceDbUser, r.sourceDbPasswordFile, r.fromUrl, r.toUrl, r.wave];
    lines.push(fields.map(csvField).join(','));
  }
  return lines.join('\n') + '\n';
}

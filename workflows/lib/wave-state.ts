/**
 * A migration wave's state (issue 16): every site with where it stands, the queue of sites still to start, and
 * the steering an operator did (paused, concurrency). Plain data carried across continue-as-new; the checks the
 * wave's update validators run are here, pure, so a refusal names why and changes nothing.
 */
import type { SourceRef } from '../../activities/lib/old-host';
import type { MigrationTarget } from '../migrate-site';

export type WaveSiteState = 'queued' | 'running' | 'migrated' | 'failed' | 'skipped' | 'cancelled';
/**
 * running: sites start as the window allows · paused: none starts, those in flight wait after their step ·
 * waiting: nothing left to start but failed sites (retry or skip them) · cancelling: in-flight sites rolling back ·
 * cancelled / done: the wave ended.
 */
export type WaveState = 'running' | 'paused' | 'waiting' | 'cancelling' | 'cancelled' | 'done';

export const WAVE_SITE_STATES: readonly WaveSiteState[] = ['queued', 'running', 'migrated', 'failed', 'skipped', 'cancelled'];
/** Highest concurrency an operator may set: each site in flight holds an SSH session and a staging load. */
export const MAX_WAVE_CONCURRENCY = 50;

export interface WaveSite {
  domain: string;
  state: WaveSiteState;
  /** The child's current (or last) step, as it reported it. */
  step?: string;
  /** In flight and waiting before `step` because the wave is paused. */
  paused?: boolean;
  /** The last failure's cause (cleared when the site is retried). */
  error?: string;
  startedAt?: string;
  endedAt?: string;
  /** Children started for the site (1, or more after retries). */
  attempts: number;
  /** Migrated by an earlier run of this wave ID: reported, not redone. */
  earlierRun?: boolean;
}

export interface WaveCarry {
  sites: WaveSite[];
  /** Domains still to start, in order. */
  queue: string[];
  paused: boolean;
  pausedAt?: string;
  concurrency: number;
  startedAt: string;
  /** Runs of the wave so far (continue-as-new count + 1). */
  run: number;
}

export interface MigrationWaveInput {
  /** The wave's name: lower-case letters, digits and -, at most 40 (the file's `wave` column). */
  wave: string;
  sources: SourceRef[];
  /** Sites in flight at once (default 5, at most MAX_WAVE_CONCURRENCY); setConcurrencyUpdate changes it live. */
  concurrency?: number;
  /** Sites started per run before continuing as new (default 100: a run's history stays a few thousand events). */
  sitesPerRun?: number;
  bandwidthLimitKBps?: number;
  /** Where each site lands (migrateSiteWorkflow's `target`); without it every site stops at a staged copy. */
  target?: MigrationTarget;
  /** Each site's long-step timeouts (migrateSiteWorkflow's `timeouts`). */
  timeouts?: { heartbeat?: string | number; startToClose?: string | number };
  /** The migration file's sha256 and who started the wave: the wave's row in drover_meta.migration_waves. */
  fileDigest?: string;
  operator?: string;
  /** Each site switched over to the farm (migrateSiteWorkflow's `cutover`). */
  cutover?: { ttlSeconds: number };
  /** Carried across continue-as-new; absent on a wave's first run. */
  carry?: WaveCarry;
}

export interface WaveProgress {
  wave: string;
  state: WaveState;
  concurrency: number;
  total: number;
  counts: Record<WaveSiteState, number>;
  inFlight: WaveSite[];
  failed: WaveSite[];
  /** Every site (left out when the query asks `{ sites: false }`). */
  sites?: WaveSite[];
  startedAt: string;
  endedAt?: string;
  pausedAt?: string;
  run: number;
}

/** What an accepted steering update answers. */
export interface WaveAck {
  wave: string;
  state: WaveState;
  concurrency: number;
  /** Sites in flight when the update was applied (after pause: they finish their step and wait). */
  inFlight: string[];
  message: string;
}

export function emptyCounts(): Record<WaveSiteState, number> {
  return { queued: 0, running: 0, migrated: 0, failed: 0, skipped: 0, cancelled: 0 };
}

export function countSites(sites: Iterable<WaveSite>): Record<WaveSiteState, number> {
  const c = emptyCounts();
  for (const s of sites) c[s.state]++;
  return c;
}

/** Why a site may not be retried now, or null. */
export function retryRefusal(site: WaveSite | undefined, domain: string, wave: string, cancelling: boolean): string | null {
  if (!site) return `site: no site ${domain} in wave ${wave}`;
  if (cancelling) return `wave ${wave} is being cancelled`;
  if (site.state !== 'failed' && site.state !== 'cancelled') return `${domain} is ${site.state}: only a failed or cancelled site is retried`;
  return null;
}

/** Why a site may not be skipped now, or null. */
export function skipRefusal(site: WaveSite | undefined, domain: string, wave: string): string | null {
  if (!site) return `site: no site ${domain} in wave ${wave}`;
  if (site.state === 'running') return `${domain} is in flight (${site.step ?? 'starting'}): cancel the wave to roll it back`;
  if (site.state === 'migrated' || site.state === 'skipped') return `${domain} is already ${site.state}`;
  return null;
}

/**
 * A refusal that names its field ("site: …", "concurrency: …") refuses the operator's input (a site not in the wave,
 * a concurrency out of range): InvalidInput. The others refuse what the wave's state allows now.
 */
export function isInputRefusal(why: string): boolean {
  return /^(site|concurrency): /.test(why);
}

/** Why a concurrency may not be set, or null. */
export function concurrencyRefusal(n: unknown): string | null {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > MAX_WAVE_CONCURRENCY) return `concurrency: expected a whole number from 1 to ${MAX_WAVE_CONCURRENCY}, got ${JSON.stringify(n)}`;
  return null;
}

/**
 * Names of the scratch databases a restore uses beside a site's live database: `staging` (the restore point
 * being loaded) and `previous` (the replaced tables, kept until the restore commits so it can be undone).
 *
 * Pure and deterministic, so a workflow can derive them. The old scheme appended a suffix and cut to 64
 * characters, so at 56–64 characters the staging and previous names collided (and at 64 both were the live
 * name). Here the suffix is never cut: the live name is shortened instead and a 64-bit hash of the whole live
 * name is appended, so
 * - staging and previous always differ (`_stg_` / `_prev_` at the same place);
 * - neither equals a live name, because registration refuses names containing `_drover_`;
 * - two live names that share their first 34 characters still get different scratch names unless their
 *   64-bit FNV-1a hashes collide too.
 */

import { fnv1a64 } from './hash';

export const SCRATCH_MARKER = '_drover_';
const MAX = 64;
const SUFFIXES = { staging: `${SCRATCH_MARKER}stg_`, previous: `${SCRATCH_MARKER}prev_` } as const;
const HASH_HEX = 16;
const KEEP = MAX - SUFFIXES.previous.length - HASH_HEX;

export interface ScratchNames {
  staging: string;
  previous: string;
}

/** The staging and previous database names for a live database name (1–64 characters). */
export function scratchDatabaseNames(live: string): ScratchNames {
  const head = live.slice(0, KEEP);
  const hash = fnv1a64(live);
  return { staging: `${head}${SUFFIXES.staging}${hash}`, previous: `${head}${SUFFIXES.previous}${hash}` };
}

/** Why a set of live/staging/previous names is unsafe to swap with, or null: all three must differ. */
export function scratchNamesProblem(names: { live: string; staging: string; previous: string }): string | null {
  const { live, staging, previous } = names;
  if (live === staging || live === previous || staging === previous) {
    return `database names must all differ, got live ${live}, staging ${staging}, previous ${previous}`;
  }
  return null;
}

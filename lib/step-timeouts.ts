/**
 * Overrides of the long steps' timeouts a workflow's input may carry (workflows/lib/proxies.ts applies them), and
 * what makes one acceptable. Pure: used in workflow code, where a duration Temporal cannot parse would fail the
 * workflow task at the step that uses it, again at every retry of the task, the workflow stuck instead of failed.
 */
import { msToNumber } from '@temporalio/common/lib/time';
import type { Duration } from '@temporalio/common';

/**
 * Durations as Temporal takes them ('30 seconds', '5s', milliseconds). Each override replaces that timeout of every
 * long step it is given to; a timeout not given keeps the step's own default.
 */
export interface StepTimeouts {
  heartbeat?: string | number;
  startToClose?: string | number;
}

/** An override is at least a second (a heartbeat is sent once a second) and at most a day. */
export const STEP_TIMEOUT_MIN_MS = 1000;
export const STEP_TIMEOUT_MAX_MS = 24 * 3600 * 1000;

/** What is wrong with `t` as step timeouts, naming the field (`timeouts.heartbeat: …`), or null when nothing is. */
export function stepTimeoutsProblem(t: unknown, field = 'timeouts'): string | null {
  if (t === undefined || t === null) return null;
  if (typeof t !== 'object' || Array.isArray(t)) return `${field}: an object of heartbeat and startToClose, not ${JSON.stringify(t)}`;
  for (const [k, v] of Object.entries(t)) {
    if (k !== 'heartbeat' && k !== 'startToClose') return `${field}.${k}: not a step timeout (heartbeat, startToClose)`;
    if (v === undefined) continue;
    let ms: number;
    try {
      if (typeof v !== 'string' && typeof v !== 'number') throw new TypeError('not a duration');
      ms = msToNumber(v as Duration);
    } catch {
      return `${field}.${k}: ${JSON.stringify(v)} is not a duration ('30 seconds', '5m' or milliseconds)`;
    }
    if (!Number.isFinite(ms) || ms < STEP_TIMEOUT_MIN_MS || ms > STEP_TIMEOUT_MAX_MS) return `${field}.${k}: ${JSON.stringify(v)} is outside 1 second to 24 hours`;
  }
  return null;
}

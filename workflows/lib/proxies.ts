/**
 * The one place activity timeouts and retry policies are set, one proxy per timeout class.
 * - api: quick calls to an outside API (S3, Docker, SQL status). One minute is generous; retried with backoff.
 *   localApi: the same as local activities.
 * - longApi: batches of API calls (retention over 50 sites); they heartbeat after each item and resume from it.
 * - cloud: cloud provider API calls. Throttling (429) is expected during a 33-droplet bring-up, so attempts are
 *   unlimited within a 30-minute budget and each wait follows the server's Retry-After.
 * - cloudWait: waiting for cloud resources to become ready; heartbeats every poll.
 * - remoteExec: commands on remote hosts that may run long (package installs, dumps); they heartbeat every
 *   few seconds so a dead worker is noticed within 30 s instead of after the 30-minute ceiling.
 */
import { ActivityCancellationType, ActivityFailure, ApplicationFailure, proxyActivities, proxyLocalActivities, type ActivityOptions } from '@temporalio/workflow';
import { RetryState } from '@temporalio/common';
import type { Duration } from '@temporalio/common';
import type { Activities } from '../../activities';
import { nonRetryableErrorTypes } from '../../lib/contract/failures';
import { stepTimeoutsProblem, type StepTimeouts } from '../../lib/step-timeouts';

/**
 * Exponential backoff (doubling, up to a minute between attempts unless told) from `initialInterval`, the permanent
 * failure types never retried: every proxy's retry policy but the single-attempt one.
 */
function backoff(initialInterval: Duration, extra: { maximumInterval?: Duration; maximumAttempts?: number } = {}): NonNullable<ActivityOptions['retry']> {
  return { initialInterval, backoffCoefficient: 2, maximumInterval: extra.maximumInterval ?? '1 minute', ...(extra.maximumAttempts ? { maximumAttempts: extra.maximumAttempts } : {}), nonRetryableErrorTypes };
}

// Each timeout class's options, defined once: the proxies below and their overridden variants are built from them.
const API: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  retry: backoff('1 second', { maximumInterval: '30 seconds', maximumAttempts: 6 }),
};
const LONG_API: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '1 minute',
  retry: backoff('2 seconds', { maximumAttempts: 5 }),
};
const REMOTE_EXEC: ActivityOptions = {
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '30 seconds',
  retry: backoff('2 seconds', { maximumAttempts: 5 }),
};

export const api = proxyActivities<Activities>(API);
/**
 * `api`'s calls run as local activities: on the worker running the workflow, inside its workflow task, recorded
 * as one marker each instead of a task the server dispatches (schedule, start, complete and one more workflow
 * task). For the quick, idempotent calls of a workflow that runs hundreds of times a night (a site's backup).
 */
export const localApi = asActivityFailures(proxyLocalActivities<Activities>({ startToCloseTimeout: API.startToCloseTimeout, retry: API.retry }));

/**
 * A local activity's own failure reaches the workflow bare (the SDK core wraps only its timeouts and cancels):
 * wrapped here in an ActivityFailure naming the activity, so callers, a parent's root cause and the CLI's failure
 * report see the chain a task-queue activity gives.
 */
function asActivityFailures<T extends object>(proxy: T): T {
  return new Proxy(proxy, {
    get(target, name) {
      const call = Reflect.get(target, name) as (...args: unknown[]) => Promise<unknown>;
      return (...args: unknown[]) =>
        call(...args).catch((err: unknown) => {
          // Only the activity's own failure: the SDK's errors (an unregistered activity, a payload that does not
          // convert) stay as they are and fail the workflow task, which is retried, not the workflow.
          if (!(err instanceof ApplicationFailure)) throw err;
          const nonRetryable = err.nonRetryable || nonRetryableErrorTypes.includes(err.type ?? '');
          throw new ActivityFailure('Activity task failed', String(name), undefined, nonRetryable ? RetryState.NON_RETRYABLE_FAILURE : RetryState.MAXIMUM_ATTEMPTS_REACHED, undefined, err);
        });
    },
  });
}
export const longApi = proxyActivities<Activities>(LONG_API);
export const remoteExec = proxyActivities<Activities>(REMOTE_EXEC);

/**
 * Overrides of the long steps' timeouts, passed in a workflow's input (workflows cannot read the environment): an
 * operator can give a slow farm more time, and a test can prove a step longer than its heartbeat timeout
 * survives by shortening it (lib/step-timeouts.ts). The restore's files swap and its undo take the startToClose
 * override too (a shorter one notices a dead worker sooner).
 */
export type { StepTimeouts } from '../../lib/step-timeouts';

/**
 * Fails the workflow at once (InvalidInput, naming the field) when its input's step timeouts are not durations
 * from 1 second to 24 hours: called first thing by every workflow that takes them, before it changes anything.
 */
export function checkStepTimeouts(t: unknown, field = 'timeouts'): void {
  const problem = stepTimeoutsProblem(t, field);
  if (problem) throw ApplicationFailure.create({ type: 'InvalidInput', message: problem, nonRetryable: true });
}

export const cloud = proxyActivities<Activities>({
  // One API call or a short sequence of them: a call stuck for 30 s is retried (and a dead worker noticed).
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '30 minutes',
  retry: backoff('1 second'),
});

export const cloudWait = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '20 seconds',
  retry: backoff('2 seconds'),
  scheduleToCloseTimeout: '45 minutes',
});

/**
 * Forward steps of a saga whose undo follows on failure or cancel (the restore's staging and swaps): the same
 * timeouts as api / longApi / remoteExec, but a cancelled step is waited for until it has really stopped
 * (WAIT_CANCELLATION_COMPLETED; the default resolves at once while the activity keeps running), so an undo never
 * runs beside the step it undoes.
 */
const waitForCancel = { cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED };
export const undoableApi = proxyActivities<Activities>({ ...API, ...waitForCancel });
export const undoableLongApi = proxyActivities<Activities>({ ...LONG_API, ...waitForCancel });
export const undoableRemoteExec = proxyActivities<Activities>({ ...REMOTE_EXEC, ...waitForCancel });

const noOverride = (t?: StepTimeouts): t is undefined => !t || (t.heartbeat === undefined && t.startToClose === undefined);

/**
 * A proxy of a timeout class with the input's overrides (a timeout not given keeps the class's own). It checks
 * them itself, so a workflow that forgot `checkStepTimeouts` still fails at once (InvalidInput) on a bad duration
 * instead of failing its workflow task at every retry.
 */
function overridden(base: ActivityOptions, timeouts: StepTimeouts, undoable: boolean): typeof remoteExec {
  checkStepTimeouts(timeouts);
  return proxyActivities<Activities>({
    ...base,
    startToCloseTimeout: (timeouts.startToClose ?? base.startToCloseTimeout) as Duration,
    heartbeatTimeout: (timeouts.heartbeat ?? base.heartbeatTimeout) as Duration,
    ...(undoable ? waitForCancel : {}),
  });
}

/** remoteExec with a workflow input's timeout overrides (itself when there are none): the backup's dump and archive. */
export function remoteExecWith(timeouts?: StepTimeouts): typeof remoteExec {
  return noOverride(timeouts) ? remoteExec : overridden(REMOTE_EXEC, timeouts, false);
}

/** undoableRemoteExec with a workflow input's timeout overrides (itself when there are none). */
export function undoableRemoteExecWith(timeouts?: StepTimeouts): typeof remoteExec {
  return noOverride(timeouts) ? undoableRemoteExec : overridden(REMOTE_EXEC, timeouts, true);
}

/** longApi with a workflow input's timeout overrides: the restore's live-equals-staged check. */
export function longApiWith(timeouts?: StepTimeouts): typeof longApi {
  return noOverride(timeouts) ? longApi : overridden(LONG_API, timeouts, false);
}

/** undoableLongApi with a workflow input's timeout overrides: the restore's staging verification. */
export function undoableLongApiWith(timeouts?: StepTimeouts): typeof longApi {
  return noOverride(timeouts) ? undoableLongApi : overridden(LONG_API, timeouts, true);
}

/**
 * undoableApi with a workflow input's startToClose override only (quick steps do not heartbeat, so a heartbeat
 * override is not theirs): the restore's files swap. A shorter one notices a dead worker sooner.
 */
export function undoableApiWith(timeouts?: StepTimeouts): typeof api {
  return timeouts?.startToClose === undefined ? undoableApi : proxyActivities<Activities>({ ...API, ...waitForCancel, startToCloseTimeout: timeouts.startToClose as Duration });
}

/**
 * Probes that answer an operator now (a migration file's pre-flight): one attempt each, two minutes; a host that
 * does not answer is the answer, not something to retry.
 */
export const probe = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { maximumAttempts: 1, nonRetryableErrorTypes },
});

/**
 * Compensations (undo steps): a site left half-restored is worse than a slow undo, so a transient failure (a
 * Galera node restarting, SSH unreachable) is retried for up to two hours; permanent failures fail at once and
 * are reported, and the saga goes on with its other undo steps. Each try has a minute, like `api` (undo steps are
 * renames, drops and removals, safe to run again): a worker that dies mid-undo is replaced within a minute.
 */
const COMPENSATION: ActivityOptions = {
  startToCloseTimeout: '1 minute',
  scheduleToCloseTimeout: '2 hours',
  retry: backoff('2 seconds'),
};
export const compensation = proxyActivities<Activities>(COMPENSATION);

/** compensation with a workflow input's startToClose override only (undo steps do not heartbeat). */
export function compensationWith(timeouts?: StepTimeouts): typeof compensation {
  return timeouts?.startToClose === undefined ? compensation : proxyActivities<Activities>({ ...COMPENSATION, startToCloseTimeout: timeouts.startToClose as Duration });
}

/**
 * Revoking a contractor's access: it must happen, however long the database or the storage node is away, so a
 * transient failure is retried without a deadline (at most a minute apart); a permanent one fails the grant loudly.
 */
export const revocation = proxyActivities<Activities>({
  startToCloseTimeout: '1 minute',
  retry: backoff('1 second'),
});

/**
 * An operation on a site's entity that runs a child for minutes (a migration's site created: its service deployed
 * and healthy): the activity waits on the Workflow Update, heartbeating, so a dead worker is noticed in a minute.
 */
export const siteOperation = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  retry: backoff('2 seconds', { maximumAttempts: 5 }),
});

/**
 * Compensations that wait on a site's entity deleting what a failed migration created (minutes: the service, the
 * database, the files): retried like `compensation` for up to two hours, each try heartbeating.
 */
export const slowCompensation = proxyActivities<Activities>({
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '1 minute',
  scheduleToCloseTimeout: '2 hours',
  retry: backoff('2 seconds'),
});

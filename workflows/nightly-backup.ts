/**
 * The night's backup of every site: one child workflow per site (`backup/<site>/<date>`), at most `concurrency`
 * at a time, largest first by last known size, failed sites retried in a second round, history kept small by continuing as new, then retention
 * per site and a sweep of multipart uploads orphaned by dead workers. One site's failure never fails the night.
 */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { ParentClosePolicy, continueAsNew, executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { BackupOutcome } from '../lib/backup-runs';
import { api, longApi, checkStepTimeouts, type StepTimeouts } from './lib/proxies';
import { workflowIds } from '../lib/contract/ids';
import { rootMessage } from '../lib/contract/failures';
import { runWindow } from './lib/child-window';
import { nominalDate } from './lib/nominal-date';
import { siteBackupWorkflow } from './site-backup';
import { siteSearchAttributes } from '../lib/contract/search-attributes';

export interface NightlyBackupInput {
  /** Nominal date (YYYY-MM-DD); default: the schedule's scheduled time (UTC date), else the start time. */
  date?: string;
  /** A subset of sites; default: every active site in the registry. */
  sites?: string[];
  /** Children running at once (default 16). */
  concurrency?: number;
  /** Children completed per run before continuing as new (default 200). */
  childrenPerRun?: number;
  /**
   * Timeouts of every site's long steps (its dump and its files), given to each site's backup: a slow farm gives
   * them more time; a test notices a killed worker sooner. Absent: each step's default.
   */
  timeouts?: StepTimeouts;
  /** Carried across continue-as-new. */
  carry?: { pending: string[]; retry: BackupOutcome[]; outcomes: BackupOutcome[]; round: number; startedAt: string };
}

export interface NightlyBackupResult {
  date: string;
  sites: number;
  created: number;
  alreadyComplete: number;
  failed: BackupOutcome[];
  /** Every site's outcome, in site order. */
  outcomes: BackupOutcome[];
  pruned: number;
  abortedUploads: number;
}

const MAX_ROUNDS = 2;

/**
 * One night, one workflow, whoever starts it: the Schedule names its runs `nightly-backup-<scheduled time>`, an
 * operator's `backup run` uses the night's ID `nightly-backup/<date>`. A run the Schedule started runs the night
 * as its child under that ID; when the night is already running (an operator started it), it waits for it
 * to close and then runs it once more, so sites the other run did not cover get their backup (complete ones are
 * no-ops). Two runs of one night never back up the same site at once.
 */
async function runAsTheNight(input: NightlyBackupInput & { date: string }, nightId: string): Promise<NightlyBackupResult> {
  for (;;) {
    try {
      return await executeChild(nightlyBackupWorkflow, { workflowId: nightId, args: [input], parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL, typedSearchAttributes: siteSearchAttributes(null, 'backup') });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      while (!(await longApi.awaitWorkflowClosed({ workflowId: nightId })).closed);
    }
  }
}

/**
 * The first round's sites in the order they start: largest first by their last recorded backup size, so the
 * longest backups run beside the many short ones instead of making the night's tail (runs started before this
 * was patched in keep the given order).
 */
async function firstRound(sites: string[] | undefined): Promise<string[]> {
  const all = sites ?? (await api.listSiteDomains());
  return patched('largest-first') ? api.orderSitesLargestFirst({ sites: all }) : all;
}

/** Backs up every site for one night. */
export async function nightlyBackupWorkflow(input: NightlyBackupInput): Promise<NightlyBackupResult> {
  checkStepTimeouts(input.timeouts);
  const date = nominalDate(input.date);
  const nightId = workflowIds.nightlyBackup(date);
  const scheduled = Boolean(workflowInfo().searchAttributes?.TemporalScheduledById?.length);
  if (scheduled && workflowInfo().workflowId !== nightId && patched('one-workflow-per-night')) return runAsTheNight({ ...input, date }, nightId);
  const concurrency = input.concurrency ?? 16;
  const carry = input.carry ?? { pending: await firstRound(input.sites), retry: [], outcomes: [], round: 1, startedAt: new Date().toISOString() };
  let pending = [...carry.pending];
  const outcomes = [...carry.outcomes];
  const sites = new Set([...pending, ...carry.retry.map((o) => o.site), ...outcomes.map((o) => o.site)]).size;

  let round = carry.round;
  let completedThisRun = 0;
  const budget = input.childrenPerRun ?? 200;
  const roundFailures: BackupOutcome[] = [...carry.retry];
  while (pending.length) {
    const before = completedThisRun;
    const thisRound = pending;
    pending = await runWindow(
      thisRound,
      concurrency,
      (site) =>
        executeChild(siteBackupWorkflow, {
          workflowId: workflowIds.siteBackup(site, date),
          args: [{ site, point: date, ...(input.timeouts ? { timeouts: input.timeouts } : {}) }],
          typedSearchAttributes: siteSearchAttributes(site, 'backup'),
          // Children are always drained before continuing as new; cancelling the night cancels them too.
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        }).then(
          (r) => void outcomes.push({ site, date, status: r.status, bytes: r.bytes, durationMs: r.durationMs }),
          (err: Error) => void (round < MAX_ROUNDS ? roundFailures : outcomes).push({ site, date, status: 'failed', error: rootMessage(err) }),
        ),
      (settled) => before + settled >= budget || workflowInfo().continueAsNewSuggested,
    );
    // Every child started this round has finished (the window drains before it returns).
    completedThisRun += thisRound.length - pending.length;
    if (pending.length) {
      // Budget reached with every running child drained: hand the rest to a fresh run.
      await continueAsNew<typeof nightlyBackupWorkflow>({ ...input, date, carry: { pending, retry: roundFailures, outcomes, round, startedAt: carry.startedAt } });
    }
    if (roundFailures.length && round < MAX_ROUNDS) {
      round++;
      pending.push(...roundFailures.splice(0).map((f) => f.site));
    }
  }

  // Monitoring record, retention and the orphaned-upload sweep, in batches to keep history small.
  const allSites = [...new Set(outcomes.map((o) => o.site))].sort();
  let pruned = 0;
  for (let i = 0; i < allSites.length; i += 50) {
    const batch = allSites.slice(i, i + 50);
    await api.recordBackupOutcomes({ outcomes: outcomes.filter((o) => batch.includes(o.site)) });
    const r = await longApi.applyRetention({ sites: batch, now: date });
    pruned += r.reduce((n, x) => n + x.deleted.length, 0);
  }
  const { aborted } = await api.abortStaleUploads({ prefix: 'sites/', initiatedBefore: carry.startedAt });
  return {
    date,
    sites,
    created: outcomes.filter((o) => o.status === 'created').length,
    alreadyComplete: outcomes.filter((o) => o.status === 'already-complete').length,
    failed: outcomes.filter((o) => o.status === 'failed'),
    outcomes: [...outcomes].sort((a, b) => (a.site < b.site ? -1 : 1)),
    pruned,
    abortedUploads: aborted,
  };
}

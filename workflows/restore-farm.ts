/**
 * Whole-farm disaster recovery: every site with backups in the bucket (or a given list), each to the restore point
 * the CLI chose for it, restored onto the cluster and storage the workers now point at, typically fresh ones. The registry went down with the old
 * cluster, so each site is registered again from its backup's manifest. Restores run in a bounded window as
 * child workflows with stable IDs (`<farm id>/<site>`); a child that already completed is never repeated, so
 * starting the same recovery again after it was stopped resumes it; finished sites are also recorded in
 * drover_meta, so resuming does not depend on the namespace still holding old runs. Targets that are not empty
 * are refused unless `force` (then a safety point is taken first). Progress is answered by a query.
 */
import { ApplicationFailure, condition, isCancellation, continueAsNew, defineQuery, executeChild, patched, setHandler, workflowInfo, allHandlersFinished } from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { rootMessage } from '../lib/contract/failures';
import { runWindow } from './lib/child-window';
import { api, checkStepTimeouts, type StepTimeouts } from './lib/proxies';
import { restoreSiteWorkflow } from './restore-site';
import { siteSearchAttributes } from '../lib/contract/search-attributes';
import { workflowIds } from '../lib/contract/ids';

export interface RestoreFarmInput {
  /**
   * Every site to restore with its restore point, chosen once by the caller (`drover restore farm` resolves
   * `--at` for each site before it starts anything, and refuses a site that has none).
   */
  points: Record<string, string>;
  /** Restores running at once (default 4). */
  concurrency?: number;
  /** Restore over targets whose database or docroot is not empty (after a safety point); default: refuse them. */
  force?: boolean;
  /** Where the files go (SSH target of the new storage node; null: the workers' default). */
  storageHost?: string | null;
  /** Timeouts of each restore's long steps (restoreSiteWorkflow's `timeouts`); defaults unchanged. */
  timeouts?: StepTimeouts;
  /** Children completed per run before continuing as new (default 200). */
  childrenPerRun?: number;
  /** Carried across continue-as-new. */
  carry?: { pending: string[]; done: FarmSiteDone[]; failed: FarmSiteFailed[]; startedAt: string };
}

export interface FarmSiteDone {
  site: string;
  point: string | null;
  rtoMs: number;
  /** Restored by an earlier run of the same recovery (resumed), not by this one. */
  resumed?: boolean;
}

export interface FarmSiteFailed {
  site: string;
  error: string;
}

export interface RestoreFarmProgress {
  total: number;
  done: number;
  failed: FarmSiteFailed[];
  running: string[];
  remaining: number;
  startedAt: string;
}

export interface RestoreFarmResult {
  total: number;
  done: FarmSiteDone[];
  failed: FarmSiteFailed[];
  startedAt: string;
  elapsedMs: number;
}

export const restoreFarmProgressQuery = defineQuery<RestoreFarmProgress>('restoreFarmProgress');

/** Restores every site (or a list) onto the current cluster and storage; see the module comment. */
export async function restoreFarmWorkflow(input: RestoreFarmInput): Promise<RestoreFarmResult> {
  checkStepTimeouts(input.timeouts);
  const farmId = workflowInfo().workflowId;
  const running = new Set<string>();
  let carry = input.carry;
  let total = carry ? carry.pending.length + carry.done.length + carry.failed.length : 0;
  setHandler(restoreFarmProgressQuery, () => ({
    total,
    done: carry?.done.length ?? 0,
    failed: carry?.failed ?? [],
    running: [...running].sort(),
    remaining: (carry?.pending.length ?? 0) + running.size,
    startedAt: carry?.startedAt ?? workflowInfo().startTime.toISOString(),
  }));

  if (!carry) {
    const sites = Object.keys(input.points).sort();
    if (!sites.length) throw ApplicationFailure.create({ type: 'InvalidInput', message: 'points: nothing to restore (no site given)', nonRetryable: true });
    carry = { pending: sites, done: [], failed: [], startedAt: new Date().toISOString() };
    total = sites.length;
  }
  const state = carry;
  // Sites finished by an earlier run of this recovery, as recorded in drover_meta: skipped without asking Temporal,
  // whose namespace may no longer hold those runs.
  const recording = patched('restore-farm-recorded-sites');
  if (recording) {
    const recorded = new Set((await api.listFarmSitesDone({ farmId })).map((r) => r.site));
    for (const site of state.pending.filter((s) => recorded.has(s))) {
      state.pending.splice(state.pending.indexOf(site), 1);
      state.done.push({ site, point: null, rtoMs: 0, resumed: true });
    }
  }
  const budget = input.childrenPerRun ?? 200;
  let completed = 0;
  // Cancelling the recovery cancels the running restores (each rolls itself back) and starts no more; the
  // recovery ends Cancelled, and starting it again with the same ID resumes it.
  let cancelled: unknown = null;

  const left = await runWindow(
    [...state.pending],
    input.concurrency ?? 4,
    async (site) => {
      state.pending.splice(state.pending.indexOf(site), 1);
      running.add(site);
      try {
        const r = await executeChild(restoreSiteWorkflow, {
          workflowId: workflowIds.child(farmId, site),
          args: [{ site, point: input.points[site], rebuild: { storageHost: input.storageHost ?? null, ...(input.force ? { force: true } : {}) }, ...(input.timeouts ? { timeouts: input.timeouts } : {}) }],
          // A completed restore is never repeated: starting the recovery again resumes it.
          workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
          typedSearchAttributes: siteSearchAttributes(site, 'restore-farm'),
        });
        if (recording) await api.recordFarmSiteDone({ farmId, site, point: r.point, rtoMs: r.rtoMs });
        state.done.push({ site, point: r.point, rtoMs: r.rtoMs });
      } catch (err) {
        if (isCancellation(err)) {
          cancelled ??= err;
          state.pending.push(site);
        } else if (err instanceof WorkflowExecutionAlreadyStartedError) state.done.push({ site, point: null, rtoMs: 0, resumed: true });
        else state.failed.push({ site, error: rootMessage(err as Error) });
      } finally {
        running.delete(site);
        completed++;
      }
    },
    () => cancelled !== null || completed >= budget || workflowInfo().continueAsNewSuggested,
  );
  if (cancelled) throw cancelled;
  if (left.length) {
    await condition(allHandlersFinished);
    await continueAsNew<typeof restoreFarmWorkflow>({ ...input, carry: { ...state, pending: left } });
  }
  return { total, done: state.done, failed: state.failed, startedAt: state.startedAt, elapsedMs: Date.now() - Date.parse(state.startedAt) };
}

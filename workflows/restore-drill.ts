/**
 * The weekly restore drill: a rotating sample of sites is restored side by side under scratch names
 * (`drill.<site>`), verified by the restore itself (SHA-256, decryption, tables and row counts against the
 * manifest, a working WordPress database and docroot), timed, and deleted again. Results are recorded for the
 * drill metrics; a drill with any failed site fails as RestoreDrillFailed, so the Schedule and the Web UI show it.
 */
import { ApplicationFailure, CancellationScope, executeChild, workflowInfo } from '@temporalio/workflow';
import { drillSample, weekNumber } from '../lib/drill-sample';
import { chooseRestorePoint } from '../lib/restore-point-choice';
import type { DrillSiteResult } from '../lib/restore-drills';
import { rootMessage } from '../lib/contract/failures';
import { restoreTargetNames } from '../lib/restore-targets';
import { runWindow } from './lib/child-window';
import { nominalDate } from './lib/nominal-date';
import { api, checkStepTimeouts, type StepTimeouts } from './lib/proxies';
import { restoreSiteWorkflow } from './restore-site';
import { siteSearchAttributes } from '../lib/contract/search-attributes';
import { workflowIds } from '../lib/contract/ids';

export interface RestoreDrillInput {
  /** Nominal date (YYYY-MM-DD); default: the Schedule's date. It picks the week, and so the sample. */
  date?: string;
  /** Drill these sites instead of the rotating sample. */
  sites?: string[];
  /** Sites per drill (default 3). */
  sampleSize?: number;
  /** Restores running at once (default 2). */
  concurrency?: number;
  /** Timeouts of each restore's long steps (restoreSiteWorkflow's `timeouts`); defaults unchanged. */
  timeouts?: StepTimeouts;
}

export interface RestoreDrillResult {
  drillId: string;
  date: string;
  results: DrillSiteResult[];
  passed: boolean;
  maxRtoMs: number;
}

/** The scratch name a drill restores a site under. */
export const drillScratchName = (site: string): string => `drill.${site}`;

/** Restores a sample of sites to scratch names, verifies and times them, deletes the copies, records the results. */
export async function restoreDrillWorkflow(input: RestoreDrillInput = {}): Promise<RestoreDrillResult> {
  checkStepTimeouts(input.timeouts);
  const date = nominalDate(input.date);
  // One record per run: drilling the same date twice (a re-run) records two drills, never a blend of both.
  const drillId = `${workflowInfo().workflowId}#${workflowInfo().runId}`;
  const sample = input.sites ?? drillSample(await api.listSiteDomains(), input.sampleSize ?? 3, weekNumber(date));
  const results: DrillSiteResult[] = [];

  await runWindow(sample, input.concurrency ?? 2, async (site) => {
    const started = Date.now();
    const scratch = drillScratchName(site);
    let copy: { database: string; filesPath: string; storageHost: string | null } | null = null;
    try {
      const live = await api.lookupSite({ domain: site });
      copy = { ...restoreTargetNames(live, scratch), storageHost: live.storageHost };
      // Each site's latest complete point, chosen once here and given to the restore.
      const point = chooseRestorePoint(await api.listRestorePoints({ site }), { kind: 'latest' });
      if (!point) throw ApplicationFailure.create({ type: 'InvalidInput', message: `site ${site} has no complete restore point`, nonRetryable: true });
      const r = await executeChild(restoreSiteWorkflow, { workflowId: workflowIds.child(workflowInfo().workflowId, site), args: [{ site, point, to: scratch, skipSafetyPoint: true, ...(input.timeouts ? { timeouts: input.timeouts } : {}) }], typedSearchAttributes: siteSearchAttributes(site, 'restore-drill') });
      results.push({ site, point: r.point, passed: true, rtoMs: r.rtoMs });
    } catch (err) {
      results.push({ site, point: '', passed: false, rtoMs: Date.now() - started, error: rootMessage(err as Error) });
    } finally {
      // The scratch copy goes whatever happened (both activities refuse anything a registered site owns).
      const c = copy;
      if (c) {
        await CancellationScope.nonCancellable(() =>
          Promise.all([api.dropDatabase({ name: c.database }), api.removeRestoredCopy({ storageHost: c.storageHost, path: c.filesPath })]),
        ).catch((err: Error) => {
          const r = results.find((x) => x.site === site);
          if (r) Object.assign(r, { passed: false, error: `${r.error ? r.error + '; ' : ''}scratch copy not removed: ${rootMessage(err)}` });
        });
      }
    }
  });

  results.sort((a, b) => (a.site < b.site ? -1 : 1));
  await api.recordRestoreDrill({ drillId, results });
  const failed = results.filter((r) => !r.passed);
  const out = { drillId, date, results, passed: failed.length === 0, maxRtoMs: Math.max(0, ...results.map((r) => r.rtoMs)) };
  if (failed.length) {
    throw ApplicationFailure.create({
      type: 'RestoreDrillFailed',
      message: `restore drill ${date}: ${failed.length} of ${results.length} sites failed: ${failed.map((f) => `${f.site} (${f.error})`).join('; ')}`,
      nonRetryable: true,
      details: [out],
    });
  }
  return out;
}

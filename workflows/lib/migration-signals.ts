/**
 * What a migration wave and its site children say to each other, defined once (the child and the wave import
 * this, not each other). The wave pauses and resumes its children in flight: a paused child finishes the step it
 * is in and waits before the next. A child started by a wave tells it each step it enters, so the wave's progress
 * query shows where every site stands without asking hundreds of children.
 */
import { CancellationScope, defineSignal, getExternalWorkflowHandle, setCurrentDetails, upsertSearchAttributes, workflowInfo } from '@temporalio/workflow';
import { DROVER_STEP } from '../../lib/contract/search-attributes';

/** Finish the current step, then wait for `resumeMigrationSignal` before the next. */
export const pauseMigrationSignal = defineSignal('pauseMigration');
export const resumeMigrationSignal = defineSignal('resumeMigration');

export interface SiteStepReport {
  domain: string;
  /** The step the child entered ('preflight', 'copy files', … 'undo', 'failed'). */
  step: string;
  /** Waiting before `step` because the wave is paused. */
  paused?: boolean;
}

/** Child → its wave: the step it entered (or waits before, paused). */
export const siteStepSignal = defineSignal<[SiteStepReport]>('siteStep');

/**
 * Shows the step a site's migration entered: as the workflow's current details (the Web UI's "current details"),
 * as its `DroverStep` search attribute (so the Web UI filters a wave's sites by step, e.g. `DroverStep="failed"`),
 * and to the wave that started it, if any. `commands` false (a run recorded before step reporting existed, see
 * the `patched` call in migrateSiteWorkflow) sets only the details, which add nothing to history.
 */
export async function reportSiteStep(commands: boolean, r: SiteStepReport): Promise<void> {
  setCurrentDetails(r.paused ? `paused before: ${r.step}` : `step: ${r.step}`);
  if (!commands) return;
  upsertSearchAttributes([{ key: DROVER_STEP, value: r.paused ? 'paused' : r.step }]);
  const parent = workflowInfo().parent;
  if (!parent) return;
  // A wave gone (terminated, or reset) must not fail the site: the report is best effort, even while undoing.
  await CancellationScope.nonCancellable(() => getExternalWorkflowHandle(parent.workflowId).signal(siteStepSignal, r)).catch(() => undefined);
}

/**
 * A migration wave (issue 16), ID `wave/<wave>` on drover-migrate: one `migrateSiteWorkflow` child per site
 * (`migrate/<wave>/<domain>`), at most `concurrency` in flight, steered live by Workflow Updates (an operator
 * needs an answer or a refusal, so not signals; every validator is synchronous and a refusal changes nothing).
 *
 * - pause: no site starts once the update is acknowledged; the sites in flight finish their current step and wait.
 * - resume, setConcurrency (takes effect at the next start), retry <site> (a failed or cancelled one), skip <site>.
 * - cancel: nothing new starts, the sites in flight roll back (each child undoes what it created), the sites
 *   already migrated stay and are reported as such; the wave then ends with state `cancelled`.
 *
 * The wave ends when every site is migrated or skipped; with failed sites left it waits (`waiting`) for a retry or
 * skip. After `sitesPerRun` starts it drains its window and continues as new, carrying its state, so its history
 * stays bounded at 500 sites. Children start with ALLOW_DUPLICATE_FAILED_ONLY: starting the wave ID again after it
 * ended (or was terminated) resumes it, and a site an earlier run migrated is reported, not redone.
 */
import {
  allHandlersFinished, ApplicationFailure, CancellationScope, condition, continueAsNew, defineQuery, defineUpdate, isCancellation, patched, setHandler, startChild,
  upsertSearchAttributes, workflowInfo, setCurrentDetails, type ChildWorkflowHandle,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { workflowIds } from '../lib/contract/ids';
import { rootMessage } from '../lib/contract/failures';
import { DROVER_STEP, siteSearchAttributes } from '../lib/contract/search-attributes';
import { api, longApi } from './lib/proxies';
import { pauseMigrationSignal, resumeMigrationSignal, siteStepSignal } from './lib/migration-signals';
import {
  concurrencyRefusal, countSites, isInputRefusal, retryRefusal, skipRefusal, type MigrationWaveInput, type WaveAck, type WaveCarry, type WaveProgress, type WaveSite,
  type WaveState,
} from './lib/wave-state';
import { migrateSiteWorkflow } from './migrate-site';

export type { MigrationWaveInput, WaveAck, WaveProgress, WaveSite } from './lib/wave-state';

export interface WaveCancelled extends WaveAck {
  /** Sites that were in flight and rolled back. */
  rolledBack: string[];
  /** Sites migrated and left in place. */
  migrated: string[];
}

export const pauseWaveUpdate = defineUpdate<WaveAck>('pauseWave');
export const resumeWaveUpdate = defineUpdate<WaveAck>('resumeWave');
export const cancelWaveUpdate = defineUpdate<WaveCancelled>('cancelWave');
export const retryWaveSiteUpdate = defineUpdate<WaveAck, [{ site: string }]>('retryWaveSite');
export const skipWaveSiteUpdate = defineUpdate<WaveAck, [{ site: string }]>('skipWaveSite');
export const setWaveConcurrencyUpdate = defineUpdate<WaveAck, [{ concurrency: number }]>('setWaveConcurrency');
/** Counts by state, the sites in flight with their step, failures with their cause: in memory, cheap to poll. */
export const waveProgressQuery = defineQuery<WaveProgress, [{ sites?: boolean }?]>('waveProgress');

const now = () => new Date().toISOString();

/** A steering update's refusal: InvalidInput when it names the operator's input (exit 2), else the wave's words. */
const refusal = (why: string): Error => (isInputRefusal(why) ? ApplicationFailure.create({ type: 'InvalidInput', message: why, nonRetryable: true }) : new Error(why));

/** Migrates a wave of sites as child workflows; see the module comment for the steering. */
export async function migrationWaveWorkflow(input: MigrationWaveInput): Promise<WaveProgress> {
  const { wave } = input;
  const carry: WaveCarry = input.carry ?? {
    sites: input.sources.map((s) => ({ domain: s.domain, state: 'queued', attempts: 0 })),
    queue: input.sources.map((s) => s.domain),
    paused: false,
    concurrency: input.concurrency ?? 5,
    startedAt: workflowInfo().startTime.toISOString(),
    run: 0,
  };
  carry.run++;
  const sources = new Map(input.sources.map((s) => [s.domain, s]));
  const sites = new Map(carry.sites.map((s) => [s.domain, s]));
  const running = new Map<string, { scope: CancellationScope; child?: ChildWorkflowHandle<typeof migrateSiteWorkflow> }>();
  const budget = input.sitesPerRun ?? 100;
  let startedThisRun = 0;
  let cancelling = false;
  let endedAt: string | undefined = undefined;

  const failedLeft = () => [...sites.values()].some((s) => s.state === 'failed');
  const waveState = (): WaveState =>
    endedAt ? (cancelling ? 'cancelled' : 'done') : cancelling ? 'cancelling' : carry.paused ? 'paused' : !carry.queue.length && !running.size && failedLeft() ? 'waiting' : 'running';
  const progress = (withSites = true): WaveProgress => {
    const all = [...sites.values()];
    return {
      wave, state: waveState(), concurrency: carry.concurrency, total: all.length, counts: countSites(all),
      inFlight: all.filter((s) => s.state === 'running'), failed: all.filter((s) => s.state === 'failed'),
      ...(withSites ? { sites: all } : {}), startedAt: carry.startedAt, ...(endedAt ? { endedAt } : {}), ...(carry.pausedAt ? { pausedAt: carry.pausedAt } : {}), run: carry.run,
    };
  };
  // The wave's own DroverStep (its state) and current details (its counts) for the Web UI; upserted on change only.
  let shown = '';
  const publish = () => {
    const s = waveState();
    const c = countSites(sites.values());
    setCurrentDetails(`${s}: ${c.migrated}/${sites.size} migrated, ${c.running} in flight, ${c.failed} failed, ${c.skipped} skipped, concurrency ${carry.concurrency}`);
    if (s !== shown) upsertSearchAttributes([{ key: DROVER_STEP, value: s }]);
    shown = s;
  };
  const ack = (message: string): WaveAck => {
    publish();
    return { wave, state: waveState(), concurrency: carry.concurrency, inFlight: [...running.keys()], message };
  };
  const signalInFlight = async (signal: typeof pauseMigrationSignal | typeof resumeMigrationSignal) => {
    await Promise.all([...running.values()].map((r) => r.child?.signal(signal).catch(() => undefined)));
  };

  setHandler(waveProgressQuery, (o) => progress(o?.sites ?? true));
  setHandler(siteStepSignal, (r) => {
    const s = sites.get(r.domain);
    if (s?.state !== 'running') return;
    s.step = r.step;
    s.paused = Boolean(r.paused);
  });
  setHandler(pauseWaveUpdate, async () => {
    carry.paused = true;
    carry.pausedAt = now();
    const a = ack(`paused: no site starts; ${running.size} in flight finish their current step and wait`);
    await signalInFlight(pauseMigrationSignal);
    return a;
  }, { validator: () => {
    if (cancelling) throw new Error(`wave ${wave} is being cancelled`);
    if (carry.paused) throw new Error(`wave ${wave} is already paused (since ${carry.pausedAt})`);
  } });
  setHandler(resumeWaveUpdate, async () => {
    carry.paused = false;
    delete carry.pausedAt;
    await signalInFlight(resumeMigrationSignal);
    return ack('resumed');
  }, { validator: () => {
    if (cancelling) throw new Error(`wave ${wave} is being cancelled`);
    if (!carry.paused) throw new Error(`wave ${wave} is not paused`);
  } });
  setHandler(cancelWaveUpdate, async () => {
    cancelling = true;
    const inFlight = [...running.keys()];
    for (const r of running.values()) r.scope.cancel();
    publish();
    await condition(() => running.size === 0);
    const migrated = [...sites.values()].filter((s) => s.state === 'migrated').map((s) => s.domain);
    return { ...ack(`cancelled: ${inFlight.length} in flight rolled back, ${migrated.length} migrated left in place, ${carry.queue.length} never started`), rolledBack: inFlight, migrated };
  }, { validator: () => {
    if (cancelling) throw new Error(`wave ${wave} is already being cancelled`);
  } });
  setHandler(retryWaveSiteUpdate, ({ site }) => {
    const s = sites.get(site)!;
    s.state = 'queued';
    delete s.error;
    delete s.step;
    carry.queue.unshift(site);
    return ack(`${site} queued again${carry.paused ? ' (the wave is paused: it starts after resume)' : ''}`);
  }, { validator: ({ site }) => {
    const why = retryRefusal(sites.get(site), site, wave, cancelling);
    if (why) throw refusal(why);
  } });
  setHandler(skipWaveSiteUpdate, ({ site }) => {
    sites.get(site)!.state = 'skipped';
    carry.queue = carry.queue.filter((d) => d !== site);
    return ack(`${site} skipped: it will not be migrated by this wave`);
  }, { validator: ({ site }) => {
    const why = skipRefusal(sites.get(site), site, wave);
    if (why) throw refusal(why);
  } });
  setHandler(setWaveConcurrencyUpdate, ({ concurrency }) => {
    const before = carry.concurrency;
    carry.concurrency = concurrency;
    return ack(`concurrency ${before} → ${concurrency} (from the next start)`);
  }, { validator: ({ concurrency }) => {
    const why = concurrencyRefusal(concurrency);
    if (why) throw refusal(why);
  } });

  /** One site's child, from start to outcome; never throws (the outcome is the site's state). */
  const migrate = async (site: WaveSite): Promise<void> => {
    const src = sources.get(site.domain)!;
    const workflowId = workflowIds.migrate(wave, site.domain);
    try {
      const child = await startChild(migrateSiteWorkflow, {
        workflowId,
        args: [{ source: { ...src, wave }, ...(input.bandwidthLimitKBps ? { bandwidthLimitKBps: input.bandwidthLimitKBps } : {}), ...(input.target ? { target: input.target } : {}), ...(input.timeouts ? { timeouts: input.timeouts } : {}), ...(input.cutover ? { cutover: input.cutover } : {}) }],
        // A migrated site is never migrated again: starting the wave again resumes it.
        workflowIdReusePolicy: 'ALLOW_DUPLICATE_FAILED_ONLY',
        // A wave terminated by hand leaves no half-migrated site: its children roll back.
        parentClosePolicy: 'REQUEST_CANCEL',
        typedSearchAttributes: [...siteSearchAttributes(site.domain, 'migrate', { wave }), { key: DROVER_STEP, value: 'queued' }],
      });
      running.get(site.domain)!.child = child;
      // Paused between the start and now: the child waits before its first step.
      if (carry.paused) await child.signal(pauseMigrationSignal);
      const r = await child.result();
      site.state = 'migrated';
      site.step = r.step;
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) {
        // Migrated by an earlier run of this wave (or still running from one): its outcome, not a second migration.
        let closed: { closed: boolean; status: string };
        do closed = await longApi.awaitWorkflowClosed({ workflowId });
        while (!closed.closed);
        site.state = closed.status === 'COMPLETED' ? 'migrated' : 'failed';
        if (site.state === 'migrated') site.earlierRun = true;
        else site.error = `${workflowId} ended ${closed.status} in an earlier run`;
      } else if (isCancellation(err)) site.state = 'cancelled';
      else {
        site.state = 'failed';
        site.error = rootMessage(err as Error).slice(0, 1000);
      }
    } finally {
      site.paused = false;
      site.endedAt = now();
    }
  };

  const start = (domain: string) => {
    const site = sites.get(domain)!;
    carry.queue = carry.queue.filter((d) => d !== domain);
    Object.assign(site, { state: 'running', step: 'starting', startedAt: now(), attempts: site.attempts + 1 });
    delete site.endedAt;
    startedThisRun++;
    const scope = new CancellationScope();
    running.set(domain, { scope });
    void scope
      .run(() => migrate(site))
      .catch((err: unknown) => {
        site.state = isCancellation(err) ? 'cancelled' : 'failed';
        if (site.state === 'failed') site.error = rootMessage(err as Error);
      })
      .finally(() => {
        running.delete(domain);
        publish();
      });
  };

  const budgetSpent = () => startedThisRun >= budget || workflowInfo().continueAsNewSuggested;
  const mayStart = () => !cancelling && !carry.paused && !budgetSpent() && carry.queue.length > 0 && running.size < carry.concurrency;
  const finished = () => !running.size && (cancelling || (!carry.queue.length && !failedLeft()));
  const mustContinue = () => !running.size && !cancelling && carry.queue.length > 0 && budgetSpent();

  // The wave's row in drover_meta (its start, then its end): how it ended outlives its history. Runs recorded
  // before it replay without these commands.
  const record = (ended: boolean) => {
    const p = progress(false);
    return api.recordWave({
      wave, workflowId: workflowInfo().workflowId, fileDigest: input.fileDigest ?? '', operator: input.operator ?? '', state: ended ? p.state : 'running', total: p.total, concurrency: p.concurrency,
      counts: p.counts, failed: p.failed.map((f) => ({ domain: f.domain, attempts: f.attempts, ...(f.error ? { error: f.error.slice(0, 500) } : {}) })), startedAt: p.startedAt, endedAt: ended ? (p.endedAt ?? null) : null,
    });
  };
  if (!input.carry && patched('migration-wave-record')) await record(false);

  publish();
  try {
    for (;;) {
      await condition(() => mayStart() || finished() || mustContinue());
      if (finished()) break;
      if (mustContinue()) {
        await condition(allHandlersFinished);
        // An update that arrived meanwhile may have changed the picture (cancel, skip): look again.
        if (!mustContinue()) continue;
        return await continueAsNew<typeof migrationWaveWorkflow>({ ...input, carry: { ...carry, sites: [...sites.values()] } });
      }
      while (mayStart()) start(carry.queue[0]);
      publish();
    }
  } catch (err) {
    // The wave itself cancelled (not the cancel update): its children roll back; wait for them before ending.
    if (isCancellation(err)) await CancellationScope.nonCancellable(() => condition(() => running.size === 0));
    throw err;
  }
  endedAt = now();
  publish();
  await condition(allHandlersFinished);
  if (patched('migration-wave-record')) await record(true);
  return progress();
}

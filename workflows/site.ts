/**
 * One entity workflow per site (ID `site/<domain>`): every operation on the site goes through it, one at a time,
 * so its whole life (created, restored, deleted) reads as one story in the Web UI. Long-running: it sleeps between
 * operations and continues as new when Temporal suggests it (or after MAX_OPERATIONS_PER_RUN), carrying its state.
 *
 * Operations are Workflow Updates because the caller needs an answer or a refusal: each has a synchronous
 * validator, so a refused request (a delete during a restore, a second restore, a create with other parameters)
 * is rejected before it enters history and changes nothing. Accepted operations queue on a lock and run in the
 * order accepted; create and delete run as child workflows, restores run elsewhere (the restore workflows) and
 * hold the entity between `beginRestoreUpdate` and `endRestoreUpdate`, so nothing else runs on the site meanwhile.
 * Callers start the entity if it is not running (start with USE_EXISTING, then update), so a site registered
 * before entities existed gets its entity the first time anything touches it.
 */
import {
  allHandlersFinished, ApplicationFailure, ChildWorkflowFailure, condition, continueAsNew, executeChild, patched, setHandler, workflowInfo,
} from '@temporalio/workflow';
import { domainProblem, siteNames } from '../lib/site-names';
import { siteSearchAttributes } from '../lib/contract/search-attributes';
import { TASK_QUEUES, workflowIds } from '../lib/contract/ids';
import { rootMessage } from '../lib/contract/failures';
import { checkStepTimeouts } from './lib/proxies';
import { stepTimeoutsProblem } from '../lib/step-timeouts';
import { createSiteWorkflow, deleteSiteWorkflow } from './site-operations';
import {
  beginRestoreUpdate, createSiteUpdate, deleteSiteUpdate, endMigrationUpdate, endRestoreUpdate, siteStateQuery,
  type CreateSiteRequest, type CreateSiteResult, type DeleteSiteRequest, type DeleteSiteResult, type SiteEntityInput, type SiteEntityState, type SiteOperationRecord,
} from '../lib/contract/site-entity';
import { refreshSiteFront } from './lib/site-front';

// The protocol lives in lib/contract/site-entity.ts; re-exported for the callers that know the entity by its workflow.
export { beginRestoreUpdate, createSiteUpdate, deleteSiteUpdate, endMigrationUpdate, endRestoreUpdate, siteStateQuery };
export type { CreateSiteRequest, CreateSiteResult, DeleteSiteRequest, DeleteSiteResult, SiteEntityInput, SiteEntityState, SiteOperationRecord };

/** Continue as new after this many operations even if Temporal has not suggested it yet (keeps each run short). */
export const MAX_OPERATIONS_PER_RUN = 100;

/**
 * How often a created site on a local cluster has its front route checked between operations: the swarm may move
 * its task (another node, a new host-mode port after a restart) and the local front follows only what it is told.
 * On the farm Traefik follows the service by its labels and no check runs.
 */
export const FRONT_CHECK_EVERY_MS = 60_000;

const refuse = (type: 'InvalidInput' | 'RestoreInProgress' | 'MigrationInProgress', message: string) => ApplicationFailure.create({ type, message, nonRetryable: true });

function sameSpec(a: Omit<CreateSiteRequest, 'domain'>, b: Omit<CreateSiteRequest, 'domain'>): string[] {
  return (['phpVersion', 'title', 'adminEmail', 'farm', 'provider', 'storageHost'] as const).filter((k) => a[k] !== b[k]).map((k) => `${k} (it has ${JSON.stringify(a[k])})`);
}

/**
 * A create that failed with an InvalidInput its workflow threw itself (not an activity's): createSiteWorkflow checks
 * its names, step timeouts and farm before its first change and throws nothing of its own after it.
 */
function refusedBeforeChange(err: unknown): boolean {
  return err instanceof ChildWorkflowFailure && err.cause instanceof ApplicationFailure && err.cause.type === 'InvalidInput';
}

/** The entity of one site; see the module comment. */
export async function siteWorkflow(input: SiteEntityInput): Promise<void> {
  checkStepTimeouts(input.stepTimeouts, 'stepTimeouts');
  const domain = input.domain;
  const state: SiteEntityState = input.state ?? { domain, phase: 'unknown', spec: null, running: null, queued: [], restoreHolder: null, last: null, operations: 0 };
  let opsThisRun = 0;
  // A front check in flight: operations wait for it (it is short), so it never re-adds a route a delete removed.
  let checking = false;
  setHandler(siteStateQuery, () => state);

  // Several waiters can see the site free in the same activation: each waits in its own loop (`while (!free())
  // await condition(free)`) and marks the site busy right after it, with no await between the last check and
  // `state.running = …`. (A helper awaited for its turn would let two waiters past before either marked it: two
  // operators' creates ran at once.)
  const free = () => state.running === null && state.restoreHolder === null && !checking;

  /** Waits for its turn, then runs `fn` as the site's one running operation, recorded in the state. */
  async function serialized<T>(name: string, workflowId: (n: number) => string, fn: (id: string) => Promise<T>, check: () => void, done?: () => T | null): Promise<T> {
    state.queued.push(name);
    while (!free()) await condition(free);
    state.queued.splice(state.queued.indexOf(name), 1);
    // Re-checked at its turn: what ran before it (a delete) may have made it wrong.
    check();
    // …or unnecessary: the same create sent twice at once (two operators) waits behind the first and is answered by it.
    const already = done?.();
    if (already) return already;
    state.operations += 1;
    opsThisRun += 1;
    const id = workflowId(state.operations);
    const record: SiteOperationRecord = { name, workflowId: id, startedAt: new Date().toISOString(), finishedAt: null, outcome: 'running' };
    state.running = record;
    try {
      const r = await fn(id);
      record.outcome = 'ok';
      return r;
    } catch (err) {
      record.outcome = 'failed';
      record.error = rootMessage(err as Error);
      throw err;
    } finally {
      record.finishedAt = new Date().toISOString();
      state.running = null;
      state.last = record;
    }
  }

  const checkDomain = (d: string) => {
    if (d !== domain) throw refuse('InvalidInput', `domain: this is the entity of ${domain}, not ${d}`);
    const problem = domainProblem(d);
    if (problem) throw refuse('InvalidInput', `domain: ${problem}`);
  };
  const migrating = () => state.migratingBy ?? null;
  const checkCreate = (req: CreateSiteRequest) => {
    checkDomain(req.domain);
    const timeouts = stepTimeoutsProblem(req.timeouts);
    if (timeouts) throw refuse('InvalidInput', timeouts);
    if (migrating() && migrating() !== req.migration) throw refuse('MigrationInProgress', `site ${domain} is being migrated by ${migrating()}`);
    // A migration lands only on a site that does not exist (or was deleted); its own retry is answered below.
    if (req.migration && migrating() !== req.migration && (state.phase === 'created' || state.phase === 'creating')) throw refuse('InvalidInput', `domain: ${domain} already exists on the farm: a migration never lands on an existing site`);
    if (state.restoreHolder) throw refuse('RestoreInProgress', `site ${domain} is being restored by ${state.restoreHolder}; create it again when that ends`);
    if (state.phase === 'deleting' || state.queued.includes('delete')) throw refuse('InvalidInput', `domain: ${domain} is being deleted`);
    if (state.spec && state.phase !== 'deleted') {
      const diff = sameSpec(state.spec, req);
      if (diff.length) throw refuse('InvalidInput', `domain: ${domain} already exists with other parameters: ${diff.join(', ')}`);
    }
  };
  const checkDelete = (req: DeleteSiteRequest) => {
    checkDomain(req.domain);
    if (migrating() && migrating() !== req.migration) throw refuse('MigrationInProgress', `site ${domain} is being migrated by ${migrating()}; it can be deleted when that ends`);
    if (req.migration && migrating() !== req.migration) throw refuse('InvalidInput', `domain: ${domain} is not being migrated by ${req.migration}: a migration deletes only the site it created`);
    if (state.restoreHolder || state.queued.includes('restore') || state.running?.name === 'restore') throw refuse('RestoreInProgress', `site ${domain} is being restored by ${state.restoreHolder ?? 'a queued restore'}; delete it after the restore ends`);
    if (state.phase === 'deleting' || state.queued.includes('delete')) throw refuse('InvalidInput', `domain: ${domain} is already being deleted`);
  };
  const checkRestore = (holder: string) => {
    if (migrating()) throw refuse('MigrationInProgress', `site ${domain} is being migrated by ${migrating()}; it can be restored when that ends`);
    if (state.restoreHolder && state.restoreHolder !== holder) throw refuse('RestoreInProgress', `site ${domain} is already being restored by ${state.restoreHolder}`);
    if (state.phase === 'deleting' || state.queued.includes('delete') || state.running?.name === 'delete') throw refuse('InvalidInput', `site ${domain} is being deleted; it cannot be restored meanwhile`);
    if (state.queued.includes('restore') && state.restoreHolder !== holder) throw refuse('RestoreInProgress', `site ${domain} already has a restore waiting`);
  };

  setHandler(
    createSiteUpdate,
    async (req) => {
      if (state.phase === 'created' && state.spec && !sameSpec(state.spec, req).length) return { domain, alreadyCreated: true as const };
      // Marked at once (before waiting for its turn): nothing else gets in between the migration and its site.
      if (req.migration) state.migratingBy = req.migration;
      return serialized<CreateSiteResult | { domain: string; alreadyCreated: true }>(
        'create',
        (n) => workflowIds.siteOperation(domain, 'create', n),
        async (workflowId) => {
          const before = { phase: state.phase, spec: state.spec };
          state.phase = 'creating';
          state.spec = { phpVersion: req.phpVersion, title: req.title, adminEmail: req.adminEmail, provider: req.provider, farm: req.farm, storageHost: req.storageHost };
          try {
            const r = await executeChild(createSiteWorkflow, { taskQueue: TASK_QUEUES.infra, workflowId, args: [input.stepTimeouts ? { ...req, timeouts: input.stepTimeouts } : req], typedSearchAttributes: siteSearchAttributes(domain, 'create', { farm: req.farm }) });
            state.phase = 'created';
            return r;
          } catch (err) {
            // Refused before its first change (a farm not found, a bad name): nothing was created, so the entity is
            // as it was, and the corrected create is not refused as "other parameters" (the typo's spec kept).
            // Patched: a history that kept the failed create's spec replays its later operations as they ran.
            if (refusedBeforeChange(err) && patched('site-create-refusal-forgotten')) Object.assign(state, before);
            else state.phase = 'failed';
            throw err;
          }
        },
        () => checkCreate(req),
        // patched last: evaluated only for a create queued behind the same create, which no older history holds.
        () => (state.phase === 'created' && state.spec && !sameSpec(state.spec, req).length && patched('site-create-queued-once') ? { domain, alreadyCreated: true as const } : null),
      );
    },
    { validator: checkCreate },
  );

  setHandler(
    deleteSiteUpdate,
    async (req) =>
      serialized(
        'delete',
        (n) => workflowIds.siteOperation(domain, 'delete', n),
        async (workflowId) => {
          const before = state.phase;
          state.phase = 'deleting';
          const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15) + 'Z';
          try {
            const r = await executeChild(deleteSiteWorkflow, { taskQueue: TASK_QUEUES.infra, workflowId, args: [{ domain, provider: req.provider, stamp }], typedSearchAttributes: siteSearchAttributes(domain, 'delete') });
            state.phase = 'deleted';
            return r;
          } catch (err) {
            state.phase = before === 'unknown' ? 'unknown' : 'failed';
            throw err;
          }
        },
        () => checkDelete(req),
      ),
    // The provider is checked at acceptance only (histories of deletes accepted before the check replay as they ran).
    { validator: (req: DeleteSiteRequest) => {
      checkDelete(req);
      if (state.spec?.provider && req.provider !== state.spec.provider) throw refuse('InvalidInput', `provider: ${domain} was created on a ${state.spec.provider} cluster, not ${req.provider}`);
    } },
  );

  setHandler(
    beginRestoreUpdate,
    async ({ holder }) => {
      if (state.restoreHolder === holder) return { holder, since: state.running?.startedAt ?? new Date().toISOString() };
      state.queued.push('restore');
      while (!free()) await condition(free);
      state.queued.splice(state.queued.indexOf('restore'), 1);
      checkRestore(holder);
      state.operations += 1;
      opsThisRun += 1;
      state.restoreHolder = holder;
      state.running = { name: 'restore', workflowId: holder, startedAt: new Date().toISOString(), finishedAt: null, outcome: 'running' };
      return { holder, since: state.running.startedAt };
    },
    { validator: ({ holder }) => checkRestore(holder) },
  );

  setHandler(endMigrationUpdate, ({ migration, ok }) => {
    if (migrating() !== migration) return { released: false };
    state.migratingBy = null;
    if (ok && state.phase === 'creating') state.phase = 'created';
    return { released: true };
  });

  setHandler(endRestoreUpdate, ({ holder, ok, error }) => {
    if (state.restoreHolder !== holder || !state.running) return { released: false };
    const record = state.running;
    record.finishedAt = new Date().toISOString();
    record.outcome = ok ? 'ok' : 'failed';
    if (error) record.error = error;
    // A deleted site restored from its final point is a site again.
    if (ok && (state.phase === 'deleted' || state.phase === 'failed') && state.spec) state.phase = 'created';
    state.last = record;
    state.running = null;
    state.restoreHolder = null;
    return { released: true };
  });

  // Idle between operations; a new run when the history grows (Temporal's suggestion) or after enough operations,
  // never with an operation or a restore in flight.
  const done = () => (workflowInfo().continueAsNewSuggested || opsThisRun >= (input.maxOperationsPerRun ?? MAX_OPERATIONS_PER_RUN)) && state.running === null && state.restoreHolder === null && !state.queued.length;
  if (patched('site-front-check')) {
    // A created site on a local cluster: its front route checked every FRONT_CHECK_EVERY_MS while idle (no timer at
    // all for other sites: an entity on the farm sleeps until an operation arrives).
    const watched = () => state.phase === 'created' && state.spec?.provider === 'local';
    for (;;) {
      if (!watched()) {
        await condition(() => done() || watched());
        if (done()) break;
        continue;
      }
      if (await condition(done, input.frontCheckEveryMs ?? FRONT_CHECK_EVERY_MS)) break;
      if (!watched() || !free() || state.queued.length) continue;
      await checkFront(state.spec!);
    }
  } else {
    await condition(done);
  }
  await condition(allHandlersFinished);
  await continueAsNew<typeof siteWorkflow>({
    domain, state,
    ...(input.maxOperationsPerRun ? { maxOperationsPerRun: input.maxOperationsPerRun } : {}),
    ...(input.frontCheckEveryMs ? { frontCheckEveryMs: input.frontCheckEveryMs } : {}),
    ...(input.stepTimeouts ? { stepTimeouts: input.stepTimeouts } : {}),
  });

  /** One front check; a failure is recorded in the state (the site's operations go on) and retried next time. */
  async function checkFront(spec: Omit<CreateSiteRequest, 'domain'>): Promise<void> {
    checking = true;
    const checkedAt = () => new Date().toISOString();
    try {
      const r = await refreshSiteFront({ domain, provider: spec.provider, farm: spec.farm, stack: siteNames(domain).stack });
      state.front = { node: r.node, address: r.address, port: r.port, checkedAt: checkedAt(), moves: (state.front?.moves ?? 0) + (r.changed ? 1 : 0) };
    } catch (err) {
      state.front = { node: state.front?.node ?? '', address: state.front?.address ?? '', port: state.front?.port ?? 0, checkedAt: checkedAt(), moves: state.front?.moves ?? 0, error: rootMessage(err as Error) };
    } finally {
      checking = false;
    }
  }
}

/** Activities on Temporal itself: what a workflow cannot do on its own, such as waiting on a workflow that is not its child. */
import { Context } from '@temporalio/activity';
import { WorkflowUpdateFailedError } from '@temporalio/client';
import type { UpdateDefinition } from '@temporalio/common';
import { TASK_QUEUES } from '../lib/contract/ids';
import { beginRestoreUpdate, createSiteUpdate, deleteSiteUpdate, endMigrationUpdate, endRestoreUpdate, SITE_ENTITY_WORKFLOW, siteEntityStart, siteStateQuery, type SiteEntityInput } from '../lib/contract/site-entity';
import { rootMessage } from '../lib/contract/failures';
import { failure } from '../lib/clients/errors';
import { cancellationOr } from './lib/heartbeat';

/** How long one call waits before answering "still running" (its proxy's start-to-close is 15 minutes). */
const WAIT_PER_CALL_MS = 10 * 60_000;
const LOOK_EVERY_MS = 10_000;

export function createTemporalActivities() {
  /**
   * The site's entity, started if it is not running (so sites registered before entities get one now), on this
   * activity's own queue: every worker runs every workflow and activity, and a restore run by an in-process
   * restore worker alone must not wait on a queue nobody polls.
   */
  async function siteEntity(site: string, taskQueue?: string) {
    const client = Context.current().client;
    const input: SiteEntityInput = { domain: site };
    const start = siteEntityStart(site, taskQueue ?? Context.current().info.taskQueue);
    await client.workflow.start(SITE_ENTITY_WORKFLOW, { ...start, args: [input] });
    // By ID alone: the entity's latest run, whichever has continued as new since.
    return client.workflow.getHandle(start.workflowId);
  }
  /**
   * An update the entity refused (its validator, or its check at its turn) keeps its type; a cancelled step reports
   * its cancellation; anything else is transient.
   */
  const refused = (err: unknown): never => {
    if (err instanceof WorkflowUpdateFailedError) {
      const cause = err.cause as (Error & { type?: string }) | undefined;
      const type = cause?.type === 'RestoreInProgress' || cause?.type === 'MigrationInProgress' ? cause.type : 'InvalidInput';
      // A refusal is the cause itself; a create or delete child that failed is a chain: say its deepest cause, not
      // "Child Workflow execution failed".
      throw failure(type, cause?.cause instanceof Error ? rootMessage(cause.cause) : (cause?.message ?? err.message));
    }
    // A call the step's cancellation aborted (the SDK ties the context client's calls to it) reports the
    // cancellation, not the aborted RPC (WorkflowUpdateRPCTimeoutOrCancelledError): the step ends as cancelled.
    throw cancellationOr(err);
  };

  /** An entity update that may wait minutes (a create or delete child): heartbeats every 5 s while it waits. */
  async function entityUpdate<R, A>(site: string, update: UpdateDefinition<R, [A]>, arg: A): Promise<R> {
    const ctx = Context.current();
    // The entity and its create/delete children run on drover-infra, whichever worker asks.
    const handle = await siteEntity(site, TASK_QUEUES.infra);
    const timer = setInterval(() => ctx.heartbeat(), 5_000);
    try {
      return await handle.executeUpdate(update, { args: [arg] }).catch(refused);
    } finally {
      clearInterval(timer);
    }
  }

  return {
    /**
     * A migration's site created on the farm through its entity (`createSite`, the entity started if it does not
     * run): the source's table prefix, no WordPress install, and the entity marked as migrating by `migration` so
     * nothing else deletes or restores it meanwhile. Refused (InvalidInput) when the domain is already a site.
     * Waits, heartbeating, for the create child (minutes: the service is deployed and must be healthy).
     */
    async createSiteForMigration(input: {
      request: { domain: string; phpVersion: string; title: string; adminEmail: string; provider: 'local' | 'digitalocean'; farm: string; storageHost: string | null; image?: string; tablePrefix: string };
      migration: string;
    }): Promise<{ database: string; dbUser: string; stack: string; filesPath: string; alreadyCreated: boolean }> {
      const r = await entityUpdate(input.request.domain, createSiteUpdate, { ...input.request, migration: input.migration });
      if ('alreadyCreated' in r) return { database: '', dbUser: '', stack: '', filesPath: '', alreadyCreated: true };
      return { database: r.database, dbUser: r.dbUser, stack: r.stack, filesPath: r.filesPath, alreadyCreated: false };
    },

    /** The migration is over (`ok`: migrated; otherwise undone): the site's entity lets other operations in again. Idempotent. */
    async endSiteMigration(input: { domain: string; migration: string; ok: boolean }): Promise<{ released: boolean }> {
      return entityUpdate(input.domain, endMigrationUpdate, { migration: input.migration, ok: input.ok });
    },

    /**
     * Compensation: removes the site a failed migration created (the entity's delete, by the migration that holds
     * it: no final restore point, the site never went live), then releases the entity. Nothing created: nothing
     * removed. Idempotent.
     */
    async removeMigratedSite(input: { domain: string; migration: string; provider: 'local' | 'digitalocean' }): Promise<{ removed: string[] }> {
      // Only the site this migration created: a site that exists for another reason is never touched.
      const handle = await siteEntity(input.domain, TASK_QUEUES.infra);
      const held = await handle.query(siteStateQuery);
      if (held.migratingBy !== input.migration) return { removed: [] };
      const r = await entityUpdate(input.domain, deleteSiteUpdate, { domain: input.domain, provider: input.provider, migration: input.migration });
      await entityUpdate(input.domain, endMigrationUpdate, { migration: input.migration, ok: false });
      return { removed: r.removed };
    },

    /**
     * Holds the site's entity workflow for a restore (`beginRestore`): waits behind an operation already running,
     * is refused (RestoreInProgress, InvalidInput) when another restore holds the site or it is being deleted.
     * Heartbeats while it waits its turn. Taking it again for the same holder is harmless.
     */
    async holdSiteForRestore(input: { site: string; holder: string; taskQueue?: string }): Promise<{ since: string }> {
      const ctx = Context.current();
      const handle = await siteEntity(input.site, input.taskQueue);
      const timer = setInterval(() => ctx.heartbeat(), 5_000);
      try {
        return await handle.executeUpdate(beginRestoreUpdate, { args: [{ holder: input.holder }] }).catch(refused);
      } finally {
        clearInterval(timer);
      }
    },

    /** Lets the site's entity go after a restore (`endRestore`; harmless when it does not hold it). */
    async releaseSiteFromRestore(input: { site: string; holder: string; ok: boolean; error?: string; taskQueue?: string }): Promise<{ released: boolean }> {
      const handle = await siteEntity(input.site, input.taskQueue);
      return handle.executeUpdate(endRestoreUpdate, { args: [{ holder: input.holder, ok: input.ok, ...(input.error ? { error: input.error.slice(0, 500) } : {}) }] });
    },

    /**
     * Waits, heartbeating, until the workflow with this ID (its latest run) is closed, for at most ten minutes;
     * the caller loops on `closed: false`. Used by a scheduled backup night that finds the night already running.
     */
    async awaitWorkflowClosed(input: { workflowId: string }): Promise<{ closed: boolean; status: string }> {
      const ctx = Context.current();
      const handle = ctx.client.workflow.getHandle(input.workflowId);
      const deadline = Date.now() + WAIT_PER_CALL_MS;
      for (;;) {
        const status = (await handle.describe()).status.name;
        if (status !== 'RUNNING') return { closed: true, status };
        ctx.heartbeat({ status });
        if (Date.now() >= deadline) return { closed: false, status };
        await ctx.sleep(LOOK_EVERY_MS);
      }
    },
  };
}

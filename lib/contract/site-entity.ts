/**
 * The site entity's protocol (workflows/site.ts runs it): its workflow type and ID, how it is started, the updates
 * and query it answers with their requests and results. Defined here, below workflows, so the CLI, the workflows and
 * the activities that steer it (activities/temporal.ts: a restore holds it, a migration creates and releases it) use
 * the same definitions and types: a name or an argument that does not match fails to compile. Plain definition
 * objects (what `defineUpdate`/`defineQuery` return), so this module needs no workflow runtime.
 */
import type { QueryDefinition, UpdateDefinition } from '@temporalio/common';
import { siteSearchAttributes } from './search-attributes';
import { workflowIds } from './ids';
import type { StepTimeouts } from '../step-timeouts';

/** The entity's workflow type (`siteWorkflow` in workflows/site.ts). */
export const SITE_ENTITY_WORKFLOW = 'siteWorkflow';

/**
 * How every caller starts the entity of `domain` on `taskQueue`, or attaches to it when it runs (USE_EXISTING: the
 * first caller starts it, the others get the running one); the caller adds its `args`.
 */
export function siteEntityStart(domain: string, taskQueue: string) {
  return {
    workflowId: workflowIds.site(domain),
    taskQueue,
    workflowIdConflictPolicy: 'USE_EXISTING' as const,
    typedSearchAttributes: siteSearchAttributes(domain, 'site'),
  };
}

const update = <Ret, Args extends unknown[]>(name: string): UpdateDefinition<Ret, Args> => ({ type: 'update', name }) as UpdateDefinition<Ret, Args>;
const query = <Ret>(name: string): QueryDefinition<Ret> => ({ type: 'query', name }) as QueryDefinition<Ret>;

export interface CreateSiteRequest {
  domain: string;
  phpVersion: string;
  title: string;
  adminEmail: string;
  /** The cluster the site's service runs on. */
  provider: 'local' | 'digitalocean';
  farm: string;
  /** SSH target of the storage node holding the files (null: the worker's default). */
  storageHost: string | null;
  /** The WordPress image when not the stack file's (the local provider's imported stand-in). */
  image?: string;
  /** WordPress's `$table_prefix` (default wp_): a migrated site keeps its old host's. */
  tablePrefix?: string;
  /**
   * The migration (its workflow ID) this site is created for: WordPress is not installed (the migration swaps its
   * database and files in) and the site stays `creating` until the migration marks it active; its entity refuses
   * deletes and restores by anyone else meanwhile.
   */
  migration?: string;
  /**
   * The long steps' timeouts (deploy, wait, address, install): the request's, or the site entity's own
   * `stepTimeouts` when it has them. A test's shorter heartbeat timeout notices a killed worker sooner. Absent: each
   * step's default.
   */
  timeouts?: StepTimeouts;
}

export interface CreateSiteResult {
  domain: string;
  database: string;
  dbUser: string;
  stack: string;
  filesPath: string;
  services: string[];
  installed: boolean;
}

export interface DeleteSiteResult {
  domain: string;
  finalPoint: string | null;
  removed: string[];
}

export interface DeleteSiteRequest {
  domain: string;
  provider: 'local' | 'digitalocean';
  /** The migration undoing the site it created (the only delete accepted while it migrates). */
  migration?: string;
}

export interface SiteOperationRecord {
  /** `create`, `delete`, `restore`. */
  name: string;
  /** The child workflow or restore that did it. */
  workflowId: string;
  startedAt: string;
  finishedAt: string | null;
  outcome: 'running' | 'ok' | 'failed';
  error?: string;
}

export interface SiteEntityState {
  domain: string;
  /** What the entity knows: `unknown` until it creates or deletes (a registered site touched only by restores). */
  phase: 'unknown' | 'creating' | 'created' | 'deleting' | 'deleted' | 'failed';
  /** The parameters it was created with (a create with others is refused). */
  spec: Omit<CreateSiteRequest, 'domain'> | null;
  /** The operation running now. */
  running: SiteOperationRecord | null;
  /** Operations accepted and waiting behind the running one. */
  queued: string[];
  /** The restore holding the site, if any. */
  restoreHolder: string | null;
  last: SiteOperationRecord | null;
  /** Operations over every run (numbers the children's IDs, so they never repeat). */
  operations: number;
  /** The last front check (a created site on a local cluster): where its task ran and whether the route moved. */
  front?: { node: string; address: string; port: number; checkedAt: string; moves: number; error?: string };
  /**
   * The migration (its workflow ID) that created the site and has not finished: until `endMigrationUpdate`, only it
   * may delete the site (its undo) and no restore may hold it. Absent in states from before migrations.
   */
  migratingBy?: string | null;
}

export interface SiteEntityInput {
  domain: string;
  /** Carried over continue-as-new. */
  state?: SiteEntityState;
  /** Operations per run before continuing as new (default MAX_OPERATIONS_PER_RUN; tests set a small one). */
  maxOperationsPerRun?: number;
  /** Milliseconds between front checks of a created local site (default FRONT_CHECK_EVERY_MS). */
  frontCheckEveryMs?: number;
  /** Timeouts of a create's long steps (default: each step's own; tests set a shorter heartbeat timeout). */
  stepTimeouts?: StepTimeouts;
}

/** Creates the site (idempotent: the same parameters again answer at once with the existing site). */
export const createSiteUpdate = update<CreateSiteResult | { domain: string; alreadyCreated: true }, [CreateSiteRequest]>('createSite');
/** Deletes the site (a final restore point first); refused while a restore holds it. */
export const deleteSiteUpdate = update<DeleteSiteResult, [DeleteSiteRequest]>('deleteSite');
/** A restore asks to hold the site; refused while another restore holds it or the site is being deleted. */
export const beginRestoreUpdate = update<{ holder: string; since: string }, [{ holder: string }]>('beginRestore');
/** The restore that holds the site lets it go (idempotent; a holder that is not the holder changes nothing). */
export const endRestoreUpdate = update<{ released: boolean }, [{ holder: string; ok: boolean; error?: string }]>('endRestore');
/** The migration that created the site lets it go: it is migrated (`ok`) or undone. A migration that does not hold it changes nothing. */
export const endMigrationUpdate = update<{ released: boolean }, [{ migration: string; ok: boolean }]>('endMigration');
export const siteStateQuery = query<SiteEntityState>('siteState');


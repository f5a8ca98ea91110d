/** Deterministic workflow IDs, from one helper: the same request always maps to the same workflow. */
import { fnv1a64 } from '../hash';
/**
 * Restores run on their own queue: only restore workers hold the backup identity (the private key). Migrations
 * too: only migration workers hold the key old hosts authorize and read the old hosts' database password files.
 */
export const TASK_QUEUES = { infra: 'drover-infra', backup: 'drover-backup', restore: 'drover-restore', migrate: 'drover-migrate' } as const;
export type TaskQueueName = keyof typeof TASK_QUEUES;
/** The short name (`infra`, …) of a Drover task queue's full name (`drover-infra`), or undefined for another queue. */
export function taskQueueName(fullName: string): TaskQueueName | undefined {
  return (Object.keys(TASK_QUEUES) as TaskQueueName[]).find((q) => TASK_QUEUES[q] === fullName);
}

/**
 * How long a read-only workflow (cluster health, smoke) may run. They exist to answer an operator who is waiting:
 * past this the answer is useless, and a caller killed meanwhile must not leave them open for ever.
 */
export const READ_ONLY_RUN_TIMEOUT_SECONDS = 600;

/** Characters of a drill's site list kept whole in its workflow ID. */
const DRILL_SITES_IN_ID = 200;

export const workflowIds = {
  /** One smoke run per label (the CLI uses the request time to the second). */
  smoke: (label: string): string => `smoke/${label}`,
  /** One restore point per site per nominal date (the schedule's date, not the wall clock). */
  siteBackup: (site: string, date: string): string => `backup/${site}/${date}`,
  nightlyBackup: (date: string): string => `nightly-backup/${date}`,
  siteRegistration: (site: string): string => `site/${site}/register`,
  /** The site's entity workflow: one per site, its whole life (created, backed up, restored, deleted) in one place. */
  site: (site: string): string => `site/${site}`,
  /** One operation the entity runs, numbered by the entity (its n-th operation over all its runs). */
  siteOperation: (site: string, operation: 'create' | 'delete', n: number): string => `site/${site}/${operation}/${n}`,
  /** Where a site's tasks run (`drover site show`): one lookup at a time per site, attached to by a second caller. */
  siteNodes: (site: string): string => `site/${site}/nodes`,
  /** Where a farm's sites' tasks run (`drover site list`). */
  farmSiteNodes: (farm: string): string => `site-nodes/${farm}`,
  /** A migration's target farm looked up before it starts (`drover migrate site|wave start`): apart from site list's. */
  farmCheck: (provider: string, farm: string): string => `farm-check/${provider}/${farm}`,
  prune: (date: string): string => `prune/${date}`,
  /** One migration per site per wave (re-running resumes it; a site moved in another wave is another run). */
  migrate: (wave: string, site: string): string => `migrate/${wave}/${site}`,
  /** One migration wave per wave name (re-running the same wave resumes it: its migrated sites are not redone). */
  migrationWave: (wave: string): string => `wave/${wave}`,
  /**
   * One pre-flight of a migration file per content hash (the same file checked twice at once is the same check;
   * checked again once it has closed, a new run).
   */
  migrateCheck: (hash: string): string => `migrate-check/${hash}`,
  restore: (site: string, at: string, to?: string): string => `restore/${site}/${at}${to ? `/to/${to}` : ''}`,
  /**
   * One drill per nominal date (the schedule's date), and per list of sites when the operator names them (in any
   * order: the same sites are the same drill). A list longer than fits is cut, with its count and a hash of the whole.
   */
  restoreDrill: (date: string, sites?: string[]): string => {
    if (!sites?.length) return `restore-drill/${date}`;
    const unique = [...new Set(sites)].sort();
    const list = unique.join(',');
    return `restore-drill/${date}/${list.length <= DRILL_SITES_IN_ID ? list : `${list.slice(0, DRILL_SITES_IN_ID - 40)}~${unique.length}-sites-${fnv1a64(list)}`}`;
  },
  /**
   * A workflow's child: its parent's ID and what the child does for it (a bring-up's `provision`, a scaling's
   * `bring-up`, a drill's or a farm recovery's site). It sits beside its parent in the Web UI's list, and the parent's
   * next attempt at the same step finds the same child.
   */
  child: (parentId: string, part: string): string => `${parentId}/${part}`,
  /** One farm recovery per label (the operator's name for the event, e.g. `2026-11-22-fra1-outage`). */
  restoreFarm: (label: string): string => `restore-farm/${label}`,
  /**
   * One bring-up per farm (re-running resumes it), one teardown per provider and farm, one scaling per farm and
   * change (`scale workers` is local only): a second caller while one runs attaches to it (a `down --yes` or `scale
   * workers +1` run twice at once is one run, not two side by side); once it has closed, the same command starts a
   * new run. A health check is a read-only report per request (its own bound, `status --timeout`): one per farm and
   * request time (ISO 8601, to the millisecond).
   */
  bringUp: (farm: string): string => `bringup/${farm}`,
  teardown: (provider: string, farm: string): string => `teardown/${provider}/${farm}`,
  scale: (farm: string, delta: number): string => `scale/${farm}/${delta > 0 ? '+' : ''}${delta}`,
  health: (farm: string, requestedAt: Date): string => `health/${farm}/${requestedAt.toISOString()}`,
  /** One provisioning per farm (re-running resumes it). */
  provision: (farm: string): string => `provision/${farm}`,
  /** One live contractor grant per site and user (`drover access revoke <this ID>`); granted again after it ends. */
  accessGrant: (site: string, user: string): string => `access/${site}/${user}`,
  /** The Schedule that starts the weekly restore drill. */
  drillSchedule: 'restore-drill',
  /** The Schedule that starts the nightly backup (Temporal appends each run's scheduled time). */
  backupSchedule: 'nightly-backup',
};

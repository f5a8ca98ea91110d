/** Deterministic workflow IDs, from one helper: the same request always maps to the same workflow. */
/** Restores run on their own queue: only restore workers hold the backup identity (the private key). */
export const TASK_QUEUES = { infra: 'drover-infra', backup: 'drover-backup', restore: 'drover-restore' } as const;
export type TaskQueueName = keyof typeof TASK_QUEUES;

export const workflowIds = {
  /** One smoke run per label (the CLI uses the request time to the second). */
  smoke: (label: string): string => `smoke/${label}`,
  /** One restore point per site per nominal date (the schedule's date, not the wall clock). */
  siteBackup: (site: string, date: string): string => `backup/${site}/${date}`,
  nightlyBackup: (date: string): string => `nightly-backup/${date}`,
  siteRegistration: (site: string): string => `site/${site}/register`,
  prune: (date: string): string => `prune/${date}`,
  restore: (site: string, at: string, to?: string): string => `restore/${site}/${at}${to ? `/to/${to}` : ''}`,
  /** One drill per nominal date (the schedule's date). */
  restoreDrill: (date: string): string => `restore-drill/${date}`,
  /** One farm recovery per label (the operator's name for the event, e.g. `2026-11-22-fra1-outage`). */
  restoreFarm: (label: string): string => `restore-farm/${label}`,
  /** One bring-up per farm (re-running resumes it), one teardown per farm. */
  bringUp: (farm: string): string => `bringup/${farm}`,
  teardown: (farm: string): string => `teardown/${farm}`,
  scale: (farm: string, delta: number): string => `scale/${farm}/${delta > 0 ? '+' : ''}${delta}`,
  /** One provisioning per farm (re-running resumes it). */
  provision: (farm: string): string => `provision/${farm}`,
  /** The Schedule that starts the weekly restore drill. */
  drillSchedule: 'restore-drill',
  /** The Schedule that starts the nightly backup (Temporal appends each run's scheduled time). */
  backupSchedule: 'nightly-backup',
};

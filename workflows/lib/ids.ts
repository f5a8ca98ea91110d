/** Deterministic workflow IDs, from one helper: the same request always maps to the same workflow. */
export const TASK_QUEUES = { infra: 'drover-infra', backup: 'drover-backup' } as const;
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
  /** The Schedule that starts the nightly backup (Temporal appends each run's scheduled time). */
  backupSchedule: 'nightly-backup',
};

/** Deterministic workflow IDs, from one helper: the same request always maps to the same workflow. */
export const TASK_QUEUES = { infra: 'drover-infra', backup: 'drover-backup' } as const;
export type TaskQueueName = keyof typeof TASK_QUEUES;

export const workflowIds = {
  /** One smoke run per label (the CLI uses the request time to the second). */
  smoke: (label: string): string => `smoke/${label}`,
};

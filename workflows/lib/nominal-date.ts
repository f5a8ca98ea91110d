import { workflowInfo } from '@temporalio/workflow';

/** The date a run stands for: the input's, else the Schedule's scheduled time (UTC date), else the start time. */
export function nominalDate(date?: string): string {
  if (date) return date;
  const scheduled = workflowInfo().searchAttributes?.TemporalScheduledStartTime?.[0];
  const when = scheduled instanceof Date ? scheduled : scheduled ? new Date(String(scheduled)) : workflowInfo().startTime;
  return when.toISOString().slice(0, 10);
}

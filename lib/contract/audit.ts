/** The audit record's shared shape (pure: the workflow interceptor imports it inside the sandbox). */

/** The workflow header carrying the operator's name, set by the CLI's client and passed on to child workflows. */
export const OPERATOR_HEADER = 'drover-operator';

export type AuditOutcome = 'completed' | 'failed' | 'cancelled';

/** What a workflow reports when it ends (pure data: it crosses from the workflow sandbox through a sink). */
export interface AuditRecord {
  operator: string;
  /** The workflow type without its `Workflow` suffix: siteBackup, restoreSite, restoreFarm, … */
  operation: string;
  /** The site it concerned (its input's `site`), or null for farm-wide operations. */
  site: string | null;
  outcome: AuditOutcome;
  /** The failure's ApplicationFailure type when it failed (InvalidInput, …). */
  failureType: string | null;
}

/** The operation name for a workflow type: `restoreSiteWorkflow` → `restoreSite`. */
export const operationOf = (workflowType: string): string => workflowType.replace(/Workflow$/, '');

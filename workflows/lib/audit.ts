/**
 * Workflow interceptors (bundled into every worker's workflow code, workers/build-bundle.ts) that report each
 * workflow run's end to the audit sink: who (the operator header the CLI set, passed on to child workflows),
 * what (the workflow type), which site (the input's `site`), and how it ended. A sink call is not a command: it
 * leaves the history and the replay untouched, and it is not repeated on replay.
 */
import {
  ContinueAsNew,
  defaultPayloadConverter,
  isCancellation,
  proxySinks,
  workflowInfo,
  type Next,
  type Sinks,
  type StartChildWorkflowExecutionInput,
  type WorkflowExecuteInput,
  type WorkflowInboundCallsInterceptor,
  type WorkflowInterceptorsFactory,
  type WorkflowOutboundCallsInterceptor,
} from '@temporalio/workflow';
import type { Payload } from '@temporalio/common';
import { OPERATOR_HEADER, operationOf, type AuditRecord } from '../../lib/contract/audit';

export interface AuditSinks extends Sinks {
  audit: { record(record: AuditRecord): void };
}

const { audit } = proxySinks<AuditSinks>();

function operatorFrom(header: Payload | undefined): string {
  if (header) {
    try {
      const v: unknown = defaultPayloadConverter.fromPayload(header);
      if (typeof v === 'string' && v) return v;
    } catch {
      // not ours: fall through
    }
  }
  const scheduledBy = workflowInfo().searchAttributes?.TemporalScheduledById;
  return Array.isArray(scheduledBy) && typeof scheduledBy[0] === 'string' ? `schedule:${scheduledBy[0]}` : 'unknown';
}

const siteOf = (args: unknown[]): string | null => {
  const site = (args[0] as { site?: unknown } | undefined)?.site;
  return typeof site === 'string' ? site : null;
};

/** The first ApplicationFailure type down the cause chain (the workflow's own, else its activity's or child's). */
function failureTypeOf(err: unknown): string | null {
  for (let e = err as { type?: unknown; cause?: unknown } | undefined, i = 0; e && typeof e === 'object' && i < 10; e = e.cause as typeof e, i++) {
    if (typeof e.type === 'string' && e.type) return e.type;
  }
  return null;
}

class AuditInbound implements WorkflowInboundCallsInterceptor {
  constructor(private readonly state: { header?: Payload }) {}

  async execute(input: WorkflowExecuteInput, next: Next<WorkflowInboundCallsInterceptor, 'execute'>): Promise<unknown> {
    this.state.header = input.headers[OPERATOR_HEADER];
    const base = { operator: operatorFrom(input.headers[OPERATOR_HEADER]), operation: operationOf(workflowInfo().workflowType), site: siteOf(input.args) };
    try {
      const result = await next(input);
      audit.record({ ...base, outcome: 'completed', failureType: null });
      return result;
    } catch (err) {
      // Continuing as new is not an end: the next run reports.
      if (!(err instanceof ContinueAsNew)) {
        audit.record({ ...base, outcome: isCancellation(err) ? 'cancelled' : 'failed', failureType: failureTypeOf(err) });
      }
      throw err;
    }
  }
}

class OperatorToChildren implements WorkflowOutboundCallsInterceptor {
  constructor(private readonly state: { header?: Payload }) {}

  startChildWorkflowExecution(input: StartChildWorkflowExecutionInput, next: Next<WorkflowOutboundCallsInterceptor, 'startChildWorkflowExecution'>) {
    const header = this.state.header;
    return next(header ? { ...input, headers: { ...input.headers, [OPERATOR_HEADER]: header } } : input);
  }
}

export const interceptors: WorkflowInterceptorsFactory = () => {
  const state: { header?: Payload } = {};
  return { inbound: [new AuditInbound(state)], outbound: [new OperatorToChildren(state)] };
};

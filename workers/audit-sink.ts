/**
 * The worker side of the audit record: the sink the workflow interceptor (workflows/lib/audit.ts) calls when a
 * run ends writes one row to drover_meta.audit_events. Not called on replay. A row that cannot be written (the
 * database unreachable at that moment) is logged as a warning and lost: the record is best effort.
 */
import type { InjectedSinks } from '@temporalio/worker';
import { Runtime } from '@temporalio/worker';
import path from 'node:path';
import { recordAuditEvent } from '../lib/audit';
import type { GaleraClient } from '../lib/clients/galera-client';
import type { AuditSinks } from '../workflows/lib/audit';

/** The interceptor module bundled into the workflow code (webpack resolves .ts from the sources, .js in dist/). */
export const AUDIT_INTERCEPTORS_MODULE = path.resolve(__dirname, '..', 'workflows', 'lib', 'audit');

export function auditSinks(galera: GaleraClient): InjectedSinks<AuditSinks> {
  return {
    audit: {
      record: {
        fn: async (info, record) => {
          try {
            await recordAuditEvent(galera, { ...record, at: new Date(), workflowId: info.workflowId, runId: info.runId });
          } catch (err) {
            Runtime.instance().logger.warn(`audit event of ${info.workflowType} ${info.runId} not recorded: ${(err as Error).message}`);
          }
        },
        callDuringReplay: false,
      },
    },
  };
}

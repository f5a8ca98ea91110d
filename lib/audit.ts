/**
 * The audit record: who did what to which site, and when, kept in drover_meta.audit_events (migration 22) as each
 * workflow ends, so it outlives the namespace's history retention. Rows are written by the worker that ran the
 * workflow (workers/audit-sink.ts, fed by the workflow interceptor workflows/lib/audit.ts), read by `drover audit`.
 * The operator is what the CLI asserts (DROVER_OPERATOR, else the OS user) in a workflow header; see
 * docs/security.md for what that is worth.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { GaleraClient } from './clients/galera-client';
import { ensureMetaSchema } from './meta-schema';
import type { AuditOutcome, AuditRecord } from './contract/audit';

export { OPERATOR_HEADER, operationOf, type AuditOutcome, type AuditRecord } from './contract/audit';

export interface AuditEvent extends AuditRecord {
  at: Date;
  workflowId: string;
  runId: string;
  /**
   * A run's events in order: 0 is the run's end (the interceptor's row); a contractor grant also records each of its
   * steps as it happens (accessGranted 1, accessExtended 2…, accessRevoked), so a grant shows up while it is live.
   */
  seq?: number;
  /** What the step did, without secrets (a grant's user, kinds and expiry). */
  detail?: string | null;
}

/** Records one ended workflow run (or one step of it, `seq`); each is recorded once (a repeated call is a no-op). */
export async function recordAuditEvent(galera: GaleraClient, e: AuditEvent): Promise<void> {
  await ensureMetaSchema(galera);
  await galera.query(
    await galera.writerNode(),
    `INSERT IGNORE INTO drover_meta.audit_events (at, operator, operation, site, workflow_id, run_id, seq, outcome, failure_type, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    [e.at, e.operator.slice(0, 255), e.operation.slice(0, 128), e.site?.slice(0, 253) ?? null, e.workflowId.slice(0, 1000), e.runId.slice(0, 64), e.seq ?? 0, e.outcome, e.failureType?.slice(0, 128) ?? null, e.detail?.slice(0, 255) ?? null],
  );
}

export interface AuditFilter {
  site?: string;
  since?: Date;
  operation?: string;
  limit?: number;
}

/** Audit events, oldest first, filtered by site, start time and operation. */
export async function listAuditEvents(galera: GaleraClient, f: AuditFilter = {}): Promise<AuditEvent[]> {
  await ensureMetaSchema(galera);
  const where: string[] = [];
  const args: unknown[] = [];
  const filter = (sql: string, value: unknown) => {
    where.push(sql);
    args.push(value);
  };
  if (f.site !== undefined) filter('site = ?', f.site);
  if (f.since !== undefined) filter('at >= ?', f.since);
  if (f.operation !== undefined) filter('operation = ?', f.operation);
  const rows = await galera.query<RowDataPacket[]>(
    await galera.writerNode(),
    `SELECT at, operator, operation, site, workflow_id, run_id, seq, outcome, failure_type, detail FROM drover_meta.audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at, id LIMIT ${Math.max(1, Math.min(f.limit ?? 10_000, 100_000))}`,
    args,
  );
  return rows.map((r) => ({
    at: new Date(r.at as Date),
    operator: String(r.operator),
    operation: String(r.operation),
    site: r.site === null ? null : String(r.site),
    workflowId: String(r.workflow_id),
    runId: String(r.run_id),
    outcome: r.outcome as AuditOutcome,
    failureType: r.failure_type === null ? null : String(r.failure_type),
    seq: Number(r.seq),
    detail: r.detail === null ? null : String(r.detail),
  }));
}

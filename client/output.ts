/**
 * How every command reports: one JSON document on stdout with --json, readable text otherwise; exit 0 on
 * success, 1 on failure, 2 on bad input (with the offending field named).
 */
import { ActivityFailure, ApplicationFailure, WorkflowFailedError, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Command } from 'commander';
import { z } from 'zod';

export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
}

/**
 * An update a workflow refused, for the operator: its validator's InvalidInput ("field: message") is a usage error
 * naming that field (as the operator typed it: `flagFor`, like parseOptions'), exit 2 (nothing changed); any other
 * refusal is a plain error (exit 1) with the root message.
 */
export function updateRefusal(err: unknown, defaultField: string, flagFor: (field: string) => string = (f) => f): never {
  if (err instanceof WorkflowUpdateFailedError) {
    let cause = err.cause as (Error & { type?: string; cause?: unknown }) | undefined;
    while (cause?.cause instanceof Error && !cause.type) cause = cause.cause as Error & { type?: string };
    const message = cause?.message ?? err.message;
    if (cause?.type === 'InvalidInput') {
      const [field, ...rest] = message.split(': ');
      throw new UsageError(rest.length ? flagFor(field) : defaultField, rest.length ? rest.join(': ') : message);
    }
    throw new Error(message);
  }
  throw err;
}

/**
 * A workflow that refused its input itself (an InvalidInput "field: message" it threw, not a child's; with
 * `activity`, also one its activity threw) when `flags` names that field: a usage error naming the flag (exit 2),
 * `suffix` added to the message; null for any other failure, which stays as it is (exit 1 with its root cause).
 * Only for workflows whose refusals of those fields come before their first change (a lookup, a check made first,
 * an activity that checks before it writes): bad input that changed nothing.
 */
export function workflowInputRefusal(err: unknown, flags: Record<string, string>, o: { suffix?: string; activity?: boolean } = {}): UsageError | null {
  if (!(err instanceof WorkflowFailedError)) return null;
  const cause = o.activity && err.cause instanceof ActivityFailure ? err.cause.cause : err.cause;
  if (!(cause instanceof ApplicationFailure) || cause.type !== 'InvalidInput') return null;
  const at = cause.message.indexOf(': ');
  const flag = at > 0 ? flags[cause.message.slice(0, at)] : undefined;
  return flag ? new UsageError(flag, `${cause.message.slice(at + 2)}${o.suffix ?? ''}`) : null;
}

export interface CommandResult {
  ok: boolean;
  data: unknown;
  text: string;
}

export interface GlobalOpts {
  json: boolean;
  stateDir: string;
  portOffset: number;
}

export function globals(cmd: Command): GlobalOpts {
  const o = cmd.optsWithGlobals() as { json?: boolean; stateDir?: string; portOffset?: string };
  const offset = o.portOffset ?? process.env.DROVER_PORT_OFFSET ?? '0';
  if (!/^\d+$/.test(offset) || Number(offset) > 50_000) throw new UsageError('--port-offset', `expected a whole number from 0 to 50000, got "${offset}"`);
  return { json: Boolean(o.json), stateDir: o.stateDir ?? process.env.DROVER_STATE_DIR ?? '.drover', portOffset: Number(offset) };
}

/** Validates options with a zod schema; the first issue becomes a UsageError naming the flag. */
export function parseOptions<S extends z.ZodType>(schema: S, raw: unknown, flagFor: (key: string) => string = (k) => `--${k.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())}`): z.infer<S> {
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0];
    throw new UsageError(flagFor(String(issue.path[0] ?? '?')), issue.message);
  }
  return r.data;
}

/** Logs progress to stderr (stdout is reserved for the result, so --json stays one parseable document). */
export function progress(json: boolean): (msg: string) => void {
  return (msg) => {
    if (!json || process.env.DROVER_VERBOSE) process.stderr.write(`• ${msg}\n`);
  };
}

export function exitCodeFor(err: unknown): number {
  const name = (err as Error)?.name;
  return name === 'UsageError' || name === 'EnvError' ? 2 : 1;
}

/** One link of a failure's cause chain, as the operator needs it. */
export interface FailureLink {
  kind: string;
  message: string;
  /** ApplicationFailure's type (InvalidInput, BackupCorrupted, …). */
  type?: string;
  /** The activity that failed (ActivityFailure). */
  activity?: string;
  /** The child workflow that failed (ChildWorkflowFailure). */
  workflow?: string;
  /** The step a workflow names in its failure's details (`failedStep`: restore site, provision farm). */
  step?: string;
}

/** Walks `err.cause` down to the root: a WorkflowFailedError's reason is in its causes, not its message. */
export function failureChain(err: unknown): FailureLink[] {
  const chain: FailureLink[] = [];
  const seen = new Set<unknown>();
  for (let e = err as (Error & Record<string, unknown>) | undefined; e && typeof e === 'object' && !seen.has(e); e = e.cause as typeof e) {
    seen.add(e);
    const link: FailureLink = { kind: e.name ?? 'Error', message: String(e.message ?? e) };
    if (typeof e.type === 'string' && e.type) link.type = e.type;
    if (typeof e.activityType === 'string') link.activity = e.activityType;
    const execution = e.execution as { workflowId?: string } | undefined;
    if (typeof e.workflowType === 'string') link.workflow = `${e.workflowType}${execution?.workflowId ? ` ${execution.workflowId}` : ''}`;
    const details = Array.isArray(e.details) ? (e.details[0] as { failedStep?: unknown } | undefined) : undefined;
    if (details && typeof details === 'object' && typeof details.failedStep === 'string' && details.failedStep) link.step = details.failedStep;
    chain.push(link);
  }
  return chain;
}

/** The error in one line: what failed, at which step (child workflows, then the activity), and the root cause. */
export interface FailureReport {
  message: string;
  step?: string;
  cause?: FailureLink;
  chain: FailureLink[];
}

export function describeFailure(err: unknown): FailureReport {
  const chain = failureChain(err);
  if (chain.length <= 1) return { message: chain[0]?.message ?? String(err), chain };
  const root = chain[chain.length - 1];
  const where = chain.filter((l) => l.workflow || l.activity || l.step).map((l) => (l.activity ? `activity ${l.activity}` : l.step ? `step "${l.step}"` : `child ${l.workflow}`));
  const deepest = [...chain].reverse();
  const step = deepest.find((l) => l.activity)?.activity ?? deepest.find((l) => l.step)?.step ?? deepest.find((l) => l.workflow)?.workflow;
  const rootText = `${root.type && root.type !== root.kind ? `${root.type}: ` : ''}${root.message}`;
  return { message: `${chain[0].message}${where.length ? ` at ${where.join(' → ')}` : ''}: ${rootText}`, step, cause: root, chain };
}

/** The `error` of a --json document, the same for every command: kind, message, field, step, cause, chain. */
export function errorReport(err: unknown): { kind: string; message: string; field?: string; step?: string; cause?: FailureLink; chain?: FailureLink[] } {
  const e = err as Error & { field?: string; issues?: { field: string; message: string }[] };
  const d = describeFailure(err);
  return { kind: e.name ?? 'Error', message: d.message, field: e.field ?? e.issues?.[0]?.field, step: d.step, cause: d.cause, chain: d.chain.length > 1 ? d.chain : undefined };
}

export function printError(err: unknown, json: boolean): void {
  if (json) process.stdout.write(JSON.stringify({ ok: false, error: errorReport(err) }, null, 2) + '\n');
  else process.stderr.write(`drover: ${describeFailure(err).message}\n`);
}

/** Wraps a command body: prints its result or error the same way everywhere and sets the exit code. */
export function action(body: (opts: Record<string, unknown>, cmd: Command, args: string[]) => Promise<CommandResult>) {
  return async (...params: unknown[]) => {
    const cmd = params[params.length - 1] as Command;
    const opts = params[params.length - 2] as Record<string, unknown>;
    const args = params.slice(0, -2) as string[];
    let json = false;
    try {
      json = Boolean((cmd.optsWithGlobals() as { json?: boolean }).json);
      const r = await body(opts, cmd, args);
      if (json) process.stdout.write(JSON.stringify({ ok: r.ok, ...(r.data as object) }, null, 2) + '\n');
      else process.stdout.write(r.text.endsWith('\n') ? r.text : r.text + '\n');
      process.exitCode = r.ok ? 0 : 1;
    } catch (err) {
      printError(err, json);
      process.exitCode = exitCodeFor(err);
    }
  };
}

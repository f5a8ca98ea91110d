/**
 * How every command reports: one JSON document on stdout with --json, readable text otherwise; exit 0 on
 * success, 1 on failure, 2 on bad input (with the offending field named).
 */
import type { Command } from 'commander';
import { z } from 'zod';

export class UsageError extends Error {
  override readonly name = 'UsageError';
  constructor(readonly field: string, message: string) {
    super(`${field}: ${message}`);
  }
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

export function printError(err: unknown, json: boolean): void {
  const e = err as Error & { field?: string; issues?: { field: string; message: string }[] };
  if (json) {
    process.stdout.write(JSON.stringify({ ok: false, error: { kind: e.name ?? 'Error', message: e.message, field: e.field ?? e.issues?.[0]?.field } }, null, 2) + '\n');
  } else {
    process.stderr.write(`drover: ${e.message ?? String(err)}\n`);
  }
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

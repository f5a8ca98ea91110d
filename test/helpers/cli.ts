/** Runs the built `drover` CLI (dist/, as users run it) against the test environment. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from './paths';

export const CLI = path.join(ROOT, 'dist', 'client', 'cli.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

export function drover(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> });
    });
  });
}

export interface WorkerProcess {
  worker: ChildProcess;
  exited: Promise<void>;
  /** The end of its stderr (fault points announce themselves there). */
  stderr: () => string;
  /** stopWorkerProcess on it. */
  stop: () => Promise<void>;
}

/**
 * Stops a worker process as a supervisor does: SIGTERM, then SIGKILL when it has not exited within `withinMs` (the
 * worker's own bound is its grace time, 30 s, + 5 s). Killed, it rejects with the end of the worker's output: a worker
 * that does not stop fails the test that stopped it instead of polling on into the next file's tests (a leftover
 * backup worker once took another file's crash test's workflow, whose armed worker then never crashed).
 */
export async function stopWorkerProcess(w: ChildProcess, output: () => string = () => '', withinMs = 60_000): Promise<void> {
  const gone = () => w.exitCode !== null || w.signalCode !== null;
  if (gone()) return;
  const exited = new Promise<boolean>((r) => w.once('exit', () => r(true)));
  w.kill('SIGTERM');
  if (await Promise.race([exited, new Promise<boolean>((r) => setTimeout(() => r(false), withinMs))])) {
    // Exit 1 on SIGTERM: it gave up on activities that ignored their cancellation (named in its output).
    if (w.exitCode) console.warn(`worker pid ${w.pid} exited ${w.exitCode} on SIGTERM; its output ended with:\n${output()}`);
    return;
  }
  w.kill('SIGKILL');
  await exited;
  throw new Error(`worker pid ${w.pid} still running ${withinMs / 1000} s after SIGTERM: killed. Its output ended with:\n${output()}`);
}

/**
 * `drover worker <queue>` as its own process, as production runs it: its SDK metrics on a free port, the fault
 * switches (DROVER_FAULT_CRASH_AT, DROVER_FAULT_STALL_AT) only when `env` sets them, whatever the test process has.
 */
export function spawnDroverWorker(queue: 'infra' | 'backup' | 'restore' | 'migrate', env: NodeJS.ProcessEnv = {}): WorkerProcess {
  const full: NodeJS.ProcessEnv = { ...process.env, DROVER_METRICS_PORT: '0', DROVER_BACKUP_METRICS_PORT: '0' };
  delete full.DROVER_FAULT_CRASH_AT;
  delete full.DROVER_FAULT_STALL_AT;
  for (const [k, v] of Object.entries(env)) if (v !== undefined) full[k] = v;
  const worker = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', queue], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: full });
  let err = '';
  worker.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
  return { worker, exited: new Promise((r) => worker.once('close', () => r())), stderr: () => err, stop: () => stopWorkerProcess(worker, () => err) };
}

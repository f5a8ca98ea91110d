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
  return { worker, exited: new Promise((r) => worker.once('close', () => r())), stderr: () => err };
}

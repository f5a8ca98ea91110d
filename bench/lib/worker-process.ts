/**
 * A worker as production runs it (`dist/workers/<queue>.js`, its own process, as the stack's services start it),
 * for benchmarks that measure it. Given DROVER_STATE_DIR, the worker reads the environment `drover worker <queue>`
 * would (the state folder's env file under this process's environment); the CLI itself is not loaded (its other
 * commands' modules, the Docker client among them, would count in the worker's memory).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/** A /proc/<pid>/status figure in bytes (VmRSS now, VmHWM the peak). */
export const procStatus = (pid: number, field: 'VmRSS' | 'VmHWM'): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/**
 * A process's CPU time so far in seconds: its own (user and system) and that of the children it has reaped (the
 * worker's `mariadb-dump`, `zstd` and `age` once they have exited), from /proc/<pid>/stat.
 */
export function processCpuSeconds(pid: number): { own: number; children: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces), counted from field 3 (state).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);
  const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]];
  return { own: (utime + stime) / 100, children: (cutime + cstime) / 100 };
}

export interface WorkerProcess {
  proc: ChildProcess;
  /** Rejects if the worker exits before `stop` (race a workflow against it: nothing else polls its queue). */
  died: Promise<never>;
  /** Stops the worker; resolves to its peak RSS (VmHWM) in bytes, read just before it is stopped. */
  stop: () => Promise<number>;
}

/** A worker's memory settings as the farm deploys it: MALLOC_* and NODE_OPTIONS of stacks/drover.yml's `<queue>-worker`. */
export function deployedMemoryEnv(queue: 'backup' | 'restore'): Record<string, string> {
  const stack = parse(readFileSync(path.resolve('stacks/drover.yml'), 'utf8'), { merge: true }) as { services: Record<string, { environment?: Record<string, string> }> };
  return Object.fromEntries(Object.entries(stack.services[`${queue}-worker`].environment ?? {}).filter(([k]) => k === 'NODE_OPTIONS' || k.startsWith('MALLOC_')));
}

/**
 * Starts the worker (Node flags and extra environment optional) and waits `settleMs` for it to poll. With
 * `deployed`, it runs with the stack's memory settings (deployedMemoryEnv), as on the farm; else with Node's defaults.
 * `root`: another checkout's built worker (an A/B against older code), else this one's.
 */
export async function startWorker(o: { queue: 'backup' | 'restore'; stateDir: string; deployed?: boolean; root?: string; nodeFlags?: string[]; env?: NodeJS.ProcessEnv; settleMs?: number }): Promise<WorkerProcess> {
  const proc = spawn(process.execPath, [...(o.nodeFlags ?? []), path.resolve(o.root ?? '.', `dist/workers/${o.queue}.js`)], {
    env: { ...process.env, DROVER_STATE_DIR: o.stateDir, DROVER_METRICS_PORT: '0', DROVER_BACKUP_METRICS_PORT: '0', ...(o.deployed ? deployedMemoryEnv(o.queue) : {}), ...o.env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  proc.stderr!.on('data', (d) => (err = (err + d).slice(-4000)));
  const ended = () => proc.exitCode !== null || proc.signalCode !== null;
  const died = new Promise<never>((_, reject) => proc.once('exit', (code, signal) => reject(new Error(`${o.queue} worker exited ${code ?? signal}: ${err}`))));
  died.catch(() => undefined);
  // The bench ending any way at all takes its worker with it (it would otherwise poll the queue on).
  const reap = () => proc.kill('SIGKILL');
  process.once('exit', reap);
  await new Promise((r) => setTimeout(r, o.settleMs ?? 3000));
  if (ended()) await died;
  return {
    proc,
    died,
    stop: async () => {
      process.removeListener('exit', reap);
      if (ended()) return 0;
      const hwm = procStatus(proc.pid!, 'VmHWM');
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
      return hwm;
    },
  };
}

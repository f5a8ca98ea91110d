/**
 * A worker as production runs it (`dist/workers/<queue>.js`, its own process, as the stack's services start it),
 * for benchmarks that measure it. Given DROVER_STATE_DIR, the worker reads the environment `drover worker <queue>`
 * would (the state folder's env file under this process's environment); the CLI itself is not loaded (its other
 * commands' modules, the Docker client among them, would count in the worker's memory).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';

/** A /proc/<pid>/status figure in bytes (VmRSS now, VmHWM the peak). */
export const procStatus = (pid: number, field: 'VmRSS' | 'VmHWM'): number => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) * 1024;

/** Resets a process's peak RSS (VmHWM) to its RSS now (`/proc/<pid>/clear_refs`), to read one phase's peak. */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}

/** A /proc stat line's fields after the command name (which may hold spaces and parentheses), from field 3 (state). */
const statFields = (stat: string): number[] => stat.slice(stat.lastIndexOf(')') + 2).split(' ').map(Number);

/**
 * A process's CPU time so far in seconds: its own (user and system) and that of the children it has reaped (the
 * worker's `mariadb-dump`, `zstd` and `age` once they have exited), from /proc/<pid>/stat.
 */
export function processCpuSeconds(pid: number): { own: number; children: number } {
  const f = statFields(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  const [utime, stime, cutime, cstime] = [f[11], f[12], f[13], f[14]];
  return { own: (utime + stime) / 100, children: (cutime + cstime) / 100 };
}

/** A process's threads now: each one's name and CPU seconds so far, by thread id, with the process's own total. */
export interface ThreadCpu {
  total: number;
  threads: Map<string, { name: string; seconds: number }>;
}

/**
 * Reads a process's threads (/proc/<pid>/task/<tid>/stat): the main thread as `main`, the others by their names,
 * which depend on the Node version (Node 20 names V8's helper threads and libuv's pool alike, `node`; Temporal's
 * core threads are `tokio-runtime-w`, the workflow thread `workflow-proces`).
 */
export function threadCpuSeconds(pid: number): ThreadCpu {
  const threads = new Map<string, { name: string; seconds: number }>();
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // ended between the listing and the read
    }
    const f = statFields(stat);
    threads.set(tid, { name: tid === String(pid) ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')')), seconds: (f[11] + f[12]) / 100 });
  }
  return { total: processCpuSeconds(pid).own, threads };
}

/**
 * What each thread name used between two readings, in seconds (hundredths), largest first; `ended`: what threads
 * that ended in between used (the process's total less the threads read the second time).
 */
export function threadCpuDelta(before: ThreadCpu, after: ThreadCpu): Record<string, number> {
  const used: Record<string, number> = {};
  let counted = 0;
  for (const [tid, t] of after.threads) {
    const d = t.seconds - (before.threads.get(tid)?.seconds ?? 0);
    used[t.name] = (used[t.name] ?? 0) + d;
    counted += d;
  }
  used.ended = after.total - before.total - counted;
  return Object.fromEntries(
    Object.entries(used)
      .map(([k, v]) => [k, +v.toFixed(2)] as const)
      .filter(([k, v]) => v !== 0 || k === 'ended')
      .sort((a, b) => b[1] - a[1]),
  );
}

export interface WorkerProcess {
  proc: ChildProcess;
  /** Rejects if the worker exits before `stop` (race a workflow against it: nothing else polls its queue). */
  died: Promise<never>;
  /** Stops the worker; resolves to its peak RSS (VmHWM) in bytes, read just before it is stopped. */
  stop: () => Promise<number>;
}

/**
 * A worker's memory settings as the farm deploys it (stacks/drover.yml's `<queue>-worker`): MALLOC_* and NODE_OPTIONS
 * of its environment, and the Node flags its command gives before the script (V8 flags Node refuses in NODE_OPTIONS).
 */
export function deployedMemorySettings(queue: 'backup' | 'restore'): { env: Record<string, string>; nodeFlags: string[] } {
  const stack = parse(readFileSync(path.resolve('stacks/drover.yml'), 'utf8'), { merge: true }) as { services: Record<string, { command?: string[]; environment?: Record<string, string> }> };
  const svc = stack.services[`${queue}-worker`];
  const command = svc.command ?? [];
  return {
    env: Object.fromEntries(Object.entries(svc.environment ?? {}).filter(([k]) => k === 'NODE_OPTIONS' || k.startsWith('MALLOC_'))),
    nodeFlags: command.slice(0, command.findIndex((w) => w.startsWith('dist/'))).filter((w) => w.startsWith('--')),
  };
}

/**
 * Starts the worker (Node flags and extra environment optional) and waits `settleMs` for it to poll. With
 * `deployed`, it runs with the stack's memory settings (deployedMemorySettings), as on the farm; else with Node's defaults.
 * `root`: another checkout's built worker (an A/B against older code), else this one's.
 */
export async function startWorker(o: { queue: 'backup' | 'restore'; stateDir: string; deployed?: boolean; root?: string; nodeFlags?: string[]; env?: NodeJS.ProcessEnv; settleMs?: number }): Promise<WorkerProcess> {
  const deployed = o.deployed ? deployedMemorySettings(o.queue) : { env: {}, nodeFlags: [] };
  const proc = spawn(process.execPath, [...deployed.nodeFlags, ...(o.nodeFlags ?? []), path.resolve(o.root ?? '.', `dist/workers/${o.queue}.js`)], {
    // The farm's sticky timeout (Temporal's 10 s), not the local environment's 2 s: a busy worker's tasks are not
    // handed to the normal queue (and replayed) sooner than on the farm.
    env: { ...process.env, DROVER_STATE_DIR: o.stateDir, DROVER_METRICS_PORT: '0', DROVER_BACKUP_METRICS_PORT: '0', DROVER_STICKY_TIMEOUT_MS: '10000', ...deployed.env, ...o.env },
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

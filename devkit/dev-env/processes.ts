/**
 * Starting and stopping the local environment's daemons: detached, logging to a file in the state folder,
 * tracked by pid file (checked against /proc so a recycled pid is never mistaken for ours).
 */
import { spawn, execFile } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, readSync, rmSync, writeFileSync, statSync } from 'node:fs';
import net from 'node:net';
import { promisify } from 'node:util';

export const execFileP = promisify(execFile);

export interface DaemonSpec {
  command: string;
  args: string[];
  logFile: string;
  pidFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export function spawnDaemon(spec: DaemonSpec): number {
  const fd = openSync(spec.logFile, 'a');
  try {
    const child = spawn(spec.command, spec.args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: spec.env ?? process.env,
      cwd: spec.cwd,
    });
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
    child.unref();
    writeFileSync(spec.pidFile, String(child.pid));
    return child.pid;
  } finally {
    closeSync(fd);
  }
}

export function readPid(pidFile: string): number | null {
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, 'utf8').trim());
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

/** True when `pid` is alive and its command line mentions `expect` (guards against pid reuse). */
export function isRunning(pid: number | null, expect: string): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    if (/\) Z /.test(stat)) return false;
    return cmdline.includes(expect);
  } catch {
    return false;
  }
}

export function daemonPid(pidFile: string, expect: string): number | null {
  const pid = readPid(pidFile);
  return isRunning(pid, expect) ? pid : null;
}

export async function stopDaemon(pidFile: string, expect: string, timeoutMs = 20_000): Promise<boolean> {
  const pid = daemonPid(pidFile, expect);
  if (!pid) {
    rmSync(pidFile, { force: true });
    return false;
  }
  const signalGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      try {
        process.kill(pid, sig);
      } catch {
        /* already gone */
      }
    }
  };
  signalGroup('SIGTERM');
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && isRunning(pid, expect)) await sleep(200);
  if (isRunning(pid, expect)) signalGroup('SIGKILL');
  while (isRunning(pid, expect)) await sleep(100);
  rmSync(pidFile, { force: true });
  return true;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Whether `url` answers 2xx within `timeoutMs` (a daemon's health probe). */
export async function httpOk(url: string, timeoutMs = 2_000): Promise<boolean> {
  try {
    return (await fetch(url, { signal: AbortSignal.timeout(timeoutMs) })).ok;
  } catch {
    return false;
  }
}

export function tcpOpen(port: number, host = '127.0.0.1', timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host });
    const done = (ok: boolean) => {
      s.destroy();
      resolve(ok);
    };
    s.setTimeout(timeoutMs, () => done(false));
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

export async function waitFor(what: string, probe: () => Promise<boolean>, timeoutMs: number, isAlive?: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await probe()) return;
    if (isAlive && !isAlive()) throw new Error(`${what} exited during start-up`);
    await sleep(300);
  }
  throw new Error(`${what} did not become healthy within ${Math.round(timeoutMs / 1000)} s`);
}

/** The last lines of a log file, for reporting a part that failed to start. */
export function tailFile(file: string, lines = 20): string {
  if (!existsSync(file)) return '';
  const size = statSync(file).size;
  const fd = openSync(file, 'r');
  try {
    const len = Math.min(size, 64 * 1024);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf.toString('utf8').split('\n').filter(Boolean).slice(-lines).join('\n');
  } finally {
    closeSync(fd);
  }
}

/** Looks a binary up on PATH. */
export async function which(name: string): Promise<string | null> {
  try {
    const { stdout } = await execFileP('sh', ['-c', `command -v ${name}`]);
    return stdout.trim() || null;
  } catch {
    return null;
  }
}

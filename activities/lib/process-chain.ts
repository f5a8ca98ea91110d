/**
 * Two filter processes joined by a kernel pipe (`a | b`), the way a shell joins them: the first's stdout is the
 * second's stdin, so the bytes between them never pass through the worker's event loop (zstd and age both run at
 * full speed while Node does only what it must: S3, hashing, SSH). Each process's stderr is kept (its last 2,000
 * characters) for the caller's error message.
 *
 * The worker starts one process for the pair, a small bash that runs `a | b` and reports both exit statuses: a
 * spawn forks the worker, and a fork copies the worker's page tables while its event loop waits (about 7 ms at
 * 350 MiB of RSS, against about 1 ms for a 50 MiB process, on the development machine), so two spawns per chain
 * cost a restore of 70 packs and a 500-site night thousands of such stalls. Bash forks the two from its own, small
 * image.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ApplicationFailure } from '@temporalio/common';
import { failure } from '../../lib/clients/errors';

export interface ChainedProcess {
  /** The process's exit once the chain has ended: its code, or null and the signal that ended it. */
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** The end of what the process wrote to stderr. */
  stderr: () => string;
}

export interface ProcessChain {
  first: ChainedProcess;
  second: ChainedProcess;
  /** The first process's stdin. */
  stdin: Writable;
  /** The second process's stdout. */
  stdout: Readable;
  /** Signals both processes (and the bash between them). */
  kill: (signal?: NodeJS.Signals) => void;
}

// $1: how many words the first command has; then both commands' words. Each command's stderr goes to a pipe of
// its own (fds 3 and 4), and both exit statuses to fd 5 once the pipeline has ended.
const CHAIN = 'n=$1; shift; "${@:1:n}" 2>&3 | "${@:n+1}" 2>&4; echo "${PIPESTATUS[0]} ${PIPESTATUS[1]}" >&5';

// The first name of each number (SIGABRT before its alias SIGIOT, SIGIO before SIGPOLL).
const SIGNALS = new Map<number, NodeJS.Signals>();
for (const [name, n] of Object.entries(constants.signals)) if (!SIGNALS.has(n)) SIGNALS.set(n, name as NodeJS.Signals);

/** A status as bash reports it (128 + n: killed by signal n) as Node's close event gives it. */
export function exitStatus(status: number): { code: number | null; signal: NodeJS.Signals | null } {
  const signal = status > 128 ? SIGNALS.get(status - 128) : undefined;
  return signal ? { code: null, signal } : { code: status, signal: null };
}

/**
 * WorkerProcessKilled (transient) when `program` ended by a signal other than a broken pipe's (SIGPIPE is an effect
 * of the program after it): SIGKILL from the kernel's OOM killer, most likely, and not a sign of corrupt data or a
 * wrong key, which a program reports by exiting. Null otherwise, and when `ours` (the caller's cancellation, whose
 * kill it was) has fired.
 */
export function killedFailure(program: string, st: { code: number | null; signal: NodeJS.Signals | null } | number, what: string, ours?: AbortSignal): ApplicationFailure | null {
  const { signal } = typeof st === 'number' ? exitStatus(st) : st;
  if (!signal || signal === 'SIGPIPE' || ours?.aborted) return null;
  return failure('WorkerProcessKilled', `${program} was killed (${signal}) while ${what}: the worker's memory, most likely; another attempt may succeed`);
}

/**
 * Which process a failed chain failed by, once both have ended (null: both exited 0). The second when it failed and
 * the first either succeeded or died of the broken pipe the second left (SIGPIPE: its exit is an effect, not the
 * cause), else the first when it failed, else the second.
 */
export async function chainFailure(chain: Pick<ProcessChain, 'first' | 'second'>): Promise<null | { which: 'first' | 'second'; code: number | null; signal: NodeJS.Signals | null; stderr: string }> {
  const [a, b] = await Promise.all([chain.first.closed, chain.second.closed]);
  const firstBroke = a.signal === 'SIGPIPE' || a.code === 141;
  const blame = (which: 'first' | 'second', st: typeof a) => ({ which, ...st, stderr: chain[which].stderr() });
  if (b.code !== 0 && (a.code === 0 || firstBroke)) return blame('second', b);
  if (a.code !== 0) return blame('first', a);
  return null;
}

/**
 * Runs a bash script the way the worker runs its pipelines: in its own process group (detached), so `killGroup`
 * reaches every process it started, not only bash. --norc --noprofile: Node's stdio are socket pairs, and bash on
 * a socket takes itself for an ssh session's shell and would read ~/.bashrc (pyenv's init on the development
 * machine took more CPU than the chain's work). Nor BASH_ENV, which a non-interactive bash reads even so: whatever
 * it printed would join the script's output.
 */
export function spawnScript(script: string, args: string[], o: { stdio: StdioOptions; cwd?: string }): ChildProcess {
  const { BASH_ENV: _bashEnv, ...env } = process.env;
  return spawn('bash', ['--norc', '--noprofile', '-c', script, ...args], { stdio: o.stdio, detached: true, env, cwd: o.cwd });
}

/** Signals a spawnScript's whole process group, unless it has ended. */
export function killGroup(sh: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): void {
  if (sh.exitCode !== null || sh.signalCode !== null || !sh.pid) return;
  try {
    process.kill(-sh.pid, signal);
  } catch {
    /* already gone */
  }
}

/**
 * Spawns `first | second`: write into `stdin`, read from `stdout`. The worker never holds the pipe between them,
 * so if `second` dies, `first` sees a broken pipe instead of writing into a pipe nobody reads.
 */
export function spawnChain(first: [string, string[]], second: [string, string[]]): ProcessChain {
  const words = [first[0], ...first[1]];
  const sh = spawnScript(CHAIN, ['drover-chain', String(words.length), ...words, second[0], ...second[1]], { stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] });
  const errs = ['', ''];
  let statuses = '';
  let own = '';
  const pipes = sh.stdio as unknown as Readable[];
  pipes[3].on('data', (d) => (errs[0] = (errs[0] + d).slice(-2000)));
  pipes[4].on('data', (d) => (errs[1] = (errs[1] + d).slice(-2000)));
  pipes[5].on('data', (d) => (statuses += d));
  sh.stderr!.on('data', (d) => (own = (own + d).slice(-2000)));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }[]>((resolve) => {
    sh.once('error', (e) => {
      own += e.message;
      resolve([{ code: null, signal: null }, { code: null, signal: null }]);
    });
    sh.once('close', (code, signal) => {
      const reported = /^(\d+) (\d+)/.exec(statuses);
      // Bash itself ended before reporting (killed): both count as ended the way it did.
      resolve(reported ? [exitStatus(Number(reported[1])), exitStatus(Number(reported[2]))] : [{ code: code === 0 ? null : code, signal: signal ?? null }, { code: code === 0 ? null : code, signal: signal ?? null }]);
    });
  });
  const stderr = (i: 0 | 1) => () => errs[i] + (own ? `${errs[i] ? '\n' : ''}${own}` : '');
  return {
    first: { closed: ended.then((s) => s[0]), stderr: stderr(0) },
    second: { closed: ended.then((s) => s[1]), stderr: stderr(1) },
    stdin: sh.stdin!,
    stdout: sh.stdout!,
    kill: (signal = 'SIGTERM') => killGroup(sh, signal),
  };
}

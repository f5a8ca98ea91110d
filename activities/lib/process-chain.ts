/**
 * Programs joined by kernel pipes (`a | b | …`), the way a shell joins them: each one's stdout is the next one's
 * stdin, so the bytes between them never pass through the worker's event loop (zstd and age both run at full speed
 * while Node does only what it must: S3, hashing, SSH). Each program's stderr is kept (its last 2,000 characters)
 * for the caller's error message, and a failed pipeline is blamed on one program by one rule (`blamed`).
 *
 * The worker starts one process for the pipeline, a small bash that runs it and reports every exit status: a
 * spawn forks the worker, and a fork copies the worker's page tables while its event loop waits (about 7 ms at
 * 350 MiB of RSS, against about 1 ms for a 50 MiB process, on the development machine), so a spawn per program
 * would cost a restore of 70 packs and a 500-site night thousands of such stalls. Bash forks the programs from its
 * own, small image. `spawnChain` is the two-program case most callers need.
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { programEnv } from '../../lib/program-env';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import type { ApplicationFailure } from '@temporalio/common';
import { failure } from '../../lib/clients/errors';

/** A program's exit: its code, or null and the signal that ended it. */
export type Exit = { code: number | null; signal: NodeJS.Signals | null };

export interface ChainedProcess {
  /** The process's exit once the chain has ended: its code, or null and the signal that ended it. */
  closed: Promise<Exit>;
  /** The end of what the process wrote to stderr. */
  stderr: () => string;
}

export interface ProcessChain {
  /** The two as a pipeline (pipelineFailure). */
  pipeline: Pipeline;
  first: ChainedProcess;
  second: ChainedProcess;
  /** The first process's stdin. */
  stdin: Writable;
  /** The second process's stdout. */
  stdout: Readable;
  /** Signals both processes (and the bash between them). */
  kill: (signal?: NodeJS.Signals) => void;
}

// The first name of each number (SIGABRT before its alias SIGIOT, SIGIO before SIGPOLL).
const SIGNALS = new Map<number, NodeJS.Signals>();
for (const [name, n] of Object.entries(constants.signals)) if (!SIGNALS.has(n)) SIGNALS.set(n, name as NodeJS.Signals);

/** A status as bash reports it (128 + n: killed by signal n) as Node's close event gives it. */
export function exitStatus(status: number): Exit {
  const signal = status > 128 ? SIGNALS.get(status - 128) : undefined;
  return signal ? { code: null, signal } : { code: status, signal: null };
}

/**
 * WorkerProcessKilled (transient) when `program` ended by a signal other than a broken pipe's (SIGPIPE is an effect
 * of the program after it): SIGKILL from the kernel's OOM killer, most likely, and not a sign of corrupt data or a
 * wrong key, which a program reports by exiting. Null otherwise, and when `ours` (the caller's cancellation, whose
 * kill it was) has fired.
 */
export function killedFailure(program: string, st: Exit | number, what: string, ours?: AbortSignal): ApplicationFailure | null {
  const { signal } = typeof st === 'number' ? exitStatus(st) : st;
  if (!signal || signal === 'SIGPIPE' || ours?.aborted) return null;
  return failure('WorkerProcessKilled', `${program} was killed (${signal}) while ${what}: the worker's memory, most likely; another attempt may succeed`);
}

/**
 * Which program of a pipeline failed it, from bash's statuses in order (null: all exited 0). The first whose status
 * is neither 0 nor a broken pipe (141): a program that fails ends its output early, and the ones after it fail (or
 * not) only because of that, while one that dies takes down the ones before it with SIGPIPE. When only broken
 * pipes failed, the program after the last of them, which closed its input early (even if it then exited 0); the
 * last program when it is the one broken (a shell that lost its real status).
 */
export function blamed(statuses: number[]): number | null {
  const i = statuses.findIndex((s) => s !== 0 && s !== 141);
  if (i >= 0) return i;
  for (let j = statuses.length - 1; j >= 0; j--) if (statuses[j] !== 0) return Math.min(j + 1, statuses.length - 1);
  return null;
}

/**
 * The program a pipeline failed by, once every one has ended (null: all exited 0): its place, name, exit and
 * stderr; place null and name bash when bash itself ended before reporting the statuses (killed).
 */
export async function pipelineFailure(p: Pipeline): Promise<null | (Exit & { index: number | null; program: string; stderr: string })> {
  const { exits, statuses } = await p.ended;
  if (!statuses) return { index: null, program: 'bash', ...exits[0], stderr: p.stderr(-1) };
  const i = blamed(statuses);
  return i === null ? null : { index: i, program: p.programs[i], ...exits[i], stderr: p.stderr(i) };
}

/**
 * Which process a failed chain failed by, once both have ended (null: both exited 0), by the rule of `blamed`.
 * Bash killed before reporting counts as the first's failure, the way bash ended.
 */
export async function chainFailure(chain: Pick<ProcessChain, 'pipeline' | 'first' | 'second'>): Promise<null | (Exit & { which: 'first' | 'second'; stderr: string })> {
  const f = await pipelineFailure(chain.pipeline);
  if (!f) return null;
  const which = f.index === 1 ? 'second' : 'first';
  return { which, code: f.code, signal: f.signal, stderr: chain[which].stderr() };
}

/**
 * Runs a bash script the way the worker runs its pipelines: in its own process group (detached), so `killGroup`
 * reaches every process it started, not only bash. --norc --noprofile: Node's stdio are socket pairs, and bash on
 * a socket takes itself for an ssh session's shell and would read ~/.bashrc (pyenv's init on the development
 * machine took more CPU than the chain's work). Nor BASH_ENV, which a non-interactive bash reads even so: whatever
 * it printed would join the script's output. Nor the worker's credentials (programEnv).
 */
export function spawnScript(script: string, args: string[], o: { stdio: StdioOptions; cwd?: string }): ChildProcess {
  return spawn('bash', ['--norc', '--noprofile', '-c', script, ...args], { stdio: o.stdio, detached: true, env: programEnv(), cwd: o.cwd });
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

export interface Pipeline {
  /** The programs' names (each command's first word), in order. */
  programs: string[];
  /**
   * Once bash has ended: each program's exit, in order, and its status as bash reported it. `statuses` null when
   * bash itself ended before reporting them (killed: a cancel, the OOM killer); each program then counts as ended
   * the way bash did.
   */
  ended: Promise<{ exits: Exit[]; statuses: number[] | null }>;
  /** The end of what program `i` wrote to stderr; -1: of what bash itself did. */
  stderr: (i: number) => string;
  /** The first program's stdin, when the pipeline was given none. */
  stdin: Writable | null;
  /** The last program's stdout, unless ignored. */
  stdout: Readable | null;
  /** Signals every program (and the bash between them). */
  kill: (signal?: NodeJS.Signals) => void;
}

/**
 * Spawns `c1 | c2 | … | cN` under one bash (spawnScript: one fork of the worker, its own process group): `stdin` the
 * first's (a pipe to write, or a descriptor the worker opened), `stdout` the last's. The commands' words are given
 * to bash as arguments, never written into its script. Each program's stderr goes to a pipe of its own (fds 3 to
 * N + 2, the last 2,000 characters kept) and the statuses to fd N + 3 once the pipeline has ended. `name` is bash's
 * $0, which its command line shows. With `endWithWorker`, a pipeline the worker's death would not end by itself
 * (its stdin a file, not a pipe from the worker) is killed within about a second of the worker being gone.
 */
export function spawnPipeline(commands: [string, string[]][], o: { name?: string; stdin?: 'pipe' | number; stdout?: 'pipe' | 'ignore'; endWithWorker?: boolean } = {}): Pipeline {
  const n = commands.length;
  let at = 1;
  const stages = commands.map(([, args], i) => {
    const stage = `"\${@:${at}:${args.length + 1}}" 2>&${3 + i}`;
    at += args.length + 1;
    return stage;
  });
  if (n === 0) throw new Error('a pipeline needs at least one program');
  let script = `${stages.join(' | ')}; echo "\${PIPESTATUS[*]}" >&${3 + n}`;
  if (o.endWithWorker) {
    // A watchdog beside the pipeline: once bash is no longer this worker's child (the worker gone: bash is
    // reparented at once, before any reaping, so neither a zombie worker nor its PID reused fools it) or bash itself
    // is gone, it kills the process group, so nothing runs on. It reads /proc (no fork but its sleep), holds none of
    // the pipes Node reads (its sleep would keep them open after the pipeline) and is stopped once the pipeline has
    // ended (its last sleep, holding nothing, ends within a second).
    const closed = ['</dev/null', '>/dev/null', '2>/dev/null', ...Array.from({ length: n + 1 }, (_, i) => `${3 + i}>&-`)].join(' ');
    script = `{ while read -r _ _ _ pp _ < /proc/$$/stat && [ "$pp" = ${process.pid} ]; do sleep 1; done; kill -KILL 0; } ${closed} & d=$!
${stages.join(' | ')}; st="\${PIPESTATUS[*]}"; kill "$d" 2>/dev/null; echo "$st" >&${3 + n}`;
  }
  const words = commands.flatMap(([program, args]) => [program, ...args]);
  const sh = spawnScript(script, [o.name ?? 'drover-chain', ...words], { stdio: [o.stdin ?? 'pipe', o.stdout ?? 'pipe', 'pipe', ...commands.map(() => 'pipe' as const), 'pipe'] });
  const errs = commands.map(() => '');
  let statuses = '';
  let own = '';
  const pipes = sh.stdio as unknown as Readable[];
  commands.forEach((_, i) => pipes[3 + i].on('data', (d) => (errs[i] = (errs[i] + d).slice(-2000))));
  pipes[3 + n].on('data', (d) => (statuses += d));
  sh.stderr!.on('data', (d) => (own = (own + d).slice(-2000)));
  const ended = new Promise<{ exits: Exit[]; statuses: number[] | null }>((resolve) => {
    sh.once('error', (e) => {
      own += e.message;
      resolve({ exits: commands.map(() => ({ code: null, signal: null })), statuses: null });
    });
    sh.once('close', (code, signal) => {
      const line = statuses.trim();
      const reported = /^\d+( \d+)*$/.test(line) ? line.split(' ').map(Number) : [];
      if (reported.length === n) return resolve({ exits: reported.map(exitStatus), statuses: reported });
      // Not a failure's absence: code 0 without the statuses counts as no exit code at all.
      const asBash = { code: code === 0 ? null : code, signal: signal ?? null };
      resolve({ exits: commands.map(() => asBash), statuses: null });
    });
  });
  return {
    programs: commands.map(([program]) => program),
    ended,
    stderr: (i) => (i < 0 ? own : errs[i]),
    stdin: sh.stdin,
    stdout: sh.stdout,
    kill: (signal = 'SIGTERM') => killGroup(sh, signal),
  };
}

/**
 * Spawns `first | second`: write into `stdin`, read from `stdout`. The worker never holds the pipe between them,
 * so if `second` dies, `first` sees a broken pipe instead of writing into a pipe nobody reads.
 */
export function spawnChain(first: [string, string[]], second: [string, string[]]): ProcessChain {
  const pipeline = spawnPipeline([first, second]);
  const closed = (i: 0 | 1) => pipeline.ended.then((e) => e.exits[i]);
  // Each program's stderr with bash's own after it (what bash said when it could not start one).
  const stderr = (i: 0 | 1) => () => {
    const [err, own] = [pipeline.stderr(i), pipeline.stderr(-1)];
    return err + (own ? `${err ? '\n' : ''}${own}` : '');
  };
  return {
    pipeline,
    first: { closed: closed(0), stderr: stderr(0) },
    second: { closed: closed(1), stderr: stderr(1) },
    stdin: pipeline.stdin!,
    stdout: pipeline.stdout!,
    kill: pipeline.kill,
  };
}

/**
 * Two filter processes joined by a kernel pipe (`a | b`), the way a shell joins them: the first's stdout is the
 * second's stdin, so the bytes between them never pass through the worker's event loop (zstd and age both run at
 * full speed while Node does only what it must: S3, hashing, SSH). Each process's stderr is kept (its last 2,000
 * characters) for the caller's error message.
 */
import { spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export interface ChainedProcess {
  proc: ChildProcessByStdio<Writable | null, Readable | null, Readable>;
  /** The end of what the process wrote to stderr. */
  stderr: () => string;
}

function keepStderr(proc: ChildProcessByStdio<Writable | null, Readable | null, Readable>): ChainedProcess {
  let err = '';
  proc.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
  return { proc, stderr: () => err };
}

/**
 * Spawns `first | second`: write into `first.proc.stdin`, read from `second.proc.stdout`. Both are spawned in one
 * synchronous step and the worker's own end of the pipe between them is closed at once, before the event loop
 * could read from it; so if `second` dies, `first` sees a broken pipe instead of writing into a pipe nobody reads.
 */
export function spawnChain(first: [string, string[]], second: [string, string[]]): { first: ChainedProcess; second: ChainedProcess; stdin: Writable; stdout: Readable } {
  const a = spawn(first[0], first[1], { stdio: ['pipe', 'pipe', 'pipe'] });
  const b = spawn(second[0], second[1], { stdio: [a.stdout, 'pipe', 'pipe'] });
  a.stdout.destroy();
  return { first: keepStderr(a), second: keepStderr(b), stdin: a.stdin, stdout: b.stdout };
}

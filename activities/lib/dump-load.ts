/**
 * Loads a dump that needs no rewriting, checked and kept on the restore worker's disk (encrypted-download.ts
 * withVerifiedObject), into a database through kernel pipes only: `age -d | zstd -d | mariadb`, one bash for the
 * three (process-chain.ts spawnPipeline: its own process group, so a cancel reaches every one). No byte of the dump
 * passes through the worker's event loop, which the restore's files step keeps busy beside the load
 * (docs/benchmarks.md). The file is opened here and given to age as its stdin: the open file's offset, shared with
 * age, is the load's progress. Each program's stderr is kept for its failure.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import { classifyMariadbClientExit, failure } from '../../lib/clients/errors';
import { decryptFailure } from './encrypted-download';
import { killedFailure, pipelineFailure, spawnPipeline, type Pipeline } from './process-chain';
import { clientErrorText } from './database-programs';

// For heartbeat tests only (fault-points.ts stallPoint): the dump held after its first 64 KiB, as a large table's
// INSERTs on a loaded node would hold it. GNU head -c reads no more than it writes.
const STALL = 'head -c 65536 && sleep "$1" && exec cat';

/** The offset of this process's open file `fd` (shared with the programs it was given to), or null. */
function offsetOf(fd: number): number | null {
  try {
    const pos = /^pos:\s*(\d+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return pos ? Number(pos[1]) : null;
  } catch {
    return null;
  }
}

/**
 * Loads `file` (the object `key` as downloaded: an age-encrypted, zstd-compressed mariadb-dump) into `database`
 * as it is, nothing requalified. `progress()` gives the ciphertext bytes age has read so far. Failures: age's
 * DecryptionFailed, zstd's BackupCorrupted, the client's failure naming the database (DatabaseUnavailable for the server
 * or the link, retried; DatabaseQueryFailed for the dump itself: classifyMariadbClientExit), any of them (or
 * bash) killed by a signal not ours WorkerProcessKilled. `signal` kills the whole load.
 */
export function loadDumpFile(o: { identityFile: string; file: string; key: string; database: string; optionsFile: string; signal?: AbortSignal; stallMs?: number }): { progress: () => number | null; done: Promise<void> } {
  const stall = (o.stallMs ?? 0) > 0;
  const commands: [string, string[]][] = [
    ['age', ['-d', '-i', o.identityFile]],
    ['zstd', ['-d', '-q', '-c']],
    ...(stall ? [['sh', ['-c', STALL, 'drover-stall', String(o.stallMs! / 1000)]] as [string, string[]]] : []),
    ['mariadb', [`--defaults-extra-file=${o.optionsFile}`, '--binary-mode', '--skip-reconnect', o.database]],
  ];
  const fd = openSync(o.file, 'r');
  let load: Pipeline;
  try {
    // Its stdin a file: a worker killed mid-load would leave it loading on; the watchdog ends it instead.
    load = spawnPipeline(commands, { name: 'drover-load', stdin: fd, stdout: 'ignore', endWithWorker: true });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (stall) process.stderr.write(`drover fault injection: stalling loading ${o.database} for ${o.stallMs} ms\n`);
  let open = true;
  const progress = () => (open ? offsetOf(fd) : null);
  const kill = () => load.kill('SIGKILL');
  if (o.signal?.aborted) kill();
  o.signal?.addEventListener('abort', kill, { once: true });
  const what = `loading ${o.database}`;
  const done = (async () => {
    try {
      const f = await pipelineFailure(load);
      if (!f) return;
      const killed = killedFailure(f.program, f, what, o.signal);
      if (killed) throw killed;
      // Bash itself ended before reporting (a cancel, a stop of the worker's whole group).
      if (f.index === null) throw failure('DatabaseQueryFailed', `${what} was stopped (${f.signal ?? `exit ${f.code}`})${f.stderr.trim() ? `: ${clientErrorText(f.stderr)}` : ''}`);
      const status = f.code ?? f.signal;
      if (f.program === 'age' || f.program === 'zstd') throw decryptFailure(f.program, o.key, f.stderr.trim().slice(-1000) || `${f.program} exited ${status}`);
      const program = f.program === 'sh' ? 'the stall' : f.program;
      throw classifyMariadbClientExit(f.stderr, `${what} failed: ${clientErrorText(f.stderr) || `${program} exited ${status}`}`);
    } finally {
      o.signal?.removeEventListener('abort', kill);
      open = false;
      closeSync(fd);
    }
  })();
  return { progress, done };
}

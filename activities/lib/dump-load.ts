/**
 * Loads a dump that needs no rewriting, checked and kept on the restore worker's disk (encrypted-download.ts
 * withVerifiedObject), into a database through kernel pipes only: `age -d | zstd -d | mariadb`, one bash for the
 * three (process-chain.ts spawnScript: its own process group, so a cancel reaches every one). No byte of the dump
 * passes through the worker's event loop, which the restore's files step keeps busy beside the load
 * (docs/benchmarks.md). The file is opened here and given to age as its stdin: the open file's offset, shared with
 * age, is the load's progress. Each program's stderr is kept for its failure.
 */
import { closeSync, openSync, readFileSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { failure } from '../../lib/clients/errors';
import { decryptFailure } from './encrypted-download';
import { killGroup, killedFailure, spawnScript } from './process-chain';

// $1 identity, $2 the client's options file, $3 the database, $4 a test's stall in seconds. Stdin: the checked
// ciphertext. Stderr of age, zstd and the client to fds 3-5, the statuses to fd 6.
const AGE_ZSTD = 'age -d -i "$1" 2>&3 | zstd -d -q -c 2>&4 | ';
const CLIENT = `mariadb --defaults-extra-file="$2" --binary-mode --skip-reconnect "$3" 2>&5
echo "\${PIPESTATUS[*]}" >&6`;
// For heartbeat tests only (fault-points.ts stallPoint): the dump held after its first 64 KiB, as a large table's
// INSERTs on a loaded node would hold it. GNU head -c reads no more than it writes.
const STALL = '{ head -c 65536 && sleep "$4" && cat; } 2>/dev/null | ';

/**
 * Which program a failed load failed by: the first whose status is neither 0 nor a broken pipe (141: the program
 * after it stopped reading). A program upstream that fails ends its output early, and the ones after it fail (or
 * not) only because of that; a program that dies takes down the ones before it with SIGPIPE.
 */
export function blamed(statuses: number[]): number | null {
  const i = statuses.findIndex((s) => s !== 0 && s !== 141);
  if (i >= 0) return i;
  return statuses.some((s) => s !== 0) ? statuses.length - 1 : null;
}

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
 * DecryptionFailed, zstd's BackupCorrupted, the client's DatabaseQueryFailed naming the database. `signal` kills
 * the whole load.
 */
export function loadDumpFile(o: { identityFile: string; file: string; key: string; database: string; optionsFile: string; signal?: AbortSignal; stallMs?: number }): { progress: () => number | null; done: Promise<void> } {
  const stall = (o.stallMs ?? 0) > 0;
  const programs = stall ? ['age', 'zstd', 'the stall', 'mariadb'] : ['age', 'zstd', 'mariadb'];
  const fd = openSync(o.file, 'r');
  let sh;
  try {
    const script = AGE_ZSTD + (stall ? STALL : '') + CLIENT;
    sh = spawnScript(script, ['drover-load', o.identityFile, o.optionsFile, o.database, String((o.stallMs ?? 0) / 1000)], { stdio: [fd, 'ignore', 'pipe', 'pipe', 'pipe', 'pipe', 'pipe'] });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  if (stall) process.stderr.write(`drover fault injection: stalling loading ${o.database} for ${o.stallMs} ms\n`);
  const pipes = sh.stdio as unknown as Readable[];
  // Each program's stderr by its place in the pipeline (the stall's is not kept).
  const errs = programs.map(() => '');
  const errFds: [number, number][] = [[3, 0], [4, 1], [5, programs.length - 1]];
  let own = '';
  let statuses = '';
  pipes[2].on('data', (d) => (own = (own + d).slice(-2000)));
  for (const [fdNo, i] of errFds) pipes[fdNo].on('data', (d) => (errs[i] = (errs[i] + d).slice(-2000)));
  pipes[6].on('data', (d) => (statuses += d));
  let open = true;
  const progress = () => (open ? offsetOf(fd) : null);
  const kill = () => killGroup(sh, 'SIGKILL');
  if (o.signal?.aborted) kill();
  o.signal?.addEventListener('abort', kill, { once: true });
  const done = (async () => {
    try {
      const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
        sh.once('error', (e) => {
          own += e.message;
          resolve({ code: null, signal: null });
        });
        sh.once('close', (c, s) => resolve({ code: c, signal: s }));
      });
      const reported = statuses.trim().split(' ').map(Number);
      if (reported.length !== programs.length || reported.some((s) => !Number.isInteger(s))) {
        // Bash itself ended before reporting (killed: a cancel, the OOM killer, a stop of the worker's whole group).
        throw killedFailure('bash', { code, signal }, `loading ${o.database}`, o.signal) ?? failure('DatabaseQueryFailed', `loading ${o.database} was stopped (${signal ?? `exit ${code}`})${own.trim() ? `: ${own.trim().slice(-300)}` : ''}`);
      }
      const i = blamed(reported);
      if (i === null) return;
      const killed = killedFailure(programs[i], reported[i], `loading ${o.database}`, o.signal);
      if (killed) throw killed;
      const said = errs[i].trim().slice(i < 2 ? -1000 : -300) || `${programs[i]} exited ${reported[i]}`;
      if (i < 2) throw decryptFailure(i === 0 ? 'age' : 'zstd', o.key, said);
      throw failure('DatabaseQueryFailed', `loading ${o.database} failed: ${said}`);
    } finally {
      o.signal?.removeEventListener('abort', kill);
      open = false;
      closeSync(fd);
    }
  })();
  return { progress, done };
}

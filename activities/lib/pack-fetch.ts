/**
 * Deduplicated packs fetched, checked and decrypted into files on the restore worker's disk without their bytes
 * passing through the worker's event loop: one `drover-packs` per restore (tools/drover-packs, a Go program built by
 * scripts/install.sh and in the worker image), started in the restore's private folder, takes jobs on its stdin and
 * runs them side by side as they come. For each pack it makes one GET of a presigned URL (the URL comes through the
 * pipe, never in a process list, and grants reading one object for a few minutes), checks the ciphertext's SHA-256
 * in memory against the index's before a byte of it is decrypted, then decrypts (age) and decompresses (zstd) it
 * into the pack's file, and reports the job's outcome as a line on its stdout. No program is started per pack and no
 * ciphertext is written to disk: the shell fetcher before it started an `age` and a `zstd` per pack, and a `curl`
 * and an `openssl` per four, and wrote each ciphertext to a file and read it back twice (docs/benchmarks.md). In
 * Node each byte of a pack cost an HTTP chunk, a hash, a pipe write and a pipe read, and the volume of those buffers
 * set off most of V8's full collections in a restore. The fetcher runs at nice 10, in a session of its own whose
 * autogroup is at nice 10 too (cpu-yield.ts): the database load beside it comes first.
 */
import { readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { classifyStorageError, failure } from '../../lib/clients/errors';
import { killedFailure, killGroup, spawnScript } from './process-chain';
import { yieldCpuShell } from './cpu-yield';
import { decryptFailure } from './encrypted-download';
import { toolPath } from '../../lib/tool-path';

// $1: the identity file, $2: the program, $3: the stall bound in seconds. The shell only lowers its own priority and
// its session's, then becomes the fetcher (exec): its process group is the fetcher's, which closing it signals.
const FETCHER = `${yieldCpuShell} exec "$2" "$1" "$3"`;

/** How long a pack's presigned GET stays valid: its job starts right after it is signed. */
const URL_TTL_SECONDS = 15 * 60;
/** Attempts per pack at a transient failure (a 5xx, a throttle, a dropped or stalled transfer), as the SDK made. */
const ATTEMPTS = 3;

export interface PackFetcher {
  /** Fetches the object at `key`, checks its ciphertext's SHA-256 and writes it decrypted to `name` in the folder. */
  fetch(o: { key: string; sha256: string; name: string }): Promise<void>;
  /** Ends the fetcher, killing jobs still running; resolves once its process is gone. */
  close(): Promise<void>;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * The fetcher's program: on PATH (the worker image), else where scripts/install.sh builds it. Missing, the worker is
 * not set up to restore a deduplicated point: ConfigMissing (permanent), before anything is downloaded.
 */
export function packFetcherProgram(): string {
  const found = toolPath('drover-packs');
  if (!found) throw failure('ConfigMissing', 'the pack fetcher drover-packs is not installed on this restore worker (scripts/install.sh builds it into ~/.cache/drover/bin; the worker image has it in /usr/local/bin)');
  return found;
}

/** A job's outcome (tools/drover-packs/main.go lists the codes) as the failure the SDK's classification (or the restore's) gives it. */
function jobFailure(code: number, status: number, job: { key: string; sha256: string }, what: string, err: string, headers: string): ApplicationFailure {
  const detail = err.trim().slice(-1000);
  // The pack could not be written: the restore worker's disk (full, or an I/O error), which says nothing of the pack.
  if (code === 18) return failure('WorkerDiskFull', `the restore worker could not write ${job.key} decrypted: ${detail || 'its disk is full'}`);
  if (code === 11) {
    // An HTTP status other than 2xx: classified as the SDK's error would be (S3's error body is not kept).
    const retryAfter = /^retry-after:\s*(\S+)/im.exec(headers)?.[1] ?? '';
    return classifyStorageError(Object.assign(new Error(`HTTP ${status}`), { $metadata: { httpStatusCode: status }, $response: { headers: { 'retry-after': retryAfter } } }), what);
  }
  if (code === 10) return failure('StorageUnavailable', `object storage unavailable for ${what}: ${detail || 'the transfer failed'}`);
  if (code === 13) return failure('BackupCorrupted', `${what} is corrupted: SHA-256 ${detail.split('\n').pop()!.slice(0, 16)}… does not match the expected ${job.sha256.slice(0, 16)}…`);
  if (code === 14) return decryptFailure('age', job.key, detail || 'age failed');
  if (code === 15) return decryptFailure('zstd', job.key, detail || 'zstd failed');
  return failure('StorageUnavailable', `cannot fetch ${what}: ${detail || `exit ${code}`}`);
}

/**
 * Starts a fetcher for one restore, its files in `dir` (the restore's private folder). Failures are classified as
 * the SDK's are (a missing pack ObjectNotFound, a throttled GET StorageThrottled with its Retry-After, …), a
 * SHA-256 mismatch or a corrupt zstd frame BackupCorrupted, age refusing DecryptionFailed, the worker's disk full
 * WorkerDiskFull, the fetcher killed from outside (the OOM killer, an operator) WorkerProcessKilled for every job
 * it was running. A transient failure of storage is retried (three attempts in all, as the SDK's client makes).
 * `signal` kills the fetcher and its jobs. A transfer moving under 1 KiB a second over `stallSeconds` (60; tests
 * shorten it) is given up, and retried as a transient failure.
 */
export function startPackFetcher(o: { s3: S3Client; bucket: string; identityFile: string; dir: string; signal?: AbortSignal; retryDelayMs?: number; program?: string; stallSeconds?: number }): PackFetcher {
  const program = o.program ?? packFetcherProgram();
  // Its own process group, so closing it reaches the fetcher.
  const sh = spawnScript(FETCHER, ['drover-packs', path.resolve(o.identityFile), program, String(o.stallSeconds ?? 60)], { stdio: ['pipe', 'pipe', 'pipe'], cwd: o.dir });
  const [stdin, stdout, stderrOut] = [sh.stdin!, sh.stdout!, sh.stderr!];
  const jobs = new Map<number, { resolve: (outcome: { code: number; status: number }) => void; reject: (e: unknown) => void }>();
  let stderr = '';
  let ended: Error | null = null;
  let closing = false;
  let lines = '';
  stderrOut.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  stdin.on('error', () => undefined);
  stdout.setEncoding('utf8');
  stdout.on('data', (d: string) => {
    lines += d;
    let nl: number;
    while ((nl = lines.indexOf('\n')) >= 0) {
      const [n, code, status] = lines.slice(0, nl).split(' ');
      lines = lines.slice(nl + 1);
      const job = jobs.get(Number(n));
      jobs.delete(Number(n));
      job?.resolve({ code: Number(code), status: Number(status) });
    }
  });
  const closed = new Promise<void>((resolve) => {
    const end = (e: Error) => {
      ended ??= e;
      for (const [n, job] of jobs) {
        jobs.delete(n);
        job.reject(ended);
      }
      resolve();
    };
    sh.once('error', (e) => end(failure('StorageUnavailable', `cannot start the pack fetcher: ${e.message}`)));
    sh.once('close', (code, signal) => {
      const said = stderr.trim().slice(-500);
      // Killed from outside while it had jobs: the worker's memory (the OOM killer) most likely, which another
      // attempt of the restore may get past.
      const killed = closing ? null : killedFailure('drover-packs', { code, signal }, 'fetching packs', o.signal);
      end(killed ?? failure('StorageUnavailable', `the pack fetcher ended (${signal ?? `exit ${code}`})${said ? `: ${said}` : ''}`));
    });
  });
  const kill = () => {
    closing = true;
    stdin.end();
    killGroup(sh);
  };
  if (o.signal?.aborted) kill();
  o.signal?.addEventListener('abort', kill, { once: true });
  void closed.then(() => o.signal?.removeEventListener('abort', kill));
  let next = 0;

  async function attempt(job: { key: string; sha256: string; name: string }): Promise<void> {
    const what = `s3://${o.bucket}/${job.key}`;
    let url: string;
    try {
      url = await getSignedUrl(o.s3, new GetObjectCommand({ Bucket: o.bucket, Key: job.key }), { expiresIn: URL_TTL_SECONDS });
    } catch (err) {
      throw classifyStorageError(err, what);
    }
    // One job per line, words split on spaces: the URL (checked) and a number-named file, never a path.
    if (/[\s"\\]/.test(url)) throw failure('StorageUnavailable', `cannot fetch ${what}: its presigned URL has characters the fetcher's job line cannot carry`);
    if (!/^[0-9]+$/.test(job.name)) throw failure('InvalidInput', `a pack's file name must be a number, not "${job.name}"`);
    // The index names each pack's SHA-256: anything but 64 hex digits is a damaged index, and would shift the words.
    if (!/^[0-9a-f]{64}$/.test(job.sha256)) throw failure('BackupCorrupted', `the index gives ${job.key} no valid SHA-256`);
    if (ended) throw ended;
    const n = next++;
    const outcome = new Promise<{ code: number; status: number }>((resolve, reject) => jobs.set(n, { resolve, reject }));
    // The job's own output file (an attempt's name never reused: a later attempt never shares a file with an earlier).
    stdin.write(`${n} ${job.name}.${n} ${job.sha256} ${url}\n`);
    const { code, status } = await outcome;
    const out = path.join(o.dir, `${job.name}.${n}`);
    if (code === 0) {
      renameSync(out, path.join(o.dir, job.name));
      return;
    }
    const [err, headers] = [readOr(`${out}.err`), readOr(`${out}.hdr`)];
    for (const f of ['', '.err', '.hdr']) rmSync(`${out}${f}`, { force: true });
    throw jobFailure(code, status, job, what, err, headers);
  }

  return {
    async fetch(job) {
      for (let i = 1; ; i++) {
        try {
          return await attempt(job);
        } catch (err) {
          const f = err as ApplicationFailure;
          if (i >= ATTEMPTS || ended || f.nonRetryable || !['StorageUnavailable', 'StorageThrottled'].includes(f.type ?? '')) throw err;
          const retryAfterMs = typeof f.nextRetryDelay === 'number' ? f.nextRetryDelay : 0;
          await sleep(Math.max(retryAfterMs, (o.retryDelayMs ?? 1000) * 3 ** (i - 1)), undefined, { signal: o.signal }).catch(() => undefined);
        }
      }
    },
    async close() {
      kill();
      await closed;
    },
  };
}

/**
 * Deduplicated packs fetched, checked and decrypted into files on the restore worker's disk without their bytes
 * passing through the worker's event loop. One small bash per restore (a fork of the worker costs it a copy of its
 * page tables: one per restore, not one per pack) takes a job per line on its stdin and runs each in the
 * background: `curl` (a presigned GET: the URL comes through the pipe, never in a process list, and grants reading
 * that one object for a few minutes) `| tee` (into `openssl dgst -sha256`: the ciphertext's SHA-256, checked against
 * the index's before Node uses a byte of the pack) `| age -d | zstd -d` into the pack's file, and reports the job's
 * outcome as a line on its stdout. In Node each byte of a pack cost an HTTP chunk, a hash, a pipe write and a pipe
 * read, and the volume of those buffers set off most of V8's full collections in a restore (docs/benchmarks.md).
 */
import { spawn } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { classifyStorageError, failure } from '../../lib/clients/errors';

// $1: the identity file. Each stdin line: a job number, the output file, the expected SHA-256, the URL. A job's
// stderr goes to "<out>.err", the response's headers to "<out>.hdr", the SHA-256 to "<out>.sum" (small files the
// restore's folder takes away with the packs); its outcome is "<n> <code>" on stdout (a line under PIPE_BUF: whole
// even with jobs ending at once). tee -p goes on feeding the hash when age stops reading (a wrong key), so the
// SHA-256 is of the whole object and the failure is age's. A failed job's output is removed. Per pack: curl, tee,
// openssl, age and zstd, and no other program (every exec is CPU a restore of 70 packs pays 70 times).
const FETCHER = `set -u
id=$1
one() {
  local n=$1 out=$2 want=$3 url=$4 st sum hp code=0
  exec 3> >(openssl dgst -sha256 -r > "$out.sum" 2>> "$out.err")
  hp=$!
  curl -sS -f -K - -D "$out.hdr" <<< "url = \\"$url\\"" 2>> "$out.err" | tee -p /dev/fd/3 2>/dev/null | age -d -i "$id" 2>> "$out.err" | zstd -d -q -f -o "$out" 2>> "$out.err"
  st=("\${PIPESTATUS[@]}")
  exec 3>&-
  wait "$hp" || code=12
  read -r sum _ < "$out.sum" 2>/dev/null || sum=
  if [ "\${st[0]}" != 0 ]; then code=10
  elif [ "$code" != 0 ] || [ -z "$sum" ]; then code=12
  elif [ "$sum" != "$want" ]; then code=13; echo "$sum" >> "$out.err"
  elif [ "\${st[3]}" != 0 ] && { [ "\${st[2]}" = 0 ] || [ "\${st[2]}" = 141 ]; }; then code=15
  elif [ "\${st[2]}" != 0 ]; then code=14
  elif [ "\${st[3]}" != 0 ]; then code=15
  fi
  [ "$code" = 0 ] || rm -f "$out"
  echo "$n $code"
}
while read -r n out want url; do one "$n" "$out" "$want" "$url" & done
wait`;

/** How long a pack's presigned GET stays valid: its job starts right after it is signed. */
const URL_TTL_SECONDS = 15 * 60;

export interface PackFetcher {
  /** Fetches the object at `key`, checks its ciphertext's SHA-256 and writes it decrypted to `out`. */
  fetch(o: { key: string; sha256: string; out: string }): Promise<void>;
  /** Ends the fetcher (jobs still running are killed). */
  close(): void;
}

/** An HTTP failure's status and Retry-After, from the headers curl dumped. */
function httpFailure(headers: string): { status: number; retryAfter: string } {
  const statuses = [...headers.matchAll(/^HTTP\/[\d.]+ (\d{3})/gm)];
  const retryAfter = /^retry-after:\s*(\S+)/im.exec(headers)?.[1] ?? '';
  return { status: statuses.length ? Number(statuses[statuses.length - 1][1]) : 0, retryAfter };
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Starts a fetcher for one restore. Failures are classified as the SDK's are (a missing pack ObjectNotFound, a
 * throttled GET StorageThrottled with its Retry-After, …), a SHA-256 mismatch or a corrupt zstd frame
 * BackupCorrupted, age refusing DecryptionFailed. `signal` kills the fetcher and its jobs.
 */
export function startPackFetcher(o: { s3: S3Client; bucket: string; identityFile: string; signal?: AbortSignal }): PackFetcher {
  // --norc, no BASH_ENV: see process-chain.ts. Its own process group, so closing it reaches every job's processes.
  const { BASH_ENV: _bashEnv, ...env } = process.env;
  const sh = spawn('bash', ['--norc', '--noprofile', '-c', FETCHER, 'drover-packs', o.identityFile], { stdio: ['pipe', 'pipe', 'pipe'], detached: true, env });
  const jobs = new Map<number, { out: string; key: string; sha256: string; resolve: () => void; reject: (e: unknown) => void }>();
  let stderr = '';
  let ended: Error | null = null;
  let lines = '';
  sh.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
  sh.stdin.on('error', () => undefined);
  const settle = (n: number, code: number) => {
    const job = jobs.get(n);
    if (!job) return;
    jobs.delete(n);
    if (code === 0) return job.resolve();
    const what = `s3://${o.bucket}/${job.key}`;
    const err = readOr(`${job.out}.err`).trim();
    const headers = readOr(`${job.out}.hdr`);
    rmSync(`${job.out}.err`, { force: true });
    rmSync(`${job.out}.hdr`, { force: true });
    const detail = err.slice(-1000);
    if (code === 10) {
      const { status, retryAfter } = httpFailure(headers);
      // An HTTP error: classified as the SDK's would be (the status; curl --fail leaves S3's error body out).
      return job.reject(classifyStorageError(Object.assign(new Error(status ? `HTTP ${status}` : detail || 'curl failed'), { $metadata: { httpStatusCode: status || undefined }, $response: { headers: { 'retry-after': retryAfter } } }), what));
    }
    if (code === 13) return job.reject(failure('BackupCorrupted', `${what} is corrupted: SHA-256 ${err.split('\n').pop()!.slice(0, 16)}… does not match the expected ${job.sha256.slice(0, 16)}…`));
    if (code === 14) return job.reject(failure('DecryptionFailed', `${job.key}: ${detail || 'age failed'}`));
    if (code === 15) return job.reject(failure('BackupCorrupted', `${job.key}: ${detail || 'zstd failed'}`));
    job.reject(failure('StorageUnavailable', `cannot fetch ${what}: ${detail || `exit ${code}`}`));
  };
  sh.stdout.setEncoding('utf8');
  sh.stdout.on('data', (d: string) => {
    lines += d;
    let nl: number;
    while ((nl = lines.indexOf('\n')) >= 0) {
      const [n, code] = lines.slice(0, nl).split(' ').map(Number);
      lines = lines.slice(nl + 1);
      settle(n, code);
    }
  });
  const fail = (e: Error) => {
    ended ??= e;
    for (const [n, job] of jobs) {
      jobs.delete(n);
      job.reject(ended);
    }
  };
  sh.once('error', (e) => fail(failure('StorageUnavailable', `cannot start the pack fetcher: ${e.message}`)));
  sh.once('close', (code, signal) => fail(failure('StorageUnavailable', `the pack fetcher ended (${signal ?? `exit ${code}`}): ${stderr.trim().slice(-500)}`)));
  const close = () => {
    sh.stdin.end();
    try {
      if (sh.pid && sh.exitCode === null && sh.signalCode === null) process.kill(-sh.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  };
  o.signal?.addEventListener('abort', close, { once: true });
  sh.once('close', () => o.signal?.removeEventListener('abort', close));
  let next = 0;
  return {
    async fetch(job) {
      if (ended) throw ended;
      const what = `s3://${o.bucket}/${job.key}`;
      let url: string;
      try {
        url = await getSignedUrl(o.s3, new GetObjectCommand({ Bucket: o.bucket, Key: job.key }), { expiresIn: URL_TTL_SECONDS });
      } catch (err) {
        throw classifyStorageError(err, what);
      }
      // One job per line, words split on spaces: none of them may hold a space, a newline or a quote.
      if ([url, job.out, job.sha256].some((w) => /[\s"\\]/.test(w))) throw failure('StorageUnavailable', `cannot fetch ${what}: its URL or file name has characters the fetcher's job line cannot carry`);
      if (ended) throw ended;
      const n = next++;
      const done = new Promise<void>((resolve, reject) => jobs.set(n, { ...job, resolve, reject }));
      sh.stdin.write(`${n} ${job.out} ${job.sha256} ${url}\n`);
      return done;
    },
    close,
  };
}

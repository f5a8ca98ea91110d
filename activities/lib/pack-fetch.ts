/**
 * Deduplicated packs fetched, checked and decrypted into files on the restore worker's disk without their bytes
 * passing through the worker's event loop. One small bash per restore (a fork of the worker costs it a copy of its
 * page tables: one per restore, not one per pack), started in the restore's private folder, takes batches of jobs on
 * its stdin and runs each batch in the background: one `curl` fetches the batch's packs side by side (presigned GETs:
 * the URLs come through the pipe, never in a process list, and each grants reading one object for a few minutes) into
 * files, one `openssl dgst -sha256` hashes them (each ciphertext's SHA-256, checked against the index's before a
 * byte of the pack is decrypted), then `age -d | zstd -d` decrypts each checked pack into its file, and each job's
 * outcome is reported as a line on its stdout. Starting a program costs a few milliseconds of CPU (curl 7 to 11,
 * openssl about 6: their shared libraries): once per batch, not once per pack, for the two that can take a batch. In
 * Node each byte of a pack cost an HTTP chunk, a hash, a pipe write and a pipe read, and the volume of those buffers
 * set off most of V8's full collections in a restore (docs/benchmarks.md). The fetcher and its programs run at nice
 * 10, in a session of their own whose autogroup is at nice 10 too (cpu-yield.ts): the database load beside them
 * comes first.
 */
import { readFileSync, renameSync, rmSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/common';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { classifyStorageError, failure } from '../../lib/clients/errors';
import { killGroup, killedFailure, spawnScript } from './process-chain';
import { freeBytes } from './restore-spool';
import { yieldCpuShell } from './cpu-yield';
import { processStat } from './process-stat';
import { decryptFailure } from './encrypted-download';

// $1: the identity file; the working directory is the restore's folder. Each batch on stdin: a line with its number of
// jobs, then a line per job: a job number, the output file's name (the job's own: an attempt's orphans never write
// into a later attempt's file), the expected SHA-256, the URL. Each job's batch shell is reported at its start as
// "<n> pid <pid>" on stdout. curl writes each pack's ciphertext to "<out>.enc" and its response headers to
// "<out>.hdr", and reports each transfer as a line (job, curl's code for it, HTTP status, curl's message); a job's
// failure's words go to "<out>.err" (small files the folder takes away with the packs); its outcome is
// "<n> <code> <HTTP status>" on stdout (a line under PIPE_BUF: whole even with jobs ending at once). curl: -q first
// (no ~/.curlrc), no proxy (as the SDK), no URL globbing, four transfers at once, gives up on a connection not made in
// 20 s or a transfer under 1 KiB/s for 60 s; a transfer with no line (curl itself failed or was killed) is outcome 10
// with the batch's stderr (curl's and openssl's, "<first job's out>.curl"). Only a 2xx body counts: a redirect's or an
// error's is never hashed as the pack; a fetched pack openssl gave no SHA-256 is outcome 12, with the batch's stderr.
// curl unable to write the ciphertext (its code 23) is outcome 18. age or zstd killed by a signal (not a broken pipe:
// the OOM killer) is outcome 17, the program and its status the error file's last line. The worker removes a job's
// ciphertext and the batch's stderr once the job has reported, and a failed job's output. Per batch: curl and
// openssl; per pack: age and zstd, and no other program (every exec is CPU a restore of 140 packs pays 140 times).
const FETCHER = `set -u
${yieldCpuShell} id=$1
one() {
  local n=$1 out=$2 want=$3 cx=$4 status=$5 said=$6 sum=$7 curlErr=$8 st code=0
  [ "$status" = 000 ] && status=0
  if [ -z "$cx" ]; then code=10; printf '%s\\n' "$curlErr" >> "$out.err"
  elif [ "$status" = 0 ]; then code=10; echo "curl: ($cx) $said" >> "$out.err"
  elif [ "$status" -lt 200 ] || [ "$status" -gt 299 ]; then code=11
  elif [ "$cx" = 23 ]; then code=18; echo "curl: ($cx) $said" >> "$out.err"
  elif [ "$cx" != 0 ]; then code=10; echo "curl: ($cx) $said" >> "$out.err"
  elif [ -z "$sum" ]; then code=12; printf '%s\\n' "$curlErr" >> "$out.err"
  elif [ "$sum" != "$want" ]; then code=13; echo "$sum" >> "$out.err"
  else
    age -d -i "$id" "$out.enc" 2>> "$out.err" | zstd -d -q -f -o "$out" 2>> "$out.err"
    st=("\${PIPESTATUS[@]}")
    if [ "\${st[0]}" -gt 128 ] && [ "\${st[0]}" != 141 ]; then code=17; echo "age \${st[0]}" >> "$out.err"
    elif [ "\${st[1]}" -gt 128 ] && [ "\${st[1]}" != 141 ]; then code=17; echo "zstd \${st[1]}" >> "$out.err"
    elif [ "\${st[1]}" != 0 ] && { [ "\${st[0]}" = 0 ] || [ "\${st[0]}" = 141 ]; }; then code=15
    elif [ "\${st[0]}" != 0 ]; then code=14
    elif [ "\${st[1]}" != 0 ]; then code=15
    fi
  fi
  echo "$n $code $status"
}
batch() {
  local -a ns=() outs=() wants=() fetched=()
  local -A cx=() hs=() said=() sums=()
  local cfg= n c h m s f i cerr curlErr
  while [ $# -ge 4 ]; do
    ns+=("$1"); outs+=("$2"); wants+=("$3")
    [ -z "$cfg" ] || cfg+=$'next\\n'
    cfg+="url = \\"$4\\""$'\\n'"output = \\"$2.enc\\""$'\\n'"dump-header = \\"$2.hdr\\""$'\\n'
    cfg+=$'fail\\ngloboff\\nnoproxy = "*"\\nconnect-timeout = 20\\nspeed-limit = 1024\\nspeed-time = 60\\n'
    cfg+="write-out = \\"$1 %{exitcode} %{http_code} %{errormsg}\\\\n\\""$'\\n'
    shift 4
  done
  cerr="\${outs[0]}.curl"
  while read -r n c h m; do cx[$n]=$c; hs[$n]=$h; said[$n]=$m; done < <(curl -q --no-progress-meter --parallel --parallel-max 4 -K - <<< "$cfg" 2> "$cerr")
  for i in "\${!ns[@]}"; do
    n=\${ns[i]}
    if [ "\${cx[$n]:-}" = 0 ] && [ "\${hs[$n]}" -ge 200 ] && [ "\${hs[$n]}" -le 299 ]; then fetched+=("\${outs[i]}.enc"); fi
  done
  if [ \${#fetched[@]} -gt 0 ]; then
    while read -r s f; do sums[\${f#\\*}]=$s; done < <(openssl dgst -sha256 -r "\${fetched[@]}" 2>> "$cerr")
  fi
  curlErr=$(< "$cerr")
  for i in "\${!ns[@]}"; do
    n=\${ns[i]}
    one "$n" "\${outs[i]}" "\${wants[i]}" "\${cx[$n]:-}" "\${hs[$n]:-0}" "\${said[$n]:-}" "\${sums[\${outs[i]}.enc]:-}" "$curlErr" &
  done
  wait
}
while read -r count; do
  args=()
  for ((i = 0; i < count; i++)); do read -r n out want url; args+=("$n" "$out" "$want" "$url"); done
  batch "\${args[@]}" &
  p=$!
  for ((i = 0; i < \${#args[@]}; i += 4)); do echo "\${args[i]} pid $p"; done
done
wait`;

/**
 * The most packs one batch fetches (one curl, four transfers at once, and one openssl for them): a batch's packs are
 * decrypted once all of its transfers have ended, so a stalled transfer holds at most three others.
 */
export const PACKS_PER_BATCH = 4;
/** How long a pack's presigned GET stays valid: its job starts right after it is signed. */
const URL_TTL_SECONDS = 15 * 60;
/** How often the shells of jobs that have not reported are checked for: one gone twice running lost its outcome. */
const JOB_CHECK_MS = 2000;
/** Attempts per pack at a transient failure (a 5xx, a throttle, a dropped or stalled transfer), as the SDK made. */
const ATTEMPTS = 3;

export interface PackFetcher {
  /** Fetches the object at `key`, checks its ciphertext's SHA-256 and writes it decrypted to `name` in the folder. */
  fetch(o: { key: string; sha256: string; name: string }): Promise<void>;
  /** Ends the fetcher, killing jobs still running; resolves once its processes are gone. */
  close(): Promise<void>;
}

/**
 * Whether a job's shell still runs: not when its process is gone, a zombie (ended, not yet reaped by the fetcher's
 * shell) or another process that took its PID (another start time than when first seen); undefined when /proc
 * cannot tell.
 */
function shellAlive(job: { pid?: number; start?: string }): boolean | undefined {
  const st = processStat(job.pid!);
  if (st === null) return undefined;
  if (st === 'gone' || st.state === 'Z') return false;
  job.start ??= st.start;
  return st.start === job.start;
}

function readOr(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}

/** Below this much free space a failed write of a pack is taken for the disk's fault, not the pack's. */
const LOW_DISK_BYTES = 64 * 1024 * 1024;

/** A job's outcome as the failure the SDK's classification (or the restore's) gives it. */
function jobFailure(code: number, status: number, job: { key: string; sha256: string }, what: string, err: string, headers: string, dir: string): ApplicationFailure {
  const detail = err.trim().slice(-1000);
  // zstd failing to write, or openssl unable to read a fetched pack: the restore worker's disk (full, or an I/O
  // error), which says nothing of the pack. A full disk may also have kept zstd's own message from being written.
  if ((code === 15 || code === 12) && ((code === 15 && !detail) || /write error|no space left|input\/output error|disk quota/i.test(detail) || freeBytes(dir) < LOW_DISK_BYTES)) {
    return failure('WorkerDiskFull', `the restore worker could not write ${job.key} decrypted: ${detail || 'its disk is full'}`);
  }
  // curl could not write the ciphertext: the worker's disk (full, or an I/O error).
  if (code === 18) return failure('WorkerDiskFull', `the restore worker could not write ${job.key}: ${detail || 'its disk is full'}`);
  if (code === 11) {
    // An HTTP status other than 2xx: classified as the SDK's error would be (S3's error body is not kept).
    const retryAfter = /^retry-after:\s*(\S+)/im.exec(headers)?.[1] ?? '';
    return classifyStorageError(Object.assign(new Error(`HTTP ${status}`), { $metadata: { httpStatusCode: status }, $response: { headers: { 'retry-after': retryAfter } } }), what);
  }
  if (code === 10) {
    // curl's own words (age and zstd then only complain of the input that stopped).
    const said = err.split('\n').filter((l) => l.startsWith('curl:')).join('; ');
    return failure('StorageUnavailable', `object storage unavailable for ${what}: ${said || detail || 'curl failed'}`);
  }
  // Its shell gone without a word: killed by a signal the worker did not send (the OOM killer, an operator).
  if (code === 16) return failure('WorkerProcessKilled', `the job fetching ${what} ended without an outcome (its shell was killed): the worker's memory, most likely; another attempt may succeed`);
  if (code === 17) {
    // age or zstd killed by a signal (the script's last line of the error file: the program and its status).
    const [program, st] = (detail.split('\n').pop() ?? '').split(' ');
    // A status bash gives no signal's name (255, a real-time signal): the program's own failure, as below.
    return killedFailure(program, Number(st), `decrypting ${job.key}`) ?? decryptFailure(program === 'age' ? 'age' : 'zstd', job.key, `${program} exited ${st}`);
  }
  if (code === 13) return failure('BackupCorrupted', `${what} is corrupted: SHA-256 ${detail.split('\n').pop()!.slice(0, 16)}… does not match the expected ${job.sha256.slice(0, 16)}…`);
  if (code === 14) return decryptFailure('age', job.key, detail || 'age failed');
  if (code === 15) return decryptFailure('zstd', job.key, detail || 'zstd failed');
  return failure('StorageUnavailable', `cannot fetch ${what}: ${detail || `exit ${code}`}`);
}

/**
 * Starts a fetcher for one restore, its files in `dir` (the restore's private folder). Failures are classified as
 * the SDK's are (a missing pack ObjectNotFound, a throttled GET StorageThrottled with its Retry-After, …), a
 * SHA-256 mismatch or a corrupt zstd frame BackupCorrupted, age refusing DecryptionFailed, the worker's disk full
 * WorkerDiskFull, a job's shell or its age or zstd killed from outside WorkerProcessKilled. A transient failure of
 * storage, or a killed job, is retried (three attempts in all, as the SDK's client makes). `signal` kills the
 * fetcher and its jobs.
 */
export function startPackFetcher(o: { s3: S3Client; bucket: string; identityFile: string; dir: string; signal?: AbortSignal; retryDelayMs?: number }): PackFetcher {
  // Its own process group, so closing it reaches every job's processes.
  const sh = spawnScript(FETCHER, ['drover-packs', path.resolve(o.identityFile)], { stdio: ['pipe', 'pipe', 'pipe'], cwd: o.dir });
  const [stdin, stdout, stderrOut] = [sh.stdin!, sh.stdout!, sh.stderr!];
  const jobs = new Map<number, { resolve: (outcome: { code: number; status: number }) => void; reject: (e: unknown) => void; pid?: number; start?: string; gone?: number }>();
  let stderr = '';
  let ended: Error | null = null;
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
      if (code === 'pid') {
        if (job) {
          job.pid = Number(status);
          const st = processStat(job.pid);
          if (st && st !== 'gone') job.start = st.start;
        }
        continue;
      }
      jobs.delete(Number(n));
      job?.resolve({ code: Number(code), status: Number(status) });
    }
  });
  // A job whose shell is gone without its outcome line (killed: the OOM killer, an operator) would be awaited
  // forever, the activity heartbeating all along: once its shell is seen gone on two checks running (its line, if
  // it wrote one, has been read by then), it fails as lost, and the fetch tries again.
  const watch = setInterval(() => {
    for (const [n, job] of jobs) {
      if (!job.pid) continue;
      const alive = shellAlive(job);
      if (alive === undefined) continue;
      job.gone = alive ? 0 : (job.gone ?? 0) + 1;
      if (job.gone < 2) continue;
      jobs.delete(n);
      job.resolve({ code: 16, status: 0 });
    }
  }, JOB_CHECK_MS);
  watch.unref();
  const closed = new Promise<void>((resolve) => {
    const end = (e: Error) => {
      ended ??= e;
      for (const [n, job] of jobs) {
        jobs.delete(n);
        job.reject(ended);
      }
      clearInterval(watch);
      resolve();
    };
    sh.once('error', (e) => end(failure('StorageUnavailable', `cannot start the pack fetcher: ${e.message}`)));
    sh.once('close', (code, signal) => end(failure('StorageUnavailable', `the pack fetcher ended (${signal ?? `exit ${code}`}): ${stderr.trim().slice(-500)}`)));
  });
  const kill = () => {
    stdin.end();
    killGroup(sh);
  };
  if (o.signal?.aborted) kill();
  o.signal?.addEventListener('abort', kill, { once: true });
  void closed.then(() => o.signal?.removeEventListener('abort', kill));
  let next = 0;
  // Jobs asked for in one turn of the event loop (a restore asks for a batch of packs at once) go to the fetcher in
  // batches of up to PACKS_PER_BATCH, in the order asked: one curl and one openssl for each batch.
  let batch: string[] = [];
  const sendBatch = () => {
    const lines = batch;
    batch = [];
    for (let i = 0; i < lines.length; i += PACKS_PER_BATCH) {
      const some = lines.slice(i, i + PACKS_PER_BATCH);
      stdin.write(`${some.length}\n${some.join('')}`);
    }
  };

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
    if (!batch.length) setImmediate(sendBatch);
    batch.push(`${n} ${job.name}.${n} ${job.sha256} ${url}\n`);
    const { code, status } = await outcome;
    const out = path.join(o.dir, `${job.name}.${n}`);
    // The ciphertext, and the batch's stderr (named after its first job; read by the batch before any outcome), are
    // removed here rather than by an `rm` per pack in the script.
    for (const f of ['.enc', '.curl']) rmSync(`${out}${f}`, { force: true });
    if (code === 0) {
      renameSync(out, path.join(o.dir, job.name));
      return;
    }
    const [err, headers] = [readOr(`${out}.err`), readOr(`${out}.hdr`)];
    // A failed or lost job's output too: a lost job's programs, still running in the fetcher's process group until
    // their transfer ends or the fetcher closes, write into an unlinked file nothing reads.
    for (const f of ['', '.err', '.hdr']) rmSync(`${out}${f}`, { force: true });
    throw jobFailure(code, status, job, what, err, headers, o.dir);
  }

  return {
    async fetch(job) {
      for (let i = 1; ; i++) {
        try {
          return await attempt(job);
        } catch (err) {
          const f = err as ApplicationFailure;
          if (i >= ATTEMPTS || ended || f.nonRetryable || !['StorageUnavailable', 'StorageThrottled', 'WorkerProcessKilled'].includes(f.type ?? '')) throw err;
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

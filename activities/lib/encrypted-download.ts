/**
 * The restore side of encrypted-upload: an object is checked against the manifest's SHA-256 before anything uses it
 * (a corrupted or replaced object is refused), then streamed through `age -d` (with the restore worker's identity
 * file) and `zstd -d` into a sink. Nothing decrypted is staged whole. Two ways to check first: `downloadVerified`
 * keeps the ciphertext in a file as it hashes it, and the file is what is decrypted (one download, and the bytes
 * used are the bytes checked); `verifyObject` streams it once only to hash it, and the use downloads it again (with
 * the hash checked again, so an object replaced in between fails then).
 */
import path from 'node:path';
import { createWriteStream, rmSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { ApplicationFailure } from '@temporalio/common';
import { classifyStorageError, failure } from '../../lib/clients/errors';
import { DEFAULT_RESTORE_SPOOL_RESERVE_MB } from '../../lib/env';
import { chainFailure, killedFailure, spawnChain } from './process-chain';
import { promiseRoom, spoolFolder } from './restore-spool';
import { hashing } from './hashing-stream';

async function body(s3: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<Readable> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    return got.Body as Readable;
  } catch (err) {
    throw classifyStorageError(err, `s3://${bucket}/${key}`);
  }
}

/**
 * A failed decryption chain's program as the failure it means: age failing is a key or ciphertext problem
 * (DecryptionFailed), zstd failing (with age fine or only broken off by it) a corrupt frame (BackupCorrupted).
 */
export function decryptFailure(program: 'age' | 'zstd', key: string, said: string): ApplicationFailure {
  return failure(program === 'age' ? 'DecryptionFailed' : 'BackupCorrupted', `${key}: ${said}`);
}

/** BackupCorrupted unless `got` is the SHA-256 the manifest (or index) gives. */
function checkSha256(what: string, got: string, expected: string): void {
  if (got !== expected) throw failure('BackupCorrupted', `${what} is corrupted: SHA-256 ${got.slice(0, 16)}… does not match the expected ${expected.slice(0, 16)}…`);
}

/** Streams the object once and fails with BackupCorrupted unless its SHA-256 is the expected one. */
export async function verifyObject(s3: S3Client, bucket: string, key: string, expectedSha256: string, signal?: AbortSignal): Promise<{ bytes: number }> {
  const h = hashing();
  try {
    await pipeline(await body(s3, bucket, key, signal), h.stream.resume(), { signal });
  } catch (err) {
    throw classifyStorageError(err, `s3://${bucket}/${key}`);
  }
  checkSha256(`s3://${bucket}/${key}`, h.hex(), expectedSha256);
  return { bytes: h.bytes() };
}

/** Room left on the spool's file system after a download, for everything else the worker writes meanwhile (default). */
const SPOOL_RESERVE_BYTES = DEFAULT_RESTORE_SPOOL_RESERVE_MB * 1024 * 1024;

/** Removes a file that may not exist (or cannot be removed: the download's failure is the one to report). */
function removeQuietly(file: string): void {
  try {
    rmSync(file, { force: true });
  } catch {
    // Left: the spool folder goes with it.
  }
}

/**
 * Downloads the object once into `file` (mode 0600), hashing it on the way, and fails with BackupCorrupted (the
 * file removed) unless its SHA-256 is the expected one. Returns null, the file removed, when the file system has not
 * room for it and `reserveBytes` besides (room promised to other downloads of this worker counted as taken), or
 * fills up all the same: the caller then checks and uses the object in two streams instead.
 */
export async function downloadVerified(o: { s3: S3Client; bucket: string; key: string; sha256: string; file: string; signal?: AbortSignal; reserveBytes?: number }): Promise<{ bytes: number } | null> {
  const what = `s3://${o.bucket}/${o.key}`;
  let got: { Body?: unknown; ContentLength?: number };
  try {
    got = await o.s3.send(new GetObjectCommand({ Bucket: o.bucket, Key: o.key }), { abortSignal: o.signal });
  } catch (err) {
    throw classifyStorageError(err, what);
  }
  const source = got.Body as Readable;
  const release = promiseRoom(path.dirname(o.file), got.ContentLength ?? Infinity, o.reserveBytes ?? SPOOL_RESERVE_BYTES);
  if (!release) {
    source.destroy();
    return null;
  }
  const h = hashing();
  // The file's own errors are the worker's disk, not the object store.
  let diskError: NodeJS.ErrnoException | null = null;
  const out = createWriteStream(o.file, { mode: 0o600 });
  out.once('error', (e) => (diskError = e));
  try {
    await pipeline(source, h.stream, out, { signal: o.signal });
  } catch (err) {
    removeQuietly(o.file);
    // pipeline destroys the file with the source's error (a dropped connection, a cancelled activity) too: only the
    // file's own open or write failing is the disk's.
    const own = diskError as NodeJS.ErrnoException | null;
    const disk = own && !o.signal?.aborted && ['open', 'write'].includes(own.syscall ?? '') ? own : null;
    if (disk && (disk.code === 'ENOSPC' || disk.code === 'EDQUOT')) return null;
    if (disk) throw failure('WorkerDiskFull', `the restore worker could not keep ${o.key} on its disk: ${disk.message}`);
    throw classifyStorageError(err, what);
  } finally {
    release();
  }
  try {
    checkSha256(what, h.hex(), o.sha256);
  } catch (err) {
    removeQuietly(o.file);
    throw err;
  }
  return { bytes: h.bytes() };
}

/**
 * Checks an object against its SHA-256, then calls `use` with its size and, when the worker's disk had room for it,
 * the file it was kept in (give it to decryptObjectTo as `file`: what is used is what was checked). Without the file,
 * `use` downloads it again: give decryptObjectTo the `sha256` too. The spool folder (restore-spool.ts) is removed
 * after `use`, whatever it did.
 */
export async function withVerifiedObject<T>(
  o: { s3: S3Client; bucket: string; key: string; sha256: string; signal?: AbortSignal; reserveBytes?: number },
  use: (v: { bytes: number; file?: string }) => Promise<T>,
): Promise<T> {
  let spool: string | null = null;
  try {
    spool = spoolFolder('object');
  } catch {
    // No folder to keep it in (a full or read-only temporary folder): two streams.
  }
  try {
    const file = spool ? path.join(spool, 'object.age') : null;
    const kept = file ? await downloadVerified({ ...o, file }) : null;
    if (kept && file) return await use({ bytes: kept.bytes, file });
    return await use(await verifyObject(o.s3, o.bucket, o.key, o.sha256, o.signal));
  } finally {
    if (spool) rmSync(spool, { recursive: true, force: true });
  }
}

/**
 * For a restore that fails before its sink is fed to the end: the sink is destroyed, and its consumer's exit
 * (`sinkExit`, awaited or not by then) handled, so that exit is never an unhandled rejection.
 */
export function abandonSink(o: { sink: Writable; sinkExit?: Promise<void> }): void {
  o.sinkExit?.catch(() => undefined);
  o.sink.destroy();
}

/**
 * Decrypts and decompresses an object into `sink`; `sinkExit` (a consumer process) must succeed too. With
 * `sha256`, the ciphertext is hashed on the way and a mismatch fails with BackupCorrupted once it has been read
 * (for a sink that only stages, e.g. a pack's pieces on the restore worker's disk, before anything uses them; or the
 * second stream of an object verifyObject checked, which may have been replaced since).
 */
export async function decryptObjectTo(o: { s3: S3Client; bucket: string; key: string; identityFile: string; sink: Writable; sinkExit?: Promise<void>; signal?: AbortSignal; sha256?: string; file?: string }): Promise<void> {
  // The object first: a missing one (a site never backed up) fails here, before any process is started whose exit
  // nobody would then wait for (its rejection, once killed, went unhandled). The sink is destroyed then too (a
  // pipeline from it into a remote tar's stdin then closes that stdin; a caller that pipes it on with .pipe() stops
  // its consumer itself), and the consumer's exit is handled here. With `file` (downloadVerified's, already
  // checked), age reads that file and nothing is downloaded.
  let source: Readable | null = null;
  if (!o.file) {
    try {
      source = await body(o.s3, o.bucket, o.key, o.signal);
    } catch (err) {
      abandonSink(o);
      throw err;
    }
  }
  // age | zstd: the decrypted bytes go from one to the other through a kernel pipe, not through this process.
  const chain = spawnChain(['age', ['-d', '-i', o.identityFile, ...(o.file ? [o.file] : [])]], ['zstd', ['-d', '-q', '-c']]);
  const exited = chainFailure(chain).then((f) => {
    if (!f) return;
    const program = f.which === 'first' ? 'age' : 'zstd';
    throw killedFailure(program, f, `decrypting ${o.key}`, o.signal) ?? decryptFailure(program, o.key, f.stderr.trim().slice(-1000) || `exit ${f.code ?? f.signal}`);
  });
  const onAbort = () => chain.kill();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const h = hashing();
  // The download's own failure mid-body (the store stopped sending past the client's idle bound, a reset): storage's.
  let sourceError: unknown;
  source?.once('error', (err) => (sourceError = err));
  try {
    await Promise.all([
      source ? pipeline(source, h.stream, chain.stdin) : (chain.stdin.on('error', () => undefined).end(), Promise.resolve()),
      pipeline(chain.stdout, o.sink),
      exited,
      o.sinkExit ?? Promise.resolve(),
    ]);
    if (source && o.sha256) checkSha256(`s3://${o.bucket}/${o.key}`, h.hex(), o.sha256);
  } catch (err) {
    onAbort();
    source?.destroy();
    throw sourceError && !(err instanceof ApplicationFailure) ? classifyStorageError(sourceError, `s3://${o.bucket}/${o.key}`) : err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

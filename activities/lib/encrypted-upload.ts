/**
 * Streams a source (a dump, a tar) through zstd and age (encrypted to public recipients: the private key is
 * never needed where backups are written) into an S3 multipart upload, hashing the ciphertext on the way.
 * Nothing is staged whole on disk or in memory; at most a few multipart parts are buffered.
 */
import { createHash, randomBytes } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { Encrypter } from 'age-encryption';
import { cancellationSignal } from '@temporalio/activity';
import { classifyStorageError, failure } from '../../lib/clients/errors';
import { uploadStream } from '../../lib/clients/spaces-upload';
import { chainFailure, killedFailure, spawnChain, type ProcessChain } from './process-chain';
import { hashing } from './hashing-stream';

export interface EncryptedUploadOptions {
  s3: S3Client;
  bucket: string;
  /**
   * Where the object goes. Each call stores it under a key of its own (`database.sql.zst.age` becomes
   * `database.<random>.sql.zst.age`, returned as `key`), so an earlier attempt still running (a retry started
   * beside it) can never overwrite the object a later attempt reported: the manifest names the exact key it
   * verified. `exactKey` stores under `key` as given (the manifest, whose name marks a point complete).
   */
  key: string;
  exactKey?: boolean;
  source: Readable;
  /** Settles when the process producing `source` has exited; a rejection fails (and aborts) the upload. */
  sourceExit?: Promise<void>;
  /** age recipients (age1… public keys). */
  recipients: string[];
  zstdLevel?: number;
  signal?: AbortSignal;
  onProgress?: (plainBytes: number) => void;
  metadata?: Record<string, string>;
}

export interface EncryptedUploadResult {
  key: string;
  /** Size of the object as stored (ciphertext). */
  bytes: number;
  /** SHA-256 of the stored object, hex. */
  sha256: string;
  /** Size of the source before compression. */
  plainBytes: number;
  /** When the source's first byte arrived (ISO); for a dump, after its consistent snapshot was opened. */
  firstByteAt: string;
  /** When the source's last byte had been read (ISO). */
  finishedAt: string;
}

/** `dir/name.ext.ext` → `dir/name.<tag>.ext.ext`: a key no other upload attempt uses. */
export function attemptKey(key: string, tag = randomBytes(6).toString('hex')): string {
  const slash = key.lastIndexOf('/') + 1;
  const dot = key.indexOf('.', slash);
  return dot < 0 ? `${key}.${tag}` : `${key.slice(0, dot)}.${tag}${key.slice(dot)}`;
}

/**
 * The chain's exit: fails naming the process that failed it (chainFailure), with its stderr; a process killed by a
 * signal not ours (`signal`: the upload's cancellation) fails WorkerProcessKilled, which a retry may get past.
 */
function exitOf(chain: ProcessChain, names: [string, string], what: string, signal?: AbortSignal): Promise<void> {
  return chainFailure(chain).then((f) => {
    if (!f) return;
    const program = names[f.which === 'first' ? 0 : 1];
    throw killedFailure(program, f, what, signal) ?? failure('RemoteCommandFailed', `${program} exited ${f.code ?? f.signal}: ${f.stderr.trim().slice(-300)}`);
  });
}

/**
 * Aborts multipart uploads left behind under `prefix` (e.g. by a worker killed mid-upload); with
 * `initiatedBefore`, only those started before then, so uploads in progress now are left alone.
 */
export async function abortStaleUploads(s3: S3Client, bucket: string, prefix: string, initiatedBefore?: Date): Promise<number> {
  let aborted = 0;
  try {
    const list = await s3.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
    for (const u of list.Uploads ?? []) {
      if (!u.Key || !u.UploadId) continue;
      if (initiatedBefore && u.Initiated && u.Initiated >= initiatedBefore) continue;
      await s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: u.Key, UploadId: u.UploadId }));
      aborted++;
    }
  } catch (err) {
    throw classifyStorageError(err, `multipart uploads under ${prefix}`);
  }
  return aborted;
}

export async function uploadEncrypted(o: EncryptedUploadOptions): Promise<EncryptedUploadResult> {
  if (o.recipients.length === 0) throw failure('ConfigMissing', 'no backup encryption recipients configured (DROVER_BACKUP_AGE_RECIPIENTS)');
  const key = o.exactKey ? o.key : attemptKey(o.key);
  // Read the source from now on, before the first await: Node discards a child process's unread stdout when the
  // child exits, so a small dump finished during the round trips below came out empty. The PassThrough holds
  // what arrives meanwhile (back-pressure pauses the source beyond its buffer).
  const source = new PassThrough({ highWaterMark: 1024 * 1024 });
  const feeding = pipeline(o.source, source);
  feeding.catch(() => undefined);
  try {
    // Multipart uploads of earlier attempts at this object (any tag) are aborted: a straggler cannot complete one.
    const family = o.exactKey ? o.key : attemptKey(o.key, '').replace(/\.\.[^/]*$/, '.');
    await abortStaleUploads(o.s3, o.bucket, family);
  } catch (err) {
    o.source.destroy();
    throw err;
  }

  // zstd | age: the compressed bytes go from one to the other through a kernel pipe, not through this process.
  const chain = spawnChain(['zstd', [`-${o.zstdLevel ?? 3}`, '-q', '-c', '-T2']], ['age', o.recipients.flatMap((r) => ['-r', r])]);
  const exited = exitOf(chain, ['zstd', 'age'], `compressing and encrypting s3://${o.bucket}/${key}`, o.signal);
  let plainBytes = 0;
  let firstByteAt = '';
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      if (!firstByteAt && chunk.length) firstByteAt = new Date().toISOString();
      plainBytes += chunk.length;
      o.onProgress?.(plainBytes);
      cb(null, chunk);
    },
  });
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  const hasher = hashing();

  // Stopped by onAbort: a chain killed mid-stream ends its stdout, and what came until then must not be stored.
  const stopUpload = new AbortController();
  const uploaded = uploadStream({ s3: o.s3, bucket: o.bucket, key, body, contentType: 'application/octet-stream', metadata: o.metadata, queueSize: 2, signal: stopUpload.signal });
  uploaded.catch(() => undefined);
  const onAbort = () => {
    stopUpload.abort();
    chain.kill();
    o.source.destroy(new Error('cancelled'));
    source.destroy(new Error('cancelled'));
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  let finishedAt = '';
  try {
    await Promise.all([
      feeding,
      pipeline(source, counter, chain.stdin).then(() => void (finishedAt = new Date().toISOString())),
      pipeline(chain.stdout, hasher.stream, body),
      o.sourceExit ?? Promise.resolve(),
      exited,
      uploaded.catch((err: unknown) => {
        throw classifyStorageError(err, `s3://${o.bucket}/${key}`);
      }),
    ]);
  } catch (err) {
    onAbort();
    await abortStaleUploads(o.s3, o.bucket, key).catch(() => undefined);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  finishedAt ||= new Date().toISOString();
  return { key, bytes: hasher.bytes(), sha256: hasher.hex(), plainBytes, firstByteAt: firstByteAt || finishedAt, finishedAt };
}

/**
 * uploadEncrypted inside an activity: stopped by the activity's cancellation, and counting the source's bytes into
 * `progress.plainBytes` as chunks are read, for the caller's `withHeartbeat` (heartbeat.ts) to report once a second.
 */
export function uploadEncryptedInActivity(o: Omit<EncryptedUploadOptions, 'signal' | 'onProgress'>, progress: { plainBytes: number }): Promise<EncryptedUploadResult> {
  return uploadEncrypted({ ...o, signal: cancellationSignal(), onProgress: (plainBytes) => void (progress.plainBytes = plainBytes) });
}

const ZSTD_MAGIC = Buffer.from([0x28, 0xb5, 0x2f, 0xfd]);
const ZSTD_MAX_BLOCK = 128 * 1024;

/**
 * A zstd frame of stored (raw) blocks: what `zstd -d` reads back as `data`, made without a process. For the small
 * objects written in process (the manifest) compression would save nothing worth a child process.
 */
export function zstdStoredFrame(data: Buffer): Buffer {
  // Frame header descriptor 0xE0: 8-byte content size, single segment (the window is the content), no checksum.
  const header = Buffer.alloc(9);
  header[0] = 0xe0;
  header.writeBigUInt64LE(BigInt(data.length), 1);
  const parts: Buffer[] = [ZSTD_MAGIC, header];
  let at = 0;
  do {
    const size = Math.min(ZSTD_MAX_BLOCK, data.length - at);
    const last = at + size >= data.length ? 1 : 0;
    const block = Buffer.alloc(3);
    block.writeUIntLE((size << 3) | last, 0, 3); // block type 0 (raw) in bits 1-2
    parts.push(block, data.subarray(at, at + size));
    at += size;
  } while (at < data.length);
  return Buffer.concat(parts);
}

/**
 * A small object (the manifest) stored like uploadEncrypted's (a zstd frame, age-encrypted to the same
 * recipients; `age -d | zstd -d` reads it back) but in process: one PutObject, no zstd or age process.
 */
export async function uploadSmallEncrypted(o: { s3: S3Client; bucket: string; key: string; data: Buffer; recipients: string[]; metadata?: Record<string, string> }): Promise<EncryptedUploadResult> {
  if (o.recipients.length === 0) throw failure('ConfigMissing', 'no backup encryption recipients configured (DROVER_BACKUP_AGE_RECIPIENTS)');
  const firstByteAt = new Date().toISOString();
  const enc = new Encrypter();
  for (const r of o.recipients) enc.addRecipient(r);
  const body = Buffer.from(await enc.encrypt(zstdStoredFrame(o.data)));
  try {
    await o.s3.send(new PutObjectCommand({ Bucket: o.bucket, Key: o.key, Body: body, ContentType: 'application/octet-stream', Metadata: o.metadata }));
  } catch (err) {
    throw classifyStorageError(err, `s3://${o.bucket}/${o.key}`);
  }
  return { key: o.key, bytes: body.length, sha256: createHash('sha256').update(body).digest('hex'), plainBytes: o.data.length, firstByteAt, finishedAt: new Date().toISOString() };
}

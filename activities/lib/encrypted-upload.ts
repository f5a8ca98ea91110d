/**
 * Streams a source (a dump, a tar) through zstd and age (encrypted to public recipients: the private key is
 * never needed where backups are written) into an S3 multipart upload, hashing the ciphertext on the way.
 * Nothing is staged whole on disk or in memory; at most a few multipart parts are buffered.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AbortMultipartUploadCommand, ListMultipartUploadsCommand, type S3Client } from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { classifyStorageError, failure } from './errors';

export interface EncryptedUploadOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  source: Readable;
  /** Settles when the process producing `source` has exited; a rejection fails (and aborts) the upload. */
  sourceExit?: Promise<void>;
  /** age recipients (age1… public keys). */
  recipients: string[];
  zstdLevel?: number;
  partSizeBytes?: number;
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
}

function exitOf(p: ChildProcess, name: string, stderr: () => string): Promise<void> {
  return new Promise((resolve, reject) => {
    p.once('error', (e) => reject(failure('RemoteCommandFailed', `${name} could not start: ${e.message}`)));
    p.once('close', (code, sig) => (code === 0 ? resolve() : reject(failure('RemoteCommandFailed', `${name} exited ${code ?? sig}: ${stderr().trim().slice(-300)}`))));
  });
}

function spawnFilter(cmd: string, args: string[]): { proc: ChildProcess; exit: Promise<void> } {
  const proc = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let err = '';
  proc.stderr!.on('data', (d) => (err = (err + d).slice(-2000)));
  return { proc, exit: exitOf(proc, cmd, () => err) };
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
  await abortStaleUploads(o.s3, o.bucket, o.key);

  const zstd = spawnFilter('zstd', [`-${o.zstdLevel ?? 3}`, '-q', '-c', '-T2']);
  const age = spawnFilter('age', o.recipients.flatMap((r) => ['-r', r]));
  let plainBytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      plainBytes += chunk.length;
      o.onProgress?.(plainBytes);
      cb(null, chunk);
    },
  });
  const hash = createHash('sha256');
  let bytes = 0;
  const body = new PassThrough({ highWaterMark: 1024 * 1024 });
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });

  const upload = new Upload({
    client: o.s3,
    params: { Bucket: o.bucket, Key: o.key, Body: body, ContentType: 'application/octet-stream', Metadata: o.metadata },
    partSize: o.partSizeBytes ?? 8 * 1024 * 1024,
    queueSize: 2,
    leavePartsOnError: false,
  });
  const onAbort = () => {
    void upload.abort();
    zstd.proc.kill('SIGTERM');
    age.proc.kill('SIGTERM');
    o.source.destroy(new Error('cancelled'));
  };
  o.signal?.addEventListener('abort', onAbort, { once: true });

  try {
    await Promise.all([
      pipeline(o.source, counter, zstd.proc.stdin!),
      pipeline(zstd.proc.stdout!, age.proc.stdin!),
      pipeline(age.proc.stdout!, hasher, body),
      o.sourceExit ?? Promise.resolve(),
      zstd.exit,
      age.exit,
      upload.done().catch((err: unknown) => {
        throw classifyStorageError(err, `s3://${o.bucket}/${o.key}`);
      }),
    ]);
  } catch (err) {
    onAbort();
    await abortStaleUploads(o.s3, o.bucket, o.key).catch(() => undefined);
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
  return { key: o.key, bytes, sha256: hash.digest('hex'), plainBytes };
}

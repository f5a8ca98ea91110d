/**
 * The restore side of encrypted-upload: an object is first streamed once to check its SHA-256 against the
 * manifest (a corrupted object is refused before anything is written anywhere), then streamed again through
 * `age -d` (with the restore worker's identity file) and `zstd -d` into a sink. Nothing is staged whole.
 */
import { createHash } from 'node:crypto';
import { Transform, type Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { GetObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { classifyStorageError, failure } from '../../lib/clients/errors';
import { chainFailure, spawnChain } from './process-chain';

async function body(s3: S3Client, bucket: string, key: string, signal?: AbortSignal): Promise<Readable> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }), { abortSignal: signal });
    return got.Body as Readable;
  } catch (err) {
    throw classifyStorageError(err, `s3://${bucket}/${key}`);
  }
}

/** Streams the object once and fails with BackupCorrupted unless its SHA-256 is the expected one. */
export async function verifyObject(s3: S3Client, bucket: string, key: string, expectedSha256: string, signal?: AbortSignal): Promise<{ bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  for await (const chunk of await body(s3, bucket, key, signal)) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  const got = hash.digest('hex');
  if (got !== expectedSha256) throw failure('BackupCorrupted', `s3://${bucket}/${key} is corrupted: SHA-256 ${got.slice(0, 16)}… does not match the manifest's ${expectedSha256.slice(0, 16)}…`);
  return { bytes };
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
 * (for a sink that only stages, e.g. a pack's pieces on the restore worker's disk, before anything uses them).
 */
export async function decryptObjectTo(o: { s3: S3Client; bucket: string; key: string; identityFile: string; sink: Writable; sinkExit?: Promise<void>; signal?: AbortSignal; sha256?: string }): Promise<void> {
  // The object first: a missing one (a site never backed up) fails here, before any process is started whose exit
  // nobody would then wait for (its rejection, once killed, went unhandled). The sink is destroyed then too (a
  // pipeline from it into a remote tar's stdin then closes that stdin; a caller that pipes it on with .pipe() stops
  // its consumer itself), and the consumer's exit is handled here.
  let source: Readable;
  try {
    source = await body(o.s3, o.bucket, o.key, o.signal);
  } catch (err) {
    abandonSink(o);
    throw err;
  }
  // age | zstd: the decrypted bytes go from one to the other through a kernel pipe, not through this process.
  const chain = spawnChain(['age', ['-d', '-i', o.identityFile]], ['zstd', ['-d', '-q', '-c']]);
  // age failing is a key or ciphertext problem, zstd failing (with age fine or only broken off by it) a corrupt frame.
  const exited = chainFailure(chain).then((f) => {
    if (f) throw failure(f.which === 'first' ? 'DecryptionFailed' : 'BackupCorrupted', `${o.key}: ${f.stderr.trim().slice(-1000) || `exit ${f.code ?? f.signal}`}`);
  });
  const onAbort = () => chain.kill();
  o.signal?.addEventListener('abort', onAbort, { once: true });
  const hash = createHash('sha256');
  const hasher = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      cb(null, chunk);
    },
  });
  try {
    await Promise.all([
      pipeline(source, hasher, chain.stdin),
      pipeline(chain.stdout, o.sink),
      exited,
      o.sinkExit ?? Promise.resolve(),
    ]);
    const got = hash.digest('hex');
    if (o.sha256 && got !== o.sha256) throw failure('BackupCorrupted', `s3://${o.bucket}/${o.key} is corrupted: SHA-256 ${got.slice(0, 16)}… does not match the expected ${o.sha256.slice(0, 16)}…`);
  } catch (err) {
    onAbort();
    source.destroy();
    throw err;
  } finally {
    o.signal?.removeEventListener('abort', onAbort);
  }
}

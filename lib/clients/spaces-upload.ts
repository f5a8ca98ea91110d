/**
 * A stream's bytes into one S3 object: one PutObject when the stream ends within its first part, else a multipart
 * upload of `partSizeBytes` parts, `queueSize` of them in flight. Nothing is held whole: at most `queueSize + 1`
 * part buffers per upload, allocated once and refilled part after part.
 *
 * Why not `@aws-sdk/lib-storage`'s `Upload`: it allocates a new part-sized buffer (`Buffer.concat`) for every part.
 * V8 counts those as external memory, and in a worker that holds a few hundred MiB, that stream of 8 MiB
 * allocations sets off full garbage collections: about 2.0 CPU-s of the worker per 137 MiB uploaded, against
 * about 0.9 with recycled buffers (docs/benchmarks.md, thirty-seventh session). Errors are the SDK's, unclassified:
 * the caller names the object (classifyStorageError).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCommand,
  type CompletedPart,
  type S3Client,
} from '@aws-sdk/client-s3';

/** S3's limit on a multipart upload's parts (at 8 MiB, objects up to 78 GiB). */
export const MAX_PARTS = 10_000;
const DEFAULT_PART_SIZE = 8 * 1024 * 1024;
/** S3's (and Spaces') smallest part but the last. */
export const MIN_PART_SIZE = 5 * 1024 * 1024;

export interface StreamUploadOptions {
  s3: S3Client;
  bucket: string;
  key: string;
  body: Readable;
  /** Every part but the last; at least 5 MiB on S3 and Spaces. Default 8 MiB. */
  partSizeBytes?: number;
  /** Parts uploaded at once. Default 2. */
  queueSize?: number;
  contentType?: string;
  metadata?: Record<string, string>;
  /**
   * Stops reading (destroys `body`, which may be waiting for bytes that never come), cancels the requests in flight
   * and aborts the multipart upload; the upload rejects.
   */
  signal?: AbortSignal;
}

/**
 * The ETag S3 gives an object completed from these parts (`"<MD5 of the parts' MD5s>-<count>"`, as Spaces and
 * versitygw give it too); null when a part's ETag is not a plain MD5 (a store that makes them otherwise).
 */
export function multipartETag(parts: CompletedPart[]): string | null {
  const md5 = createHash('md5');
  for (const p of parts) {
    const hex = p.ETag?.replace(/"/g, '') ?? '';
    if (!/^[0-9a-f]{32}$/i.test(hex)) return null;
    md5.update(Buffer.from(hex, 'hex'));
  }
  return `"${md5.digest('hex')}-${parts.length}"`;
}

function abortedError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : Object.assign(new Error('upload aborted'), { name: 'AbortError' });
}

/** Uploads `body` to `key`; settles once the object is stored (or the upload has failed and been aborted). */
export async function uploadStream(o: StreamUploadOptions): Promise<void> {
  const partSize = o.partSizeBytes ?? DEFAULT_PART_SIZE;
  const queueSize = o.queueSize ?? 2;
  if (!Number.isInteger(partSize) || partSize < MIN_PART_SIZE) throw new RangeError(`partSizeBytes must be a whole number of at least ${MIN_PART_SIZE} (S3's smallest part), got ${partSize}`);
  if (!Number.isInteger(queueSize) || queueSize < 1) throw new RangeError(`queueSize must be a whole number of at least 1, got ${queueSize}`);
  const signal = o.signal;
  const sendOptions = signal ? { abortSignal: signal } : {};
  const object = { Bucket: o.bucket, Key: o.key };
  // The first part's bytes as they came: an object smaller than a part (most dumps and indexes) never takes one.
  let first: Buffer[] = [];
  let held = 0;
  const free: Buffer[] = [];
  let part: Buffer | null = null;
  let fill = 0;
  let partNumber = 0;
  let uploadId: string | undefined;
  let failed: { error: unknown } | undefined;
  const parts: CompletedPart[] = [];
  const inFlight = new Set<Promise<void>>();

  const checked = () => {
    if (failed) throw failed.error;
    if (signal?.aborted) throw abortedError(signal);
  };
  const startUpload = async () => {
    // As lib-storage does: the upload names the checksum its parts carry (the SDK adds a CRC32 to each by default).
    const checksums = (await o.s3.config.requestChecksumCalculation()) === 'WHEN_SUPPORTED';
    const created = await o.s3.send(new CreateMultipartUploadCommand({ ...object, ContentType: o.contentType, Metadata: o.metadata, ...(checksums ? { ChecksumAlgorithm: 'CRC32' as const } : {}) }), sendOptions);
    if (!created.UploadId) throw new Error(`no UploadId for s3://${o.bucket}/${o.key}`);
    uploadId = created.UploadId;
  };
  const sendPart = async (buffer: Buffer, length: number) => {
    const number = ++partNumber;
    if (number > MAX_PARTS) throw new Error(`s3://${o.bucket}/${o.key} needs more than ${MAX_PARTS} parts of ${partSize} bytes`);
    if (!uploadId) await startUpload();
    const sent = o.s3.send(new UploadPartCommand({ ...object, UploadId: uploadId, PartNumber: number, Body: buffer.subarray(0, length) }), sendOptions).then(
      (r) => {
        if (!r.ETag) throw new Error(`part ${number} of s3://${o.bucket}/${o.key}: no ETag`);
        parts.push({ PartNumber: number, ETag: r.ETag, ...(r.ChecksumCRC32 ? { ChecksumCRC32: r.ChecksumCRC32 } : {}) });
        // The buffer is refilled only once its request has settled (a retry of the part sends it again).
        free.push(buffer);
      },
    );
    const tracked: Promise<void> = sent.then(
      () => void inFlight.delete(tracked),
      (error: unknown) => {
        inFlight.delete(tracked);
        failed ??= { error };
      },
    );
    inFlight.add(tracked);
    while (inFlight.size >= queueSize) await Promise.race(inFlight);
    checked();
  };

  const completedAlready = async () => {
    const expected = multipartETag(parts);
    if (!expected) return false;
    const head = await o.s3.send(new HeadObjectCommand(object), sendOptions).catch(() => null);
    return head?.ETag === expected;
  };

  // A source waiting for bytes that never come would hold the loop below past an abort: it is ended instead.
  const stopReading = () => o.body.destroy(abortedError(signal!));
  signal?.addEventListener('abort', stopReading, { once: true });
  if (signal?.aborted) stopReading();
  try {
    for await (const chunk of o.body as AsyncIterable<Buffer>) {
      checked();
      let at = 0;
      while (at < chunk.length) {
        if (!part) {
          if (partNumber === 0 && held + chunk.length - at < partSize) {
            first.push(at ? chunk.subarray(at) : chunk);
            held += chunk.length - at;
            break;
          }
          part = free.pop() ?? Buffer.allocUnsafeSlow(partSize);
          fill = 0;
          for (const c of first) fill += c.copy(part, fill);
          first = [];
          held = 0;
        }
        const n = chunk.copy(part, fill, at);
        fill += n;
        at += n;
        if (fill === partSize) {
          const full = part;
          part = null;
          await sendPart(full, partSize);
        }
      }
    }
    checked();
    if (partNumber === 0 && !part) {
      await o.s3.send(new PutObjectCommand({ ...object, Body: first.length === 1 ? first[0] : Buffer.concat(first, held), ContentType: o.contentType, Metadata: o.metadata }), sendOptions);
      return;
    }
    if (part && fill > 0) await sendPart(part, fill);
    await Promise.all(inFlight);
    checked();
    parts.sort((a, b) => a.PartNumber! - b.PartNumber!);
    try {
      await o.s3.send(new CompleteMultipartUploadCommand({ ...object, UploadId: uploadId, MultipartUpload: { Parts: parts } }), sendOptions);
    } catch (err) {
      // A completion whose answer was lost (a connection cut, a timeout) is sent again by the SDK, and the store,
      // done with the upload, answers NoSuchUpload: the object is stored if it carries exactly these parts' ETag.
      if ((err as { name?: string }).name !== 'NoSuchUpload' || !(await completedAlready())) throw err;
    }
  } catch (err) {
    // Nothing left running: the parts in flight settle (cancelled by the signal, or failed), then the upload goes.
    await Promise.allSettled(inFlight);
    if (uploadId) await o.s3.send(new AbortMultipartUploadCommand({ ...object, UploadId: uploadId })).catch(() => undefined);
    throw err;
  } finally {
    signal?.removeEventListener('abort', stopReading);
  }
}

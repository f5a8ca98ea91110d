/**
 * uploadStream on the real S3 server (versitygw): objects of every size around the part boundary stored exactly,
 * a few part buffers recycled instead of one per part, an upload that fails or is stopped leaves neither an
 * object nor a multipart upload behind, and a completion whose answer is lost is not taken for a failure.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import { GetObjectCommand, HeadObjectCommand, ListMultipartUploadsCommand, ListPartsCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { createSpacesClient } from '../../lib/clients/spaces-client';
import { uploadStream } from '../../lib/clients/spaces-upload';
import { testEnv } from '../helpers/temporal';

const env = testEnv();
const deps = createActivityDeps(env);
afterAll(() => closeActivityDeps(deps));

const PART = 5 * 1024 * 1024; // S3's smallest part
const prefix = `test/spaces-upload/${process.pid}-${Date.now()}`;

/**
 * `data` in chunks of pseudo-random sizes (seeded: a failure reproduces), as pipes and SSH channels cut a stream:
 * mostly up to 256 KiB, and the third one and a half parts long (a chunk that spans a part boundary, and, in the
 * first part, one that the held chunks must be joined with).
 */
function chunked(data: Buffer, seed = data.length + 1): Buffer[] {
  let x = seed >>> 0;
  const next = () => ((x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x6d2b79f5) >>> 0) / 2 ** 32);
  const chunks: Buffer[] = [];
  for (let at = 0; at < data.length; ) {
    const n = Math.min(data.length - at, chunks.length === 2 ? PART * 1.5 : 1 + Math.floor(next() * 256 * 1024));
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return chunks;
}

async function stored(key: string): Promise<{ sha256: string; bytes: number } | null> {
  try {
    const r = await deps.s3.send(new GetObjectCommand({ Bucket: deps.bucket, Key: key }));
    const body = Buffer.from(await r.Body!.transformToByteArray());
    return { sha256: createHash('sha256').update(body).digest('hex'), bytes: body.length };
  } catch (err) {
    if ((err as { name?: string }).name === 'NoSuchKey') return null;
    throw err;
  }
}

async function openUploads(key: string): Promise<number> {
  const r = await deps.s3.send(new ListMultipartUploadsCommand({ Bucket: deps.bucket, Prefix: key }));
  return (r.Uploads ?? []).length;
}

describe('uploadStream', () => {
  it.each([0, 1, PART - 1, PART, PART + 1, 2 * PART, 5 * PART + 12_345])('stores %i bytes exactly, with at most three part buffers and no upload left open', async (size) => {
    const data = randomBytes(size);
    const key = `${prefix}/size-${size}-ünïcode ✓.bin`;
    const alloc = vi.spyOn(Buffer, 'allocUnsafeSlow');
    try {
      await uploadStream({ s3: deps.s3, bucket: deps.bucket, key, body: Readable.from(chunked(data)), partSizeBytes: PART, contentType: 'application/octet-stream', metadata: { site: 'a' } });
      // Part buffers: none for an object within one part, else at most queueSize (2) + 1 however many parts.
      expect(alloc.mock.calls.filter(([n]) => n === PART).length).toBeLessThanOrEqual(size < PART ? 0 : 3);
    } finally {
      alloc.mockRestore();
    }
    expect(await stored(key)).toEqual({ sha256: createHash('sha256').update(data).digest('hex'), bytes: size });
    expect((await deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: key }))).Metadata).toEqual({ site: 'a' });
    expect(await openUploads(key)).toBe(0);
  });

  it('a source that fails after two parts: the upload rejects with its error, no object, no multipart upload left', async () => {
    const key = `${prefix}/failing-source`;
    async function* source() {
      yield randomBytes(PART);
      yield randomBytes(PART + 100);
      throw new Error('tar: wp-content/uploads: Input/output error');
    }
    await expect(uploadStream({ s3: deps.s3, bucket: deps.bucket, key, body: Readable.from(source()), partSizeBytes: PART })).rejects.toThrow(/Input\/output error/);
    expect(await stored(key)).toBeNull();
    expect(await openUploads(key)).toBe(0);
  });

  it('stopped mid-stream (a cancelled step, or a chain killed whose output then ends): rejects, stores nothing of what came, no multipart upload left', async () => {
    const key = `${prefix}/stopped`;
    const stop = new AbortController();
    let sent = 0;
    async function* source() {
      for (let i = 0; i < 4; i++) {
        sent += PART;
        yield randomBytes(PART);
      }
      // The abort comes while the source still flows; then the source just ends, as a killed program's stdout does.
      stop.abort();
    }
    await expect(uploadStream({ s3: deps.s3, bucket: deps.bucket, key, body: Readable.from(source()), partSizeBytes: PART, signal: stop.signal })).rejects.toThrow(/abort/i);
    expect(sent).toBe(4 * PART);
    expect(await stored(key)).toBeNull();
    expect(await openUploads(key)).toBe(0);
  });

  it('a stalled source (no byte, no end) and then an abort: rejects at once, no object, no multipart upload left', async () => {
    const key = `${prefix}/stalled-then-stopped`;
    const stop = new AbortController();
    const body = new PassThrough();
    body.write(randomBytes(PART));
    body.write(randomBytes(PART + 1));
    const upload = uploadStream({ s3: deps.s3, bucket: deps.bucket, key, body, partSizeBytes: PART, signal: stop.signal });
    // Two parts stored (the second is full once the first byte past it came), then nothing more comes: the upload
    // waits on the source, not on a request the abort would cancel.
    await vi.waitFor(
      async () => {
        const open = await deps.s3.send(new ListMultipartUploadsCommand({ Bucket: deps.bucket, Prefix: key }));
        const uploadId = open.Uploads?.[0]?.UploadId;
        expect(uploadId).toBeTruthy();
        expect((await deps.s3.send(new ListPartsCommand({ Bucket: deps.bucket, Key: key, UploadId: uploadId }))).Parts?.length).toBe(2);
      },
      { timeout: 5_000 },
    );
    await new Promise((r) => setTimeout(r, 200));
    stop.abort();
    await expect(upload).rejects.toThrow(/abort/i);
    expect(body.destroyed).toBe(true);
    expect(await stored(key)).toBeNull();
    expect(await openUploads(key)).toBe(0);
  });

  it('refuses a part size under S3\'s 5 MiB and a queue under one before reading or storing anything', async () => {
    const body = Readable.from([Buffer.from('x')]);
    await expect(uploadStream({ s3: deps.s3, bucket: deps.bucket, key: `${prefix}/bad-options`, body, partSizeBytes: PART - 1 })).rejects.toThrow(/partSizeBytes .*5242880/);
    await expect(uploadStream({ s3: deps.s3, bucket: deps.bucket, key: `${prefix}/bad-options`, body, queueSize: 0 })).rejects.toThrow(/queueSize/);
    expect(body.readableDidRead).toBe(false);
    expect(await stored(`${prefix}/bad-options`)).toBeNull();
  });

  it('a store that refuses the upload (a bucket that does not exist): rejects with the SDK error', async () => {
    const key = `${prefix}/no-bucket`;
    const err = await uploadStream({ s3: deps.s3, bucket: `${deps.bucket}-missing`, key, body: Readable.from([randomBytes(PART), randomBytes(PART)]), partSizeBytes: PART }).catch((e: unknown) => e);
    expect((err as { name?: string }).name).toBe('NoSuchBucket');
  });

  it.each([true, false])("a completion answered NoSuchUpload: taken as done only when the object stored is exactly these parts (its first answer lost: %s; else another object at the key)", async (storeCompletes) => {
    const key = `${prefix}/lost-completion-${storeCompletes} ✓`;
    const upstream = new URL(env.DROVER_S3_ENDPOINT);
    let completions = 0;
    // Passes every request to the store. The first completion (POST ?uploadId=…) reaches the store, then its answer
    // is dropped with the connection; the SDK's retry is answered NoSuchUpload, as a store that has finished with
    // the upload answers (versitygw itself answers a repeated completion 200; Ceph's gateways have answered 404).
    const proxy = createServer((req, res) => {
      const completion = req.method === 'POST' && /[?&]uploadId=/.test(req.url ?? '');
      if (completion && (completions++ > 0 || !storeCompletes)) {
        req.resume();
        res.writeHead(404, { 'content-type': 'application/xml' }).end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>NoSuchUpload</Code><Message>The specified upload does not exist.</Message></Error>');
        return;
      }
      const up = request({ host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        if (completion) {
          answer.resume();
          answer.once('end', () => res.socket?.destroy());
          return;
        }
        res.writeHead(answer.statusCode!, answer.headers);
        answer.pipe(res);
      });
      up.on('error', () => res.socket?.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    const s3 = createSpacesClient({ endpoint: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`, region: env.DROVER_S3_REGION, accessKeyId: env.DROVER_S3_ACCESS_KEY_ID, secretAccessKey: env.DROVER_S3_SECRET_ACCESS_KEY, bucket: env.DROVER_S3_BUCKET, forcePathStyle: true });
    try {
      const data = randomBytes(2 * PART + 777);
      // Another object at the key already (an exact-key pack an earlier attempt stored): found by the check, but not
      // with these parts' ETag.
      const earlier = randomBytes(1000);
      if (!storeCompletes) await deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: key, Body: earlier }));
      const upload = uploadStream({ s3, bucket: deps.bucket, key, body: Readable.from(chunked(data)), partSizeBytes: PART });
      if (!storeCompletes) {
        // An upload the store never completed: NoSuchUpload is the failure it says, and nothing is stored.
        await expect(upload).rejects.toMatchObject({ name: 'NoSuchUpload' });
        expect(await stored(key)).toEqual({ sha256: createHash('sha256').update(earlier).digest('hex'), bytes: earlier.length });
        expect(await openUploads(key)).toBe(0);
        return;
      }
      await upload;
      expect(completions).toBe(2);
      expect(await stored(key)).toEqual({ sha256: createHash('sha256').update(data).digest('hex'), bytes: data.length });
      expect(await openUploads(key)).toBe(0);
    } finally {
      s3.destroy();
      proxy.close();
    }
  });
});

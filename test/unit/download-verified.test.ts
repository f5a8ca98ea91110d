/**
 * downloadVerified's (and verifyObject's) outcomes by where a failure comes from: the object store's stream, the worker's disk, the
 * object's bytes. (The object store itself is exercised in the integration tests; here the S3 client is a stand-in
 * whose body stream fails on cue, which a real server cannot be made to do on time.)
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/scratch';
import { downloadVerified, verifyObject } from '../../activities/lib/encrypted-download';

const bytes = Buffer.alloc(256 * 1024, 7);
const sha256 = createHash('sha256').update(bytes).digest('hex');

/** An S3 client whose GetObject answers with `body()` (and the object's length). */
function s3With(body: () => Readable): S3Client {
  return { send: async () => ({ Body: body(), ContentLength: bytes.length }) } as unknown as S3Client;
}
const failure = (p: Promise<unknown>) => p.then(() => null, (e: { type?: string; message?: string }) => e);

describe('downloadVerified', () => {
  it('keeps the object when its SHA-256 matches', async () => {
    const file = path.join(scratchDir('download-verified-'), 'o.age');
    expect(await downloadVerified({ s3: s3With(() => Readable.from([bytes])), bucket: 'b', key: 'k', sha256, file })).toEqual({ bytes: bytes.length });
    expect(existsSync(file)).toBe(true);
  });

  it('a connection dropped mid-download is the object store failing, not the disk, and leaves no file', async () => {
    const dir = scratchDir('download-verified-');
    const dropped = () =>
      new Readable({
        read() {
          this.push(bytes.subarray(0, 1024));
          setImmediate(() => this.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' })));
        },
      });
    const err = await failure(downloadVerified({ s3: s3With(dropped), bucket: 'b', key: 'k', sha256, file: path.join(dir, 'o.age') }));
    expect(err?.type).not.toBe('WorkerDiskFull');
    expect(err?.type).toBe('StorageUnavailable');
    expect(readdirSync(dir)).toEqual([]);
  });

  it("the file's own failure is the worker's disk", async () => {
    // The file cannot be opened for writing (a folder is in its place).
    const dir = scratchDir('download-verified-');
    const err = await failure(downloadVerified({ s3: s3With(() => Readable.from([bytes])), bucket: 'b', key: 'k', sha256, file: dir }));
    expect(err?.type).toBe('WorkerDiskFull');
    expect(err?.message).toMatch(/EISDIR/);
  });

  it('another object than the manifest names is BackupCorrupted, and its file removed', async () => {
    const dir = scratchDir('download-verified-');
    const err = await failure(downloadVerified({ s3: s3With(() => Readable.from([Buffer.from('another object')])), bucket: 'b', key: 'k', sha256, file: path.join(dir, 'o.age') }));
    expect(err?.type).toBe('BackupCorrupted');
    expect(readdirSync(dir)).toEqual([]);
  });

  it('without room for it (and the reserve), nothing is written and the body is let go', async () => {
    const dir = scratchDir('download-verified-');
    let body: Readable | null = null;
    const s3 = s3With(() => (body = Readable.from([bytes])));
    expect(await downloadVerified({ s3, bucket: 'b', key: 'k', sha256, file: path.join(dir, 'o.age'), reserveBytes: Number.MAX_SAFE_INTEGER })).toBeNull();
    expect(readdirSync(dir)).toEqual([]);
    expect(body!.destroyed).toBe(true);
  });
});

describe('verifyObject (the check without a file: the use downloads it again)', () => {
  // One chunk, then the connection drops on the next read.
  const dropped = () => {
    let reads = 0;
    return new Readable({
      read() {
        if (reads++ === 0) this.push(bytes.subarray(0, 1024));
        else this.destroy(Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', syscall: 'read' }));
      },
    });
  };

  it('reads the whole object and gives its size when its SHA-256 matches', async () => {
    expect(await verifyObject(s3With(() => Readable.from([bytes.subarray(0, 1000), bytes.subarray(1000)])), 'b', 'k', sha256)).toEqual({ bytes: bytes.length });
  });

  it('another object is BackupCorrupted; a connection dropped mid-stream is the object store failing', async () => {
    expect((await failure(verifyObject(s3With(() => Readable.from([Buffer.from('another object')])), 'b', 'k', sha256)))?.type).toBe('BackupCorrupted');
    const err = await failure(verifyObject(s3With(dropped), 'b', 'k', sha256));
    expect(err?.type).toBe('StorageUnavailable');
    expect(err?.message).toMatch(/ECONNRESET/);
  });
});

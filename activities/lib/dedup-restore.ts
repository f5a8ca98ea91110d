/**
 * Restoring a deduplicated point (dedup-files.ts): its index decrypted, its packs fetched and decrypted in
 * parallel, and the tar `tar -c` wrote rebuilt from the index's header blocks and the packs' pieces.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { failure } from '../../lib/clients/errors';
import { ID_BYTES, type FilesIndex } from './dedup-files';
import { decryptObjectTo } from './encrypted-download';
import { dataPadding, END_OF_ARCHIVE } from './tar-entries';

/** Parses a decrypted pack and writes the wanted pieces to a file, recording where each one is. */
function packStager(file: FileHandle, wanted: Set<string>, found: Map<string, { file: FileHandle; at: number; len: number }>): Writable {
  let buf: Buffer = Buffer.alloc(0);
  let at = 0;
  let current: { id: string; left: number; keep: boolean } | null = null;
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      void (async () => {
        buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
        for (;;) {
          if (!current) {
            if (buf.length < ID_BYTES + 4) break;
            const id = buf.subarray(0, ID_BYTES).toString('hex');
            const len = buf.readUInt32BE(ID_BYTES);
            buf = buf.subarray(ID_BYTES + 4);
            const keep = wanted.has(id) && !found.has(id);
            if (keep) found.set(id, { file, at, len });
            current = { id, left: len, keep };
          }
          if (current.left > 0 && buf.length === 0) break;
          const take = buf.subarray(0, Math.min(current.left, buf.length));
          buf = buf.subarray(take.length);
          if (current.keep && take.length) {
            await file.write(take, 0, take.length, at);
            at += take.length;
          }
          current.left -= take.length;
          if (current.left === 0) current = null;
        }
      })().then(() => cb(), cb);
    },
    final(cb) {
      cb(current || buf.length ? failure('BackupCorrupted', 'a pack ends inside a piece') : null);
    },
  });
}

export interface DedupRestoreOptions {
  s3: S3Client;
  bucket: string;
  /** The manifest's files.key and sha256. */
  indexKey: string;
  indexSha256: string;
  identityFile: string;
  /** Where the rebuilt tar goes (a remote `tar -x`'s stdin). */
  sink: Writable;
  sinkExit?: Promise<void>;
  signal?: AbortSignal;
  /** Packs fetched and decrypted at once (default 4: each is an age and a zstd process). */
  concurrency?: number;
  onPhase?: (phase: string, packsDone: number) => void;
}

/**
 * Restores a deduplicated point into `sink` as a tar: the index is decrypted, the packs it names are fetched and
 * decrypted in parallel (each checked against its SHA-256), their wanted pieces staged on the restore worker's
 * disk (a private temporary folder, removed after), and the tar is rebuilt in the index's order meanwhile, each
 * entry as soon as the packs of its pieces are in. A bad pack fails the restore (the staging folder being
 * extracted into is then never swapped in).
 */
export async function restoreDeduplicated(o: DedupRestoreOptions): Promise<{ entries: number; packs: number }> {
  const chunks: Buffer[] = [];
  await decryptObjectTo({
    s3: o.s3,
    bucket: o.bucket,
    key: o.indexKey,
    sha256: o.indexSha256,
    identityFile: o.identityFile,
    signal: o.signal,
    sink: new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  });
  const index = JSON.parse(Buffer.concat(chunks).toString('utf8')) as FilesIndex;
  if (index.format !== 'drover-dedup-files' || index.version !== 1) throw failure('BackupCorrupted', `${o.indexKey} is not a deduplicated files index`);

  const tmp = mkdtempSync(path.join(os.tmpdir(), 'drover-restore-pieces-'));
  const files: FileHandle[] = [];
  try {
    const wantedByPack = index.packs.map(() => new Set<string>());
    for (const [id, pack] of index.pieces) wantedByPack[pack].add(id);
    const found = new Map<string, { file: FileHandle; at: number; len: number }>();
    // A pack's pieces are used once the whole pack is staged and its SHA-256 checked; the tar is written meanwhile,
    // entry by entry, as the packs it needs arrive (fetched in the order the index first needs them).
    const ready = index.packs.map(() => {
      let settle!: { resolve: () => void; reject: (e: unknown) => void };
      const promise = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      promise.catch(() => undefined);
      return { promise, ...settle, settled: false };
    });
    const order = [...new Set([...index.entries.flatMap((e) => e.p.map((p) => index.pieces[p][1])), ...index.packs.keys()])];
    let next = 0;
    let done = 0;
    let failed: unknown = null;
    const worker = async () => {
      while (next < order.length && !failed) {
        const i = order[next++];
        const pack = index.packs[i];
        try {
          const file = await open(path.join(tmp, String(i)), 'w+', 0o600);
          files.push(file);
          await decryptObjectTo({ s3: o.s3, bucket: o.bucket, key: pack.key, sha256: pack.sha256, identityFile: o.identityFile, signal: o.signal, sink: packStager(file, wantedByPack[i], found) });
          const missing = [...wantedByPack[i]].filter((id) => !found.has(id));
          if (missing.length) throw failure('BackupCorrupted', `${pack.key} lacks ${missing.length} pieces the index ${o.indexKey} names (first ${missing[0].slice(0, 16)}…)`);
          Object.assign(ready[i], { settled: true }).resolve();
          o.onPhase?.('fetch packs, extract', ++done);
        } catch (err) {
          failed ??= err;
          // Whatever the tar is waiting for fails too: nothing hangs on a pack no worker will fetch.
          for (const r of ready) if (!r.settled) Object.assign(r, { settled: true }).reject(failed);
          throw err;
        }
      }
    };
    const fetching = Promise.all(Array.from({ length: Math.min(o.concurrency ?? 4, index.packs.length) }, worker));
    fetching.catch(() => undefined);

    // Small entries are gathered into writes of ~1 MiB: a docroot is mostly files of a few KiB.
    const tar = async function* () {
      let out: Buffer[] = [];
      let outBytes = 0;
      const put = (b: Buffer) => {
        out.push(b);
        outBytes += b.length;
      };
      for (const e of index.entries) {
        put(Buffer.from(e.h, 'base64'));
        let size = 0;
        for (const p of e.p) {
          await ready[index.pieces[p][1]].promise;
          const where = found.get(index.pieces[p][0])!;
          const data = Buffer.alloc(where.len);
          await where.file.read(data, 0, where.len, where.at);
          size += where.len;
          put(data);
        }
        put(dataPadding(size));
        if (outBytes >= 1024 * 1024) {
          yield Buffer.concat(out);
          [out, outBytes] = [[], 0];
        }
      }
      put(END_OF_ARCHIVE);
      yield Buffer.concat(out);
    };
    try {
      await Promise.all([fetching, pipeline(Readable.from(tar()), o.sink), o.sinkExit ?? Promise.resolve()]);
    } catch (err) {
      // The extract failed: no worker starts another pack, and the ones running finish before the folder goes.
      failed ??= err;
      await fetching.catch(() => undefined);
      throw err;
    }
    return { entries: index.entries.length, packs: index.packs.length };
  } finally {
    await Promise.all(files.map((f) => f.close().catch(() => undefined)));
    rmSync(tmp, { recursive: true, force: true });
  }
}

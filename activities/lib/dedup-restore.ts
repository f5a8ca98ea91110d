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
import { abandonSink, decryptObjectTo } from './encrypted-download';
import { dataPadding, END_OF_ARCHIVE } from './tar-entries';

/** Where a staged piece is: in memory, or (past the memory budget) in its pack's file on the restore worker's disk. */
type Staged = { parts: Buffer[]; len: number } | { file: FileHandle; at: number; len: number };

/**
 * Parses a decrypted pack and stages the wanted pieces: in memory while `mem.held` stays within `mem.budget`, else
 * in the pack's file (opened only if needed), recording where each one is.
 */
function packStager(openFile: () => Promise<FileHandle>, wanted: Set<string>, found: Map<string, Staged>, mem: { held: number; budget: number }): Writable {
  // A record's head (piece ID and length) may straddle two chunks: only those few bytes are gathered. A piece held
  // in memory is kept as slices of the decrypted chunks it came in, not copied: every copy is another buffer
  // outside V8's heap, and their volume is what sets off V8's full collections (the restore's largest CPU cost
  // after the decryption itself). A slice keeps its whole chunk alive, so only a slice of at least half its chunk
  // is kept as it is and a smaller one is copied: what the pieces hold stays within twice the budget.
  const head = Buffer.alloc(ID_BYTES + 4);
  let headFilled = 0;
  let file: FileHandle | null = null;
  let at = 0;
  let current: { left: number; keep: null | Buffer[] | 'file' } | null = null;
  return new Writable({
    write(chunk: Buffer, _enc, cb) {
      void (async () => {
        let pos = 0;
        while (pos < chunk.length) {
          if (!current) {
            const n = Math.min(head.length - headFilled, chunk.length - pos);
            chunk.copy(head, headFilled, pos, pos + n);
            headFilled += n;
            pos += n;
            if (headFilled < head.length) break;
            headFilled = 0;
            const id = head.subarray(0, ID_BYTES).toString('hex');
            const len = head.readUInt32BE(ID_BYTES);
            current = { left: len, keep: null };
            if (wanted.has(id) && !found.has(id)) {
              if (mem.held + len <= mem.budget) {
                const piece = { parts: [] as Buffer[], len };
                mem.held += len;
                found.set(id, piece);
                current.keep = piece.parts;
              } else {
                file ??= await openFile();
                found.set(id, { file, at, len });
                current.keep = 'file';
              }
            }
            if (len === 0) current = null;
            continue;
          }
          const take = chunk.subarray(pos, pos + Math.min(current.left, chunk.length - pos));
          pos += take.length;
          const keep = current.keep;
          if (keep === 'file') {
            await file!.write(take, 0, take.length, at);
            at += take.length;
          } else if (keep && take.length) {
            keep.push(take.length * 2 >= chunk.length ? take : Buffer.from(take));
          }
          current.left -= take.length;
          if (current.left === 0) current = null;
        }
      })().then(() => cb(), cb);
    },
    final(cb) {
      cb(current || headFilled ? failure('BackupCorrupted', 'a pack ends inside a piece') : null);
    },
  });
}

/**
 * A write's buffers as the tar stream gets them: runs of small ones (headers, padding, small files' pieces) joined,
 * the others (16 KiB or more: the slices of the decrypted stream a large piece is held in) passed as they are
 * instead of copied into the join.
 */
function* joinSmall(list: Buffer[]): Generator<Buffer> {
  let small: Buffer[] = [];
  let n = 0;
  for (const b of list) {
    if (b.length < 16 * 1024) {
      small.push(b);
      n += b.length;
      continue;
    }
    if (small.length) yield Buffer.concat(small, n);
    [small, n] = [[], 0];
    yield b;
  }
  if (small.length) yield Buffer.concat(small, n);
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
  /** Bytes of pieces held in memory at most (default 128 MiB); pieces beyond it are staged on disk. */
  memoryBudgetBytes?: number;
  onPhase?: (phase: string, packsDone: number) => void;
}

/**
 * Restores a deduplicated point into `sink` as a tar: the index is decrypted, the packs it names are fetched and
 * decrypted in parallel (each checked against its SHA-256), and the tar is rebuilt in the index's order meanwhile,
 * each entry as soon as the packs of its pieces are in. Packs are fetched in the order the tar first needs them
 * and at most a few packs ahead of the one it waits for, so the wanted pieces are mostly held in memory (within
 * `memoryBudgetBytes`) and dropped once their last use is written; only pieces beyond the budget are staged on
 * the restore worker's disk (a private temporary folder, removed after). A bad pack fails the restore (the
 * staging folder being extracted into is then never swapped in).
 */
export async function restoreDeduplicated(o: DedupRestoreOptions): Promise<{ entries: number; packs: number }> {
  try {
    return await rebuild(o);
  } catch (err) {
    // Whatever failed (the index, a pack, the extract), the sink's consumer (a remote tar) is not left waiting on
    // its stdin, and its exit, awaited or not by then, is never an unhandled rejection.
    abandonSink(o);
    throw err;
  }
}

async function rebuild(o: DedupRestoreOptions): Promise<{ entries: number; packs: number }> {
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

  let tmp: string | null = null;
  const files: FileHandle[] = [];
  try {
    const wantedByPack = index.packs.map(() => new Set<string>());
    for (const [id, pack] of index.pieces) wantedByPack[pack].add(id);
    // How many times the tar still uses each piece (a file stored twice uses its pieces twice).
    const uses = new Map<string, number>();
    for (const e of index.entries) for (const p of e.p) uses.set(index.pieces[p][0], (uses.get(index.pieces[p][0]) ?? 0) + 1);
    const found = new Map<string, Staged>();
    const mem = { held: 0, budget: o.memoryBudgetBytes ?? 128 * 1024 * 1024 };
    const openFile = async (i: number) => {
      tmp ??= mkdtempSync(path.join(os.tmpdir(), 'drover-restore-pieces-'));
      const file = await open(path.join(tmp, String(i)), 'w+', 0o600);
      files.push(file);
      return file;
    };
    // A pack's pieces are used once the whole pack is staged and its SHA-256 checked.
    const ready = index.packs.map(() => {
      let settle!: { resolve: () => void; reject: (e: unknown) => void };
      const promise = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      promise.catch(() => undefined);
      return { promise, ...settle, settled: false };
    });
    const order = [...new Set([...index.entries.flatMap((e) => e.p.map((p) => index.pieces[p][1])), ...index.packs.keys()])];
    const position = new Map(order.map((pack, at) => [pack, at]));
    const concurrency = Math.min(o.concurrency ?? 4, index.packs.length);
    // The fetch window: a worker starts the pack at `order[next]` only while it is fewer than `ahead` packs past
    // the one the tar waits for (always inside the window, so the tar never waits on a pack nobody may fetch).
    const ahead = concurrency * 3;
    let needed = 0;
    let waiting: (() => void)[] = [];
    const windowMoved = () => new Promise<void>((resolve) => waiting.push(resolve));
    const wake = () => {
      const w = waiting;
      waiting = [];
      for (const resolve of w) resolve();
    };
    let next = 0;
    let done = 0;
    let failed: unknown = null;
    const worker = async () => {
      while (next < order.length && !failed) {
        if (next >= needed + ahead) {
          await windowMoved();
          continue;
        }
        const i = order[next++];
        const pack = index.packs[i];
        try {
          await decryptObjectTo({ s3: o.s3, bucket: o.bucket, key: pack.key, sha256: pack.sha256, identityFile: o.identityFile, signal: o.signal, sink: packStager(() => openFile(i), wantedByPack[i], found, mem) });
          const missing = [...wantedByPack[i]].filter((id) => !found.has(id));
          if (missing.length) throw failure('BackupCorrupted', `${pack.key} lacks ${missing.length} pieces the index ${o.indexKey} names (first ${missing[0].slice(0, 16)}…)`);
          Object.assign(ready[i], { settled: true }).resolve();
          o.onPhase?.('fetch packs, extract', ++done);
        } catch (err) {
          failed ??= err;
          // Whatever the tar is waiting for fails too: nothing hangs on a pack no worker will fetch.
          for (const r of ready) if (!r.settled) Object.assign(r, { settled: true }).reject(failed);
          wake();
          throw err;
        }
      }
    };
    const fetching = Promise.all(Array.from({ length: concurrency }, worker));
    fetching.catch(() => undefined);
    const need = async (pack: number) => {
      const at = position.get(pack)!;
      if (at > needed) {
        needed = at;
        wake();
      }
      await ready[pack].promise;
    };

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
          const [id, pack] = index.pieces[p];
          await need(pack);
          const where = found.get(id)!;
          const left = uses.get(id)! - 1;
          uses.set(id, left);
          if ('parts' in where) {
            for (const part of where.parts) put(part);
            // Its last use: the memory goes back to the budget once this write is out.
            if (left === 0) {
              found.delete(id);
              mem.held -= where.len;
            }
          } else {
            const data = Buffer.allocUnsafe(where.len);
            await where.file.read(data, 0, where.len, where.at);
            put(data);
          }
          size += where.len;
        }
        put(dataPadding(size));
        if (outBytes >= 1024 * 1024) {
          yield* joinSmall(out);
          [out, outBytes] = [[], 0];
        }
      }
      put(END_OF_ARCHIVE);
      // Packs no entry needs (if any) are still fetched and checked: the window opens to the end.
      needed = order.length;
      wake();
      yield* joinSmall(out);
    };
    try {
      await Promise.all([fetching, pipeline(Readable.from(tar()), o.sink), o.sinkExit ?? Promise.resolve()]);
    } catch (err) {
      // The extract failed: no worker starts another pack, and the ones running finish before the folder goes.
      failed ??= err;
      wake();
      await fetching.catch(() => undefined);
      throw err;
    }
    return { entries: index.entries.length, packs: index.packs.length };
  } finally {
    await Promise.all(files.map((f) => f.close().catch(() => undefined)));
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  }
}

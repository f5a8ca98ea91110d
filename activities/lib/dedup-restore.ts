/**
 * Restoring a deduplicated point (dedup-files.ts): its index decrypted, its packs fetched and decrypted in
 * parallel, and the tar `tar -c` wrote rebuilt from the index's header blocks and the packs' pieces.
 */
import { rmSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { once } from 'node:events';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import type { S3Client } from '@aws-sdk/client-s3';
import { failure } from '../../lib/clients/errors';
import { ID_BYTES, type FilesIndex } from './dedup-files';
import { abandonSink, decryptObjectTo } from './encrypted-download';
import { packFetcherProgram, startPackFetcher } from './pack-fetch';
import { spoolFolder } from './restore-spool';
import { dataPadding, END_OF_ARCHIVE } from './tar-entries';

/** Where a wanted piece is: its pack's decrypted file, and where in it. */
interface Located {
  pack: number;
  at: number;
  len: number;
}

const HEAD = ID_BYTES + 4;

/**
 * Finds the wanted pieces in a decrypted pack file (records of a piece ID, a 4-byte length and the piece): only
 * the records' heads are parsed, read through `buf` (the caller's, reused), the pieces' bytes are skipped.
 */
async function locatePieces(file: FileHandle, key: string, pack: number, wanted: Set<string>, found: Map<string, Located>, buf: Buffer): Promise<void> {
  const { size } = await file.stat();
  let [bufAt, bufLen, pos] = [0, 0, 0];
  while (pos < size) {
    if (pos + HEAD > bufAt + bufLen) {
      bufAt = pos;
      bufLen = (await file.read(buf, 0, buf.length, pos)).bytesRead;
      if (bufLen < HEAD) break;
    }
    const o = pos - bufAt;
    const id = buf.toString('hex', o, o + ID_BYTES);
    const len = buf.readUInt32BE(o + ID_BYTES);
    if (wanted.has(id) && !found.has(id)) found.set(id, { pack, at: pos + HEAD, len });
    pos += HEAD + len;
  }
  if (pos !== size) throw failure('BackupCorrupted', `${key}: the pack ends inside a piece`);
}

/** Reads exactly `len` bytes at `at` into `into` from `offset`. */
async function readExactly(file: FileHandle, into: Buffer, offset: number, len: number, at: number): Promise<void> {
  for (let done = 0; done < len; ) {
    const { bytesRead } = await file.read(into, offset + done, len - done, at + done);
    if (bytesRead === 0) throw failure('BackupCorrupted', 'a pack file ends inside a piece');
    done += bytesRead;
  }
}

/** The size of the writes the rebuilt tar is gathered into (a docroot is mostly files of a few KiB). */
const BATCH = 1024 * 1024;

/**
 * Writes every chunk into `sink` (waiting for it to drain), then ends it; `taken(chunk)` once the sink is done
 * with a chunk (its write's callback). Fails as soon as the sink errs or closes before it finished.
 */
async function writeAll(chunks: AsyncIterable<Buffer>, sink: Writable, taken: (chunk: Buffer) => void): Promise<void> {
  const ended = finished(sink, { readable: false });
  ended.catch(() => undefined);
  for await (const chunk of chunks) {
    if (sink.write(chunk, (err) => err || taken(chunk))) continue;
    const drained = once(sink, 'drain');
    drained.catch(() => undefined);
    await Promise.race([drained, ended]);
  }
  sink.end();
  await ended;
}

export interface DedupRestoreOptions {
  s3: S3Client;
  bucket: string;
  /** The manifest's files.key and sha256. */
  indexKey: string;
  indexSha256: string;
  /** The index as already downloaded and checked (encrypted-download.ts withVerifiedObject): read from there. */
  indexFile?: string;
  identityFile: string;
  /** Where the rebuilt tar goes (a remote `tar -x`'s stdin). */
  sink: Writable;
  sinkExit?: Promise<void>;
  signal?: AbortSignal;
  /** Packs fetched and decrypted at once (default 8). */
  concurrency?: number;
  onPhase?: (phase: string, packsDone: number) => void;
  /** Bytes of the rebuilt tar the sink has taken so far, as it takes them. */
  onBytes?: (bytes: number) => void;
}

/**
 * Restores a deduplicated point into `sink` as a tar: the index is decrypted, the packs it names are fetched,
 * checked against their SHA-256 and decrypted in parallel into files on the restore worker's disk (pack-fetch.ts:
 * their bytes never pass through Node), and the tar is rebuilt in the index's order meanwhile, each entry as soon
 * as the packs of its pieces are in, its pieces read from those files. Packs are fetched in the order the tar
 * first needs them and at most a few packs ahead of the one it waits for, and each pack's file is removed once its
 * last piece is written, so the disk holds a window of packs, not the site (a private temporary folder, removed
 * after). A bad pack fails the restore (the staging folder being extracted into is then never swapped in).
 */
export async function restoreDeduplicated(o: DedupRestoreOptions): Promise<{ entries: number; packs: number; bytes: number }> {
  try {
    return await rebuild(o);
  } catch (err) {
    // Whatever failed (the index, a pack, the extract), the sink's consumer (a remote tar) is not left waiting on
    // its stdin, and its exit, awaited or not by then, is never an unhandled rejection.
    abandonSink(o);
    throw err;
  }
}

async function rebuild(o: DedupRestoreOptions): Promise<{ entries: number; packs: number; bytes: number }> {
  // A worker without the fetcher fails before the index is downloaded or a folder made.
  const program = packFetcherProgram();
  const chunks: Buffer[] = [];
  await decryptObjectTo({
    s3: o.s3,
    bucket: o.bucket,
    key: o.indexKey,
    sha256: o.indexSha256,
    file: o.indexFile,
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

  const tmp = spoolFolder('packs');
  const files = new Map<number, FileHandle>();
  const fetcher = startPackFetcher({ s3: o.s3, bucket: o.bucket, identityFile: o.identityFile, dir: tmp, signal: o.signal, program });
  try {
    const wantedByPack = index.packs.map(() => new Set<string>());
    for (const [id, pack] of index.pieces) wantedByPack[pack].add(id);
    // How many times the tar still reads from each pack (a file stored twice reads its pieces twice): its file is
    // removed at zero.
    const readsLeft = index.packs.map(() => 0);
    for (const e of index.entries) for (const p of e.p) readsLeft[index.pieces[p][1]]++;
    const packFile = (i: number) => path.join(tmp, String(i));
    const dropPack = async (i: number) => {
      const f = files.get(i);
      files.delete(i);
      await f?.close();
      rmSync(packFile(i), { force: true });
    };
    const found = new Map<string, Located>();
    // A pack's pieces are used once the whole pack is decrypted, its SHA-256 checked and its pieces located.
    const ready = index.packs.map(() => {
      let settle!: { resolve: () => void; reject: (e: unknown) => void };
      const promise = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      promise.catch(() => undefined);
      return { promise, ...settle, settled: false };
    });
    const order = [...new Set([...index.entries.flatMap((e) => e.p.map((p) => index.pieces[p][1])), ...index.packs.keys()])];
    const position = new Map(order.map((pack, at) => [pack, at]));
    const concurrency = Math.max(1, Math.min(o.concurrency ?? 8, index.packs.length));
    // The fetch window: a worker starts the pack at `order[next]` only while it is fewer than `ahead` packs past
    // the one the tar waits for (always inside the window, so the tar never waits on a pack nobody may fetch).
    const ahead = concurrency * 2;
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
      const scan = Buffer.allocUnsafe(256 * 1024);
      while (next < order.length && !failed) {
        // The next pack inside the window, else wait for it to move (the tar's pack is always inside).
        if (next >= needed + ahead) {
          await windowMoved();
          continue;
        }
        const i = order[next++];
        const pack = index.packs[i];
        try {
          await fetcher.fetch({ key: pack.key, sha256: pack.sha256, name: String(i) });
          const file = await open(packFile(i), 'r');
          files.set(i, file);
          await locatePieces(file, pack.key, i, wantedByPack[i], found, scan);
          const missing = [...wantedByPack[i]].filter((id) => !found.has(id));
          if (missing.length) throw failure('BackupCorrupted', `${pack.key} lacks ${missing.length} pieces the index ${o.indexKey} names (first ${missing[0].slice(0, 16)}…)`);
          // A pack no entry reads (if any) was fetched to be checked only.
          if (readsLeft[i] === 0) await dropPack(i);
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
    const workers = Array.from({ length: concurrency }, worker);
    const fetching = Promise.all(workers);
    fetching.catch(() => undefined);
    const need = async (pack: number) => {
      const at = position.get(pack)!;
      if (at > needed) {
        needed = at;
        wake();
      }
      await ready[pack].promise;
    };

    // Entries are gathered into writes of BATCH bytes, header blocks copied and pieces read straight into them (a
    // piece longer than the room left spans batches). A batch the sink has taken (its write's callback: the SSH
    // channel has copied it into its packets) is used again: a fresh megabyte per write cost the worker a page fault
    // per page, and its unmapping.
    const spare: Buffer[] = [];
    const batches = new WeakSet<ArrayBufferLike>();
    const newBatch = () => {
      const b = spare.pop() ?? Buffer.allocUnsafeSlow(BATCH);
      batches.add(b.buffer);
      return b;
    };
    const written = (chunk: Buffer) => {
      if (batches.has(chunk.buffer) && spare.length < 8) spare.push(Buffer.from(chunk.buffer, 0, BATCH));
    };
    const tar = async function* () {
      let batch = newBatch();
      let fill = 0;
      const take = () => {
        const out = batch.subarray(0, fill);
        [batch, fill] = [newBatch(), 0];
        return out;
      };
      for (const e of index.entries) {
        const header = Buffer.from(e.h, 'base64');
        if (header.length > BATCH) {
          // Header blocks past the batch (long pax records): a write of their own.
          if (fill) yield take();
          yield header;
        } else {
          if (fill + header.length > BATCH) yield take();
          fill += header.copy(batch, fill);
        }
        let size = 0;
        for (const p of e.p) {
          const [id, pack] = index.pieces[p];
          await need(pack);
          const where = found.get(id)!;
          const file = files.get(pack)!;
          for (let at = where.at, left = where.len; left > 0; ) {
            if (fill === BATCH) yield take();
            const n = Math.min(left, BATCH - fill);
            await readExactly(file, batch, fill, n, at);
            [fill, at, left] = [fill + n, at + n, left - n];
          }
          if (--readsLeft[pack] === 0) await dropPack(pack);
          size += where.len;
        }
        const pad = dataPadding(size);
        if (fill + pad.length > BATCH) yield take();
        fill += pad.copy(batch, fill);
      }
      if (fill + END_OF_ARCHIVE.length > BATCH) yield take();
      fill += END_OF_ARCHIVE.copy(batch, fill);
      // Packs no entry needs (if any) are still fetched and checked: the window opens to the end.
      needed = order.length;
      wake();
      yield take();
    };
    try {
      await Promise.all([fetching, writeAll(tar(), o.sink, (chunk) => (written(chunk), o.onBytes?.(chunk.length))), o.sinkExit ?? Promise.resolve()]);
    } catch (err) {
      // A pack or the extract failed: no worker starts another pack, the fetches running are killed, and every
      // worker has stopped (none still opening a pack's file) before the files are closed and the folder goes.
      failed ??= err;
      wake();
      await fetcher.close();
      await Promise.allSettled(workers);
      throw err;
    }
    // Stored bytes read: the packs (each fetched once), the index besides.
    return { entries: index.entries.length, packs: index.packs.length, bytes: index.packs.reduce((a, p) => a + p.bytes, 0) };
  } finally {
    // Its processes gone before the folder goes: none still writing into it.
    await fetcher.close();
    await Promise.all([...files.values()].map((f) => f.close().catch(() => undefined)));
    rmSync(tmp, { recursive: true, force: true });
  }
}

/**
 * Deduplicated, public-key encrypted file backups (issue 19). A night reads the site's tar stream as today, cuts
 * it into entries (tar-entries.ts) and each regular file's data into pieces of at most PIECE_BYTES, named by a
 * keyed hash (HMAC-SHA256 under the dedup key, which decrypts nothing). A piece some point of the site already
 * stored is referred to, not stored again; new pieces go into packs (zstd, then age to the public recipients,
 * ~PACK_BYTES each, so small files are not one object each). The point's index (every entry's tar header blocks
 * and the pieces of its data, and which pack holds each piece) is encrypted like the rest; restoring it needs the
 * age identity only, and nothing of any other point. The point's refs (packs and the pieces in them) are written
 * encrypted under a key derived from the dedup key: the next night reads them to know what exists, the
 * collection to know what is referenced. Restoring is dedup-restore.ts.
 */
import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';
import { PassThrough, Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ApplicationFailure } from '@temporalio/common';
import { DeleteObjectsCommand, GetObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { filesIndexKey, packKey, packsPrefix, pointRefsPrefix, refsPrefix } from '../../lib/backup-layout';
import { classifyStorageError, failure } from '../../lib/clients/errors';
import { listAll } from '../../lib/restore-points';
import { attemptKey, uploadEncrypted, type EncryptedUploadResult } from './encrypted-upload';
import { faultPoint } from './fault-points';
import { tarEntries } from './tar-entries';

/** Pieces of a file are at most this long: a changed large file stores only its changed pieces again. */
export const PIECE_BYTES = 4 * 1024 * 1024;
/** A pack is closed and uploaded once its pieces reach this many bytes. */
export const PACK_BYTES = 8 * 1024 * 1024;
/** Bytes of a piece's id in a pack record (then 4 bytes of length, then the piece). */
export const ID_BYTES = 32;

export interface PackRef {
  key: string;
  sha256: string;
  /** Ciphertext bytes as stored. */
  bytes: number;
  /** Every piece in the pack (hex ids), whether or not this point uses it. */
  pieces: string[];
}

/** The decrypted index of a deduplicated point. */
export interface FilesIndex {
  format: 'drover-dedup-files';
  version: 1;
  site: string;
  point: string;
  /** Entries in tar order: header blocks (base64) and the pieces of the data (indexes into `pieces`). */
  entries: { h: string; p: number[] }[];
  /** [id hex, index into `packs`, plain length]. */
  pieces: [string, number, number][];
  packs: { key: string; sha256: string; bytes: number }[];
}

/** `key` and `sha256` are the index object's; `bytes` counts the index and every pack the point uses. */
export interface DedupArchiveResult extends EncryptedUploadResult {
  /** Ciphertext bytes uploaded this night: new packs and the index. */
  storedBytes: number;
  newPacks: number;
  newPieces: number;
  reusedPieces: number;
  entries: number;
}

export function pieceId(macKey: Buffer, data: Buffer): string {
  return createHmac('sha256', macKey).update(data).digest('hex');
}

/** The refs' symmetric key: derived from the dedup key, so the backup workers can read refs and nothing else. */
function refsKey(macKey: Buffer): Buffer {
  return createHmac('sha256', macKey).update('drover refs v1').digest();
}

export function sealRefs(macKey: Buffer, refs: { point: string; packs: PackRef[] }): Buffer {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', refsKey(macKey), iv);
  const body = Buffer.concat([c.update(JSON.stringify(refs)), c.final()]);
  return Buffer.concat([Buffer.from('drover-refs-v1\n'), iv, c.getAuthTag(), body]);
}

export function openRefs(macKey: Buffer, sealed: Buffer, where: string): { point: string; packs: PackRef[] } {
  const magic = Buffer.from('drover-refs-v1\n');
  if (!sealed.subarray(0, magic.length).equals(magic)) throw failure('BackupCorrupted', `${where} is not a refs object`);
  const rest = sealed.subarray(magic.length);
  try {
    const d = createDecipheriv('aes-256-gcm', refsKey(macKey), rest.subarray(0, 12));
    d.setAuthTag(rest.subarray(12, 28));
    return JSON.parse(Buffer.concat([d.update(rest.subarray(28)), d.final()]).toString('utf8')) as { point: string; packs: PackRef[] };
  } catch (err) {
    throw failure('DecryptionFailed', `${where}: refs do not open with this worker's dedup key (${(err as Error).message})`);
  }
}

async function getBytes(s3: S3Client, bucket: string, key: string): Promise<Buffer> {
  try {
    const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await got.Body!.transformToByteArray());
  } catch (err) {
    throw classifyStorageError(err, `s3://${bucket}/${key}`);
  }
}

/**
 * Every refs object of a site (of every point, complete or not), opened. With `skipSealedElsewhere`, refs that do
 * not open with this key (sealed under an earlier dedup key) count as empty: a night then stores anew what they
 * name, which is safe; collection never skips them.
 */
export async function readSiteRefs(s3: S3Client, bucket: string, site: string, macKey: Buffer, skipSealedElsewhere = false): Promise<{ key: string; packs: PackRef[] }[]> {
  const listed = await listAll(s3, bucket, refsPrefix(site)).catch((err: unknown) => {
    throw classifyStorageError(err, refsPrefix(site));
  });
  const out: { key: string; packs: PackRef[] }[] = [];
  for (let i = 0; i < listed.length; i += 16) {
    const batch = listed.slice(i, i + 16);
    const open = async (key: string) => {
      try {
        return openRefs(macKey, await getBytes(s3, bucket, key), key).packs;
      } catch (err) {
        if (skipSealedElsewhere && err instanceof ApplicationFailure && err.type === 'DecryptionFailed') return [];
        throw err;
      }
    };
    out.push(...(await Promise.all(batch.map(async (o) => ({ key: o.key, packs: await open(o.key) })))));
  }
  return out;
}

export interface DedupArchiveOptions {
  s3: S3Client;
  bucket: string;
  site: string;
  point: string;
  recipients: string[];
  macKey: Buffer;
  /** The tar stream (`tar -cf - .` on the storage node). */
  source: Readable;
  sourceExit?: Promise<void>;
  signal?: AbortSignal;
  /** Called with the tar bytes read so far (heartbeats). */
  onProgress?: (plainBytes: number) => void;
  pieceBytes?: number;
  packBytes?: number;
}

/**
 * Stores a point's files deduplicated against every piece the site's refs name. Returns the index object (as an
 * upload result: the manifest's `files`) and what was stored. Uploads at most two packs at a time while reading on.
 */
export async function archiveDeduplicated(o: DedupArchiveOptions): Promise<DedupArchiveResult> {
  const pieceBytes = o.pieceBytes ?? PIECE_BYTES;
  const packBytes = o.packBytes ?? PACK_BYTES;
  // Read from now on, before the first await (see uploadEncrypted: a finished child's unread output is lost).
  const source = new PassThrough({ highWaterMark: 1024 * 1024 });
  pipeline(o.source, source).catch((err: unknown) => source.destroy(err as Error));
  const known = new Map<string, PackRef>();
  for (const r of await readSiteRefs(o.s3, o.bucket, o.site, o.macKey, true)) for (const p of r.packs) for (const id of p.pieces) known.set(id, p);

  const packs: PackRef[] = [];
  const packIndex = new Map<string, number>();
  const pieces: [string, number, number][] = [];
  const pieceIndex = new Map<string, number>();
  const entries: FilesIndex['entries'] = [];
  const stats = { storedBytes: 0, newPacks: 0, newPieces: 0, reusedPieces: 0 };
  let current: { ref: PackRef; records: Buffer[]; bytes: number } | null = null;
  const inFlight = new Set<Promise<void>>();
  let uploadError: unknown = null;
  let plainBytes = 0;
  let firstByteAt = '';

  const usePack = (ref: PackRef): number => {
    let i = packIndex.get(ref.key);
    if (i === undefined) {
      i = packs.push(ref) - 1;
      packIndex.set(ref.key, i);
    }
    return i;
  };

  async function flush(): Promise<void> {
    if (!current) return;
    const { ref, records } = current;
    current = null;
    while (inFlight.size >= 2) await Promise.race(inFlight);
    if (uploadError) throw uploadError;
    const p = uploadEncrypted({ s3: o.s3, bucket: o.bucket, key: ref.key, exactKey: true, source: Readable.from(records), recipients: o.recipients, signal: o.signal })
      .then((r) => {
        Object.assign(ref, { sha256: r.sha256, bytes: r.bytes });
        stats.storedBytes += r.bytes;
        stats.newPacks++;
        faultPoint('archiveDeduplicated:pack-stored');
      })
      .catch((err: unknown) => void (uploadError ??= err))
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  }

  async function addPiece(data: Buffer): Promise<number> {
    const id = pieceId(o.macKey, data);
    const seen = pieceIndex.get(id);
    if (seen !== undefined) return seen;
    const stored = known.get(id);
    let pack: number;
    if (stored) {
      pack = usePack(stored);
      stats.reusedPieces++;
    } else {
      current ??= { ref: { key: packKey(o.site, randomBytes(12).toString('hex')), sha256: '', bytes: 0, pieces: [] }, records: [], bytes: 0 };
      const head = Buffer.alloc(ID_BYTES + 4);
      Buffer.from(id, 'hex').copy(head);
      head.writeUInt32BE(data.length, ID_BYTES);
      current.records.push(head, data);
      current.bytes += data.length;
      current.ref.pieces.push(id);
      pack = usePack(current.ref);
      known.set(id, current.ref);
      stats.newPieces++;
      if (current.bytes >= packBytes) await flush();
    }
    const i = pieces.push([id, pack, data.length]) - 1;
    pieceIndex.set(id, i);
    return i;
  }

  let entry: { p: number[] } | null = null;
  let piece: Buffer[] = [];
  let pieceLen = 0;
  const endPiece = async () => {
    if (pieceLen > 0) entry!.p.push(await addPiece(Buffer.concat(piece, pieceLen)));
    piece = [];
    pieceLen = 0;
  };
  const counted = async function* () {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      if (!firstByteAt && chunk.length) firstByteAt = new Date().toISOString();
      plainBytes += chunk.length;
      o.onProgress?.(plainBytes);
      yield chunk;
    }
  };
  try {
    const reading = (async () => {
      for await (const ev of tarEntries(counted())) {
        if (uploadError) throw uploadError;
        if (ev.kind === 'entry') {
          if (entry) await endPiece();
          entry = { p: [] };
          entries.push({ h: ev.header.toString('base64'), p: entry.p });
          continue;
        }
        let chunk = ev.chunk;
        while (chunk.length) {
          const take = chunk.subarray(0, pieceBytes - pieceLen);
          piece.push(Buffer.from(take));
          pieceLen += take.length;
          chunk = chunk.subarray(take.length);
          if (pieceLen === pieceBytes) await endPiece();
        }
      }
      if (entry) await endPiece();
    })();
    await Promise.all([reading, o.sourceExit ?? Promise.resolve()]);
    await flush();
    await Promise.all(inFlight);
    if (uploadError) throw uploadError;
  } catch (err) {
    o.source.destroy();
    await Promise.allSettled(inFlight);
    throw err instanceof Error && !('type' in err) ? failure('RemoteCommandFailed', `files of ${o.site}: ${err.message}`, { cause: err }) : err;
  }
  const finishedAt = new Date().toISOString();

  const index: FilesIndex = { format: 'drover-dedup-files', version: 1, site: o.site, point: o.point, entries, pieces, packs: packs.map(({ key, sha256, bytes }) => ({ key, sha256, bytes })) };
  const indexKey = attemptKey(filesIndexKey(o.site, o.point));
  const uploaded = await uploadEncrypted({ s3: o.s3, bucket: o.bucket, key: indexKey, exactKey: true, source: Readable.from([Buffer.from(JSON.stringify(index))]), recipients: o.recipients, signal: o.signal });
  // The refs go last: until they are there, nothing refers to this night's packs but its lease.
  const tag = /files-index\.([0-9a-f]+)\./.exec(indexKey)![1];
  try {
    await o.s3.send(new PutObjectCommand({ Bucket: o.bucket, Key: `${pointRefsPrefix(o.site, o.point)}${tag}.refs`, Body: sealRefs(o.macKey, { point: o.point, packs }), ContentType: 'application/octet-stream' }));
  } catch (err) {
    throw classifyStorageError(err, pointRefsPrefix(o.site, o.point));
  }
  return {
    ...uploaded,
    // What restoring the point downloads (its index and every pack it uses): the manifest's `files.bytes`, so the
    // backup-size metrics and their alerts mean what they meant for tar points.
    bytes: uploaded.bytes + packs.reduce((n, p) => n + p.bytes, 0),
    plainBytes,
    firstByteAt: firstByteAt || finishedAt,
    finishedAt,
    storedBytes: stats.storedBytes + uploaded.bytes,
    newPacks: stats.newPacks,
    newPieces: stats.newPieces,
    reusedPieces: stats.reusedPieces,
    entries: entries.length,
  };
}

/**
 * Deletes the site's packs that no refs object names (any point's, complete or not). Call only under a collect
 * lease. Refs that do not open stop it before anything is deleted.
 */
export async function collectUnreferencedPacks(s3: S3Client, bucket: string, site: string, macKey: Buffer): Promise<{ deleted: string[]; kept: number }> {
  const referenced = new Set<string>();
  for (const r of await readSiteRefs(s3, bucket, site, macKey)) for (const p of r.packs) referenced.add(p.key);
  const stored = await listAll(s3, bucket, packsPrefix(site)).catch((err: unknown) => {
    throw classifyStorageError(err, packsPrefix(site));
  });
  const doomed = stored.map((s) => s.key).filter((k) => !referenced.has(k));
  try {
    for (let i = 0; i < doomed.length; i += 1000) await s3.send(new DeleteObjectsCommand({ Bucket: bucket, Delete: { Objects: doomed.slice(i, i + 1000).map((Key) => ({ Key })) } }));
  } catch (err) {
    throw classifyStorageError(err, packsPrefix(site));
  }
  return { deleted: doomed, kept: stored.length - doomed.length };
}

/**
 * A tar stream cut into entries, and put back together: what the deduplicated file format stores instead of a
 * whole archive. Each entry keeps its header blocks byte for byte (with any pax or GNU long-name blocks in front
 * of them), so the tar rebuilt at restore is the one `tar -c` wrote, less its data, which is stored as
 * deduplicated pieces. Modes, owners, mtimes, symlinks, hard links, empty directories and unicode names are all
 * in those header blocks: `tar -x` restores them as it restores today's archives.
 */
import type { Readable } from 'node:stream';

export const BLOCK = 512;

/** Typeflags of blocks that describe the next entry (pax, GNU long name/link): part of that entry's header. */
const META_TYPES = new Set(['x', 'g', 'L', 'K']);

export type TarEvent =
  /** An entry's header blocks (meta blocks included) and how many data bytes follow. */
  | { kind: 'entry'; header: Buffer; size: number }
  /** The next data bytes of the current entry (never past its size; padding is not included). */
  | { kind: 'data'; chunk: Buffer };

/** The size field of a header block: octal ASCII, or GNU's base-256 for sizes past 8 GiB. */
export function headerSize(block: Buffer): number {
  const field = block.subarray(124, 136);
  if (field[0] & 0x80) {
    let n = 0;
    for (let i = 1; i < field.length; i++) n = n * 256 + field[i];
    return n;
  }
  const text = field.toString('latin1').replace(/\0.*$/s, '').trim();
  return text ? parseInt(text, 8) : 0;
}

/** `size=` of a pax extended header's records, if any (a pax size overrides the header's). */
function paxSize(data: Buffer): number | null {
  const m = /(?:^|\n)\d+ size=(\d+)\n/.exec(data.toString('latin1'));
  return m ? Number(m[1]) : null;
}

function padding(size: number): number {
  return (BLOCK - (size % BLOCK)) % BLOCK;
}

/**
 * Reads a tar stream and yields its entries and their data in order. Stops at the end-of-archive block (the rest,
 * tar's zero padding, is drained). A stream that ends inside an entry is an error.
 */
export async function* tarEntries(source: AsyncIterable<Buffer> | Readable): AsyncGenerator<TarEvent> {
  let buf: Buffer = Buffer.alloc(0);
  let pending: Buffer[] = [];
  let pendingPaxSize: number | null = null;
  // Bytes of the current entry still to come (data), then of its padding to skip.
  let dataLeft = 0;
  let padLeft = 0;
  // A meta block's data is collected into `pending` instead of yielded.
  let metaData: Buffer[] | null = null;
  let metaType = '';
  let ended = false;
  for await (const chunk of source as AsyncIterable<Buffer>) {
    if (ended) continue;
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (dataLeft > 0) {
        if (buf.length === 0) break;
        const take = buf.subarray(0, Math.min(dataLeft, buf.length));
        buf = buf.subarray(take.length);
        dataLeft -= take.length;
        if (metaData) metaData.push(Buffer.from(take));
        else yield { kind: 'data', chunk: take };
        continue;
      }
      if (metaData) {
        const data = Buffer.concat(metaData);
        pending.push(data);
        if (metaType === 'x') pendingPaxSize = paxSize(data) ?? pendingPaxSize;
        metaData = null;
      }
      if (padLeft > 0) {
        const skip = Math.min(padLeft, buf.length);
        if (metaData === null && pending.length && skip) pending.push(Buffer.from(buf.subarray(0, skip)));
        buf = buf.subarray(skip);
        padLeft -= skip;
        if (padLeft > 0) break;
        continue;
      }
      if (buf.length < BLOCK) break;
      const block = buf.subarray(0, BLOCK);
      buf = buf.subarray(BLOCK);
      if (block.every((b) => b === 0)) {
        if (pending.length) throw new Error('tar stream ends after an extended header without its entry');
        ended = true;
        break;
      }
      const type = String.fromCharCode(block[156]);
      const size = headerSize(block);
      if (META_TYPES.has(type)) {
        pending.push(Buffer.from(block));
        metaData = [];
        metaType = type;
        dataLeft = size;
        padLeft = padding(size);
        if (size === 0) {
          metaData = null;
        }
        continue;
      }
      const entrySize = pendingPaxSize ?? size;
      const header = Buffer.concat([...pending, block]);
      pending = [];
      pendingPaxSize = null;
      yield { kind: 'entry', header, size: entrySize };
      dataLeft = entrySize;
      padLeft = padding(entrySize);
    }
  }
  if (!ended && (dataLeft > 0 || padLeft > 0 || pending.length || buf.length)) throw new Error('tar stream ended inside an entry');
}

/** The padding after `size` data bytes, and the end-of-archive (two zero blocks): for rebuilding a tar. */
export function dataPadding(size: number): Buffer {
  return Buffer.alloc(padding(size));
}

export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);

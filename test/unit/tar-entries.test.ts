/**
 * The deduplicated format stores a tar's entries (header blocks byte for byte) and data separately: cutting a real
 * GNU tar archive into entries and putting it back gives the same bytes, for pax and GNU long names, unicode,
 * symlinks, hard links, empty directories, empty files and files spanning many blocks.
 */
import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { openRefs, pieceId, sealRefs } from '../../activities/lib/dedup-files';
import { dataPadding, END_OF_ARCHIVE, headerSize, tarEntries } from '../../activities/lib/tar-entries';
import { scratchDir } from '../helpers/scratch';

function tree(): string {
  const dir = scratchDir('tar-entries-');
  mkdirSync(path.join(dir, 'wp-content/uploads/2024/empty'), { recursive: true });
  const long = `${'ünïcødé-'.repeat(20)}/${'x'.repeat(180)}.txt`;
  mkdirSync(path.join(dir, path.dirname(long)), { recursive: true });
  writeFileSync(path.join(dir, long), 'long name');
  writeFileSync(path.join(dir, 'café menu (final).txt'), 'menu');
  writeFileSync(path.join(dir, 'empty.txt'), '');
  writeFileSync(path.join(dir, 'big.bin'), Buffer.alloc(1_000_003, 7));
  symlinkSync('café menu (final).txt', path.join(dir, 'link-to-menu'));
  symlinkSync(`../${'t'.repeat(150)}`, path.join(dir, 'long-link-target'));
  linkSync(path.join(dir, 'big.bin'), path.join(dir, 'hard.bin'));
  utimesSync(path.join(dir, 'empty.txt'), new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
  return dir;
}

/** Splits `tar`, delivered in chunks of `chunk` bytes, and rebuilds it from the entries. */
async function roundTrip(tar: Buffer, chunk: number): Promise<{ rebuilt: Buffer; entries: number }> {
  const parts: Buffer[] = [];
  for (let i = 0; i < tar.length; i += chunk) parts.push(tar.subarray(i, i + chunk));
  const out: Buffer[] = [];
  let size = 0;
  let entries = 0;
  for await (const ev of tarEntries(Readable.from(parts))) {
    if (ev.kind === 'entry') {
      if (entries++) out.push(dataPadding(size));
      out.push(ev.header);
      size = 0;
    } else {
      out.push(ev.chunk);
      size += ev.chunk.length;
    }
  }
  out.push(dataPadding(size), END_OF_ARCHIVE);
  return { rebuilt: Buffer.concat(out), entries };
}

describe('tarEntries', () => {
  const dir = tree();
  for (const format of ['gnu', 'posix']) {
    it(`rebuilds a ${format} archive byte for byte, whatever the chunking`, async () => {
      const tar = execFileSync('tar', ['-C', dir, '--numeric-owner', `--format=${format}`, '-cf', '-', '.'], { maxBuffer: 64 * 1024 * 1024 });
      for (const chunk of [1, 511, 512, 4096, 1 << 20]) {
        if (chunk === 1 && tar.length > 2_000_000) continue;
        const { rebuilt, entries } = await roundTrip(tar, chunk === 1 ? 97 : chunk);
        expect(entries).toBe(execFileSync('tar', ['-tf', '-'], { input: tar }).toString().trim().split('\n').length);
        // tar -c pads to a 10 KiB record; what follows the end-of-archive blocks is zeros.
        expect(rebuilt.equals(tar.subarray(0, rebuilt.length))).toBe(true);
        expect(tar.subarray(rebuilt.length).every((b) => b === 0)).toBe(true);
      }
    });
  }

  it('reads base-256 sizes and refuses a truncated stream', async () => {
    const block = Buffer.alloc(512);
    block[124] = 0x80;
    block.writeUIntBE(9_000_000_000, 130, 6);
    expect(headerSize(block)).toBe(9_000_000_000);
    const tar = execFileSync('tar', ['-C', dir, '-cf', '-', 'big.bin']);
    await expect(roundTrip(tar.subarray(0, 700_000), 4096)).rejects.toThrow(/ended inside an entry/);
  });
});

describe('refs and piece ids', () => {
  it('refs open only with the dedup key they were sealed with; piece ids depend on the key', () => {
    const key = Buffer.alloc(32, 1);
    const refs = { point: '2026-11-20', packs: [{ key: 'sites/a/packs/x.pack.age', sha256: 'ab', bytes: 3, pieces: [pieceId(key, Buffer.from('hello'))] }] };
    const sealed = sealRefs(key, refs);
    expect(sealed.includes('packs/x')).toBe(false);
    expect(openRefs(key, sealed, 'r')).toEqual(refs);
    expect(() => openRefs(Buffer.alloc(32, 2), sealed, 'r')).toThrow(/do not open/);
    expect(pieceId(key, Buffer.from('hello'))).not.toBe(pieceId(Buffer.alloc(32, 2), Buffer.from('hello')));
  });
});

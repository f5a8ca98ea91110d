/**
 * The manifest is encrypted in process (uploadSmallEncrypted): its zstd frame and age ciphertext must read back
 * with the processes the restore runs, `age -d -i <identity> | zstd -d`.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Encrypter } from 'age-encryption';
import { describe, expect, it } from 'vitest';
import { zstdStoredFrame } from '../../activities/lib/encrypted-upload';
import { scratchDir } from '../helpers/scratch';

const dir = scratchDir('drover-age-');

function keypair(name: string): { identity: string; recipient: string } {
  const identity = path.join(dir, name);
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  return { identity, recipient: execFileSync('age-keygen', ['-y', identity]).toString().trim() };
}

describe('manifest encrypted in process', () => {
  it('zstd -d reads the stored frame back exactly: empty, unicode, several 128 KiB blocks', () => {
    const big = Buffer.alloc(300 * 1024 + 7);
    for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
    for (const data of [Buffer.alloc(0), Buffer.from('{"site":"ünïcode-日本-site"}'), Buffer.alloc(128 * 1024, 0x61), big]) {
      expect(execFileSync('zstd', ['-d', '-q', '-c'], { input: zstdStoredFrame(data) }).equals(data)).toBe(true);
    }
  });

  it('age -d | zstd -d (the restore) decrypts it with either of two recipients', async () => {
    const a = keypair('a.key');
    const b = keypair('b.key');
    const manifest = Buffer.from(JSON.stringify({ site: 'ünïcode-site', date: '2030-01-02', database: { key: 'x' } }, null, 2));
    const enc = new Encrypter();
    enc.addRecipient(a.recipient);
    enc.addRecipient(b.recipient);
    const ct = Buffer.from(await enc.encrypt(zstdStoredFrame(manifest)));
    expect(ct.includes(Buffer.from('ünïcode'))).toBe(false);
    for (const id of [a.identity, b.identity]) {
      const frame = execFileSync('age', ['-d', '-i', id], { input: ct });
      expect(execFileSync('zstd', ['-d', '-q', '-c'], { input: frame }).equals(manifest)).toBe(true);
    }
    expect(() => execFileSync('age', ['-d', '-i', keypair('c.key').identity], { input: ct, stdio: ['pipe', 'pipe', 'ignore'] })).toThrow();
    expect(readFileSync(a.identity, 'utf8')).toContain('AGE-SECRET-KEY-');
  });
});

/**
 * The payload codec on its own: a payload comes back exactly as it went in, sealed under the current key with a
 * fresh IV each time; an old key still opens what it sealed once a new key is current (rotation); plain payloads
 * pass through; a tampered or relabelled payload, or one sealed with a key this process lacks, is refused. Key
 * loading names the variable at fault.
 */
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { AesGcmPayloadCodec, ENCODING, loadCodecKeys, METADATA_KEY_ID, keyIdOfFile, parseKey } from '../../lib/payload-codec';
import { scratchDir } from '../helpers/scratch';

const dir = scratchDir('codec-keys-');
function keyFile(id: string, content: string | Buffer = randomBytes(32).toString('base64') + '\n'): string {
  const f = path.join(dir, `drover_codec_key_${id}`);
  writeFileSync(f, content);
  return f;
}
const text = (b?: Uint8Array | null) => Buffer.from(b ?? []).toString('utf8');
const site = 'ünïcode-shop.example.com';
const plain = (): Payload => defaultPayloadConverter.toPayload({ site, path: '/var/www/ünï', db: 'wp_ünï' });

describe('AesGcmPayloadCodec', () => {
  const old = keyFile('2025b');
  const cur = keyFile('2026a');

  it('round-trips a payload, sealed under the current key with its ID and no plain text left', async () => {
    const codec = new AesGcmPayloadCodec(loadCodecKeys({ DROVER_CODEC_KEYS: `${cur},${old}`, DROVER_CODEC_CURRENT_KEY: '2026a' }));
    const [a] = await codec.encode([plain()]);
    const [b] = await codec.encode([plain()]);
    expect(text(a.metadata?.encoding)).toBe(ENCODING);
    expect(text(a.metadata?.[METADATA_KEY_ID])).toBe('2026a');
    expect(Buffer.from(a.data!).includes(Buffer.from('example.com'))).toBe(false);
    expect(Buffer.from(a.data!).equals(Buffer.from(b.data!))).toBe(false); // a fresh IV each time
    const [back] = await codec.decode([a]);
    expect(defaultPayloadConverter.fromPayload(back)).toEqual({ site, path: '/var/www/ünï', db: 'wp_ünï' });
  });

  it('rotation: what the old key sealed opens after a new key is current; without the old key it is refused by name', async () => {
    const before = new AesGcmPayloadCodec(loadCodecKeys({ DROVER_CODEC_KEYS: old, DROVER_CODEC_CURRENT_KEY: '2025b' }));
    const after = new AesGcmPayloadCodec(loadCodecKeys({ DROVER_CODEC_KEYS: `${cur},${old}`, DROVER_CODEC_CURRENT_KEY: '2026a' }));
    const onlyNew = new AesGcmPayloadCodec(loadCodecKeys({ DROVER_CODEC_KEYS: cur, DROVER_CODEC_CURRENT_KEY: '2026a' }));
    const sealed = await before.encode([plain()]);
    expect(defaultPayloadConverter.fromPayload((await after.decode(sealed))[0])).toMatchObject({ site });
    await expect(onlyNew.decode(sealed)).rejects.toThrow(/codec key "2025b"/);
  });

  it('passes plain payloads through on decode (histories recorded before encryption)', async () => {
    const codec = new AesGcmPayloadCodec(loadCodecKeys({ DROVER_CODEC_KEYS: cur, DROVER_CODEC_CURRENT_KEY: '2026a' }));
    const p = plain();
    expect(await codec.decode([p])).toEqual([p]);
  });

  it('refuses a tampered payload and one relabelled with another key ID', async () => {
    const codec = new AesGcmPayloadCodec(loadCodecKeys({ DROVER_CODEC_KEYS: `${cur},${old}`, DROVER_CODEC_CURRENT_KEY: '2026a' }));
    const [sealed] = await codec.encode([plain()]);
    const flipped = Buffer.from(sealed.data!);
    flipped[20] ^= 1;
    await expect(codec.decode([{ ...sealed, data: flipped }])).rejects.toThrow();
    await expect(codec.decode([{ ...sealed, metadata: { ...sealed.metadata, [METADATA_KEY_ID]: Buffer.from('2025b') } }])).rejects.toThrow();
  });
});

describe('codec keys from the environment', () => {
  it.each([
    ['raw 32 bytes', randomBytes(32)],
    ['hex', randomBytes(32).toString('hex') + '\n'],
    ['base64', randomBytes(32).toString('base64')],
    ['base64url', randomBytes(32).toString('base64url')],
  ])('reads a key given as %s', (_kind, content) => {
    expect(parseKey(Buffer.from(content))?.length).toBe(32);
  });

  it('takes the key ID from the file name without drover_codec_key_', () => {
    expect(keyIdOfFile('/run/secrets/drover_codec_key_2026a')).toBe('2026a');
    expect(keyIdOfFile('/keys/prod-1')).toBe('prod-1');
  });

  it.each([
    [{ DROVER_CODEC_KEYS: path.join(dir, 'drover_codec_key_missing'), DROVER_CODEC_CURRENT_KEY: 'missing' }, /DROVER_CODEC_KEYS: .*does not exist/],
    [{ DROVER_CODEC_KEYS: keyFile('short', 'too short'), DROVER_CODEC_CURRENT_KEY: 'short' }, /DROVER_CODEC_KEYS: .*not a 256-bit key/],
    [{ DROVER_CODEC_KEYS: keyFile('k1'), DROVER_CODEC_CURRENT_KEY: 'k9' }, /DROVER_CODEC_CURRENT_KEY: "k9" is not one of the keys/],
  ])('names the variable at fault (%#)', (env, message) => {
    expect(() => loadCodecKeys(env)).toThrow(message);
  });
});

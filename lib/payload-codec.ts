/**
 * The payload codec: every payload Drover writes to Temporal (inputs, results, failure details and messages,
 * memos, signals, updates, queries) leaves the process encrypted with AES-256-GCM, so the history in Temporal's
 * database holds ciphertext only. Each payload records the ID of the key that sealed it; one key is current for
 * encoding and the others still decode, which is how keys rotate. Payloads without our encoding pass through on
 * decode (histories recorded before encryption, clients that never encrypted). Search attributes and workflow IDs
 * are not payloads and are never encrypted.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { METADATA_ENCODING_KEY, ValueError, type Payload, type PayloadCodec } from '@temporalio/common';
import { temporal } from '@temporalio/proto';
import { EnvError, type CodecEnv } from './env';

export const ENCODING = 'binary/encrypted';
export const METADATA_KEY_ID = 'encryption-key-id';
const CIPHER = 'aes-256-gcm';
const IV_BYTES = 12;
const TAG_BYTES = 16;
const KEY_FILE_PREFIX = 'drover_codec_key_';
const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;

export interface CodecKeys {
  /** The key new payloads are sealed with. */
  currentKeyId: string;
  /** Every key that may open a payload, by ID (the current one included). */
  keys: ReadonlyMap<string, Buffer>;
}

const utf8 = (s: string) => new TextEncoder().encode(s);
const text = (b: Uint8Array | null | undefined) => (b ? Buffer.from(b).toString('utf8') : undefined);

/** A key file's ID: its name without the `drover_codec_key_` prefix Docker secrets are given. */
export function keyIdOfFile(file: string): string {
  const base = path.basename(file);
  return base.startsWith(KEY_FILE_PREFIX) ? base.slice(KEY_FILE_PREFIX.length) : base;
}

/** A key file holds 32 bytes: raw, or as 64 hex digits, or base64 (a trailing newline is ignored). */
export function parseKey(raw: Buffer): Buffer | undefined {
  if (raw.length === 32) return raw;
  const t = raw.toString('utf8').trim();
  if (/^[0-9a-fA-F]{64}$/.test(t)) return Buffer.from(t, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(t)) {
    const b = Buffer.from(t, t.includes('-') || t.includes('_') ? 'base64url' : 'base64');
    if (b.length === 32) return b;
  }
  return undefined;
}

/** Reads the keys the environment names; every problem is reported with its variable (exit 2 at start-up). */
export function loadCodecKeys(env: CodecEnv): CodecKeys {
  const issues: { field: string; message: string }[] = [];
  const keys = new Map<string, Buffer>();
  for (const file of env.DROVER_CODEC_KEYS.split(',')) {
    const id = keyIdOfFile(file);
    if (!KEY_ID.test(id)) issues.push({ field: 'DROVER_CODEC_KEYS', message: `${file}: key ID "${id}" is not letters, digits, . _ - (at most 64)` });
    else if (keys.has(id)) issues.push({ field: 'DROVER_CODEC_KEYS', message: `key ID "${id}" is listed twice` });
    else if (!existsSync(file)) issues.push({ field: 'DROVER_CODEC_KEYS', message: `${file} does not exist` });
    else {
      const key = parseKey(readFileSync(file));
      if (key) keys.set(id, key);
      else issues.push({ field: 'DROVER_CODEC_KEYS', message: `${file} is not a 256-bit key (32 bytes, 64 hex digits or base64)` });
    }
  }
  if (!issues.length && !keys.has(env.DROVER_CODEC_CURRENT_KEY)) {
    issues.push({ field: 'DROVER_CODEC_CURRENT_KEY', message: `"${env.DROVER_CODEC_CURRENT_KEY}" is not one of the keys in DROVER_CODEC_KEYS (${[...keys.keys()].join(', ')})` });
  }
  if (issues.length) throw new EnvError(issues);
  return { currentKeyId: env.DROVER_CODEC_CURRENT_KEY, keys };
}

/** AES-256-GCM over the whole payload (its metadata included), sealed under the current key; IV ‖ ciphertext ‖ tag. */
export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keys: CodecKeys) {
    if (!keys.keys.has(keys.currentKeyId)) throw new ValueError(`current key ${keys.currentKeyId} is not among the keys`);
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    const id = this.keys.currentKeyId;
    const key = this.keys.keys.get(id)!;
    return payloads.map((p) => {
      const iv = randomBytes(IV_BYTES);
      // The key ID is authenticated data: a payload relabelled with another key's ID fails to open.
      const cipher = createCipheriv(CIPHER, key, iv).setAAD(Buffer.from(id));
      const plain = temporal.api.common.v1.Payload.encode(p).finish();
      const sealed = Buffer.concat([iv, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
      return { metadata: { [METADATA_ENCODING_KEY]: utf8(ENCODING), [METADATA_KEY_ID]: utf8(id) }, data: sealed };
    });
  }

  async decode(payloads: Payload[]): Promise<Payload[]> {
    return payloads.map((p) => {
      if (text(p.metadata?.[METADATA_ENCODING_KEY]) !== ENCODING) return p;
      const id = text(p.metadata?.[METADATA_KEY_ID]);
      const key = id === undefined ? undefined : this.keys.keys.get(id);
      if (!key) throw new ValueError(`payload sealed with codec key "${id ?? '(none)'}", which this process does not have (DROVER_CODEC_KEYS)`);
      const data = Buffer.from(p.data ?? new Uint8Array());
      if (data.length < IV_BYTES + TAG_BYTES) throw new ValueError('encrypted payload is truncated');
      const decipher = createDecipheriv(CIPHER, key, data.subarray(0, IV_BYTES)).setAAD(Buffer.from(id!));
      decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
      const plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
      return temporal.api.common.v1.Payload.decode(plain) as Payload;
    });
  }
}

/** The codec for this process's environment (keys read from their files now, once). */
export function codecFromEnv(env: CodecEnv): AesGcmPayloadCodec {
  return new AesGcmPayloadCodec(loadCodecKeys(env));
}

/**
 * Host keys for droplets, known before the droplet first boots, so the first SSH connection is pinned instead of
 * trusted on first use. Each droplet's ed25519 host key is derived from a secret seed held by the worker
 * (HMAC-SHA256(seed, "<farm>/<name>")), handed to the droplet through cloud-init's `ssh_keys` in its user data,
 * and recomputed whenever its fingerprint is needed: a crashed or retried activity never loses it, and nothing
 * secret passes through workflow history (only the public fingerprint does).
 * The private key does sit in the droplet's user data, readable from the droplet's metadata service: bootstrap
 * (activities/swarm-nodes.ts) blocks that address for containers, so only the droplet itself can read it.
 */
import { createHmac, createPrivateKey, createPublicKey } from 'node:crypto';
import { hostKeyFingerprint } from './ssh-client';

export interface DerivedHostKey {
  /** `ssh-ed25519 AAAA… comment` */
  publicKey: string;
  /** OpenSSH private key file (openssh-key-v1, unencrypted), as sshd reads it. */
  privateKey: string;
  /** SHA256:… as pinned by SshClient. */
  fingerprint: string;
}

const u32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n >>> 0);
  return b;
};
const str = (b: Buffer | string) => {
  const buf = typeof b === 'string' ? Buffer.from(b) : b;
  return Buffer.concat([u32(buf.length), buf]);
};

/** The droplet's host key, derived from the seed and its farm and name (same inputs, same key). */
export function deriveHostKey(seed: Buffer, farm: string, name: string): DerivedHostKey {
  const secret = createHmac('sha256', seed).update(`drover host key/${farm}/${name}`).digest();
  // PKCS#8 wrapping of a raw ed25519 seed (RFC 8410), so node:crypto computes the public half.
  const der = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), secret]);
  const jwk = createPublicKey(createPrivateKey({ key: der, format: 'der', type: 'pkcs8' })).export({ format: 'jwk' });
  const pub = Buffer.from(jwk.x as string, 'base64url');
  const blob = Buffer.concat([str('ssh-ed25519'), str(pub)]);
  const comment = `${name}-host`;
  const check = secret.readUInt32BE(0);
  let priv = Buffer.concat([u32(check), u32(check), str('ssh-ed25519'), str(pub), str(Buffer.concat([secret, pub])), str(comment)]);
  const pad = (8 - (priv.length % 8)) % 8;
  priv = Buffer.concat([priv, Buffer.from(Array.from({ length: pad }, (_, i) => i + 1))]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), str('none'), str('none'), str(''), u32(1), str(blob), str(priv)]).toString('base64');
  const privateKey = ['-----BEGIN OPENSSH PRIVATE KEY-----', ...(body.match(/.{1,70}/g) ?? []), '-----END OPENSSH PRIVATE KEY-----', ''].join('\n');
  return { publicKey: `ssh-ed25519 ${blob.toString('base64')} ${comment}`, privateKey, fingerprint: hostKeyFingerprint(blob) };
}

/**
 * The droplet's cloud-init user data: its host key (replacing the image's generated ones) and nothing else;
 * the bootstrap SSH key arrives through DigitalOcean's own `ssh_keys`.
 */
export function hostKeyUserData(key: DerivedHostKey): string {
  const indent = (s: string) => s.trimEnd().split('\n').map((l) => `    ${l}`).join('\n');
  return ['#cloud-config', 'ssh_deletekeys: true', 'ssh_genkeytypes: []', 'ssh_keys:', '  ed25519_private: |', indent(key.privateKey), `  ed25519_public: ${key.publicKey}`, ''].join('\n');
}

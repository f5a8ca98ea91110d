/**
 * Derived droplet host keys: OpenSSH's own ssh-keygen reads the private key file and computes the same public key
 * and fingerprint; the same seed, farm and name always give the same key, anything else another; the cloud-init
 * user data carries the key byte for byte.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { utils } from 'ssh2';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { deriveHostKey, hostKeyUserData } from '../../lib/clients/host-keys';
import { scratchDir } from '../helpers/scratch';

const dir = scratchDir('drover-hostkey-');
const seed = Buffer.from('0123456789abcdef0123456789abcdef');

describe('derived host keys', () => {
  it.each(['alpha-manager-01', 'alpha-worker-12', 'x'])('ssh-keygen reads the key for %s and agrees on public key and fingerprint', (name) => {
    const k = deriveHostKey(seed, 'alpha', name);
    const file = path.join(dir, name);
    writeFileSync(file, k.privateKey, { mode: 0o600 });
    expect(execFileSync('ssh-keygen', ['-y', '-f', file], { encoding: 'utf8' }).trim().split(' ').slice(0, 2)).toEqual(k.publicKey.split(' ').slice(0, 2));
    expect(execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', file], { encoding: 'utf8' })).toContain(k.fingerprint);
    const parsed = utils.parseKey(k.privateKey);
    expect(parsed).not.toBeInstanceOf(Error);
  });

  it('is a function of seed, farm and name only', () => {
    const a = deriveHostKey(seed, 'alpha', 'alpha-manager-01');
    expect(deriveHostKey(seed, 'alpha', 'alpha-manager-01')).toEqual(a);
    expect(deriveHostKey(seed, 'beta', 'alpha-manager-01').fingerprint).not.toBe(a.fingerprint);
    expect(deriveHostKey(seed, 'alpha', 'alpha-manager-02').fingerprint).not.toBe(a.fingerprint);
    expect(deriveHostKey(Buffer.from('another seed'), 'alpha', 'alpha-manager-01').fingerprint).not.toBe(a.fingerprint);
  });

  it('puts the key into cloud-init user data unchanged and drops the image\'s own host keys', () => {
    const k = deriveHostKey(seed, 'alpha', 'alpha-cache-01');
    const ud = hostKeyUserData(k);
    expect(ud.startsWith('#cloud-config\n')).toBe(true);
    const doc = parse(ud) as { ssh_deletekeys: boolean; ssh_genkeytypes: string[]; ssh_keys: Record<string, string> };
    expect(doc.ssh_deletekeys).toBe(true);
    expect(doc.ssh_genkeytypes).toEqual([]);
    expect(doc.ssh_keys.ed25519_private).toBe(k.privateKey);
    expect(doc.ssh_keys.ed25519_public).toBe(k.publicKey);
  });
});

/** The codec server's JWT check: signatures (RS256, ES256) and the claims it promises to check, and nothing more. */
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { checkJwt } from '../../lib/codec-token';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const now = 1_800_000_000;
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

function jwt(alg: 'RS256' | 'ES256', key: KeyObject, claims: Record<string, unknown>): string {
  const head = `${b64({ alg, typ: 'JWT' })}.${b64(claims)}`;
  const sig = alg === 'RS256' ? sign('sha256', Buffer.from(head), key) : sign('sha256', Buffer.from(head), { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${sig.toString('base64url')}`;
}
const good = { sub: 'operator@example.com', iss: 'https://id.example.com', aud: 'temporal-ui', exp: now + 60 };
const opts = { jwtIssuer: 'https://id.example.com', jwtAudience: 'temporal-ui', now: () => now * 1000 };

describe('checkJwt', () => {
  it('accepts a valid RS256 and ES256 token', () => {
    expect(checkJwt(jwt('RS256', rsa.privateKey, good), rsa.publicKey, opts)).toBeNull();
    expect(checkJwt(jwt('ES256', ec.privateKey, { ...good, aud: ['x', 'temporal-ui'] }), ec.publicKey, opts)).toBeNull();
  });

  it.each([
    ['another key', () => jwt('RS256', generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey, good), /signature/],
    ['expired', () => jwt('RS256', rsa.privateKey, { ...good, exp: now - 1 }), /expired/],
    ['no exp', () => jwt('RS256', rsa.privateKey, { ...good, exp: undefined }), /no exp/],
    ['not yet valid', () => jwt('RS256', rsa.privateKey, { ...good, nbf: now + 30 }), /not yet valid/],
    ['other issuer', () => jwt('RS256', rsa.privateKey, { ...good, iss: 'https://evil.example.com' }), /issuer/],
    ['other audience', () => jwt('RS256', rsa.privateKey, { ...good, aud: 'other' }), /audience/],
    ['alg none', () => `${b64({ alg: 'none' })}.${b64(good)}.`, /algorithm none/],
    ['garbage', () => 'not-a-token', /not a JWT/],
  ])('refuses %s', (_name, token, why) => {
    expect(checkJwt(token(), rsa.publicKey, opts)).toMatch(why);
  });
});

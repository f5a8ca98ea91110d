/**
 * What the codec server checks in `Authorization: Bearer <token>`. Two kinds, either or both:
 * - a shared token read from a file (machines: a proxy or a script that holds the secret);
 * - a JWT, the access token the Web UI forwards for the signed-in operator (TEMPORAL_CODEC_PASS_ACCESS_TOKEN,
 *   UI behind OIDC): its RS256 or ES256 signature is verified against the identity provider's public key (a PEM
 *   file; keys are not fetched from a JWKS URL), `exp` must lie ahead and `nbf` behind, and `iss` / `aud` must
 *   match when configured. Nothing else about the operator (groups, scopes) is checked.
 */
import { createHash, createPublicKey, timingSafeEqual, verify, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';

export interface TokenCheckOptions {
  /** File holding the shared token (trailing newline ignored). */
  tokenFile?: string;
  /** PEM public key of the identity provider that signs the operators' access tokens. */
  jwtPublicKeyFile?: string;
  jwtIssuer?: string;
  jwtAudience?: string;
  now?: () => number;
}

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function b64urlJson(part: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** Why a JWT is refused, or null when its signature and claims pass. */
export function checkJwt(token: string, key: KeyObject, o: Pick<TokenCheckOptions, 'jwtIssuer' | 'jwtAudience' | 'now'> = {}): string | null {
  const parts = token.split('.');
  if (parts.length !== 3) return 'not a JWT';
  const [h, p, s] = parts;
  const header = b64urlJson(h);
  const claims = b64urlJson(p);
  if (!header || !claims) return 'malformed JWT';
  const signed = Buffer.from(`${h}.${p}`);
  const sig = Buffer.from(s, 'base64url');
  let ok: boolean;
  if (header.alg === 'RS256' && key.asymmetricKeyType === 'rsa') ok = verify('sha256', signed, key, sig);
  else if (header.alg === 'ES256' && key.asymmetricKeyType === 'ec') ok = verify('sha256', signed, { key, dsaEncoding: 'ieee-p1363' }, sig);
  else return `JWT algorithm ${String(header.alg)} not accepted with this key`;
  if (!ok) return 'JWT signature does not verify';
  const now = Math.floor((o.now ?? Date.now)() / 1000);
  if (typeof claims.exp !== 'number') return 'JWT has no exp';
  if (claims.exp <= now) return 'JWT expired';
  if (typeof claims.nbf === 'number' && claims.nbf > now) return 'JWT not yet valid';
  if (o.jwtIssuer !== undefined && claims.iss !== o.jwtIssuer) return 'JWT issuer does not match';
  if (o.jwtAudience !== undefined) {
    const aud = Array.isArray(claims.aud) ? claims.aud : [claims.aud];
    if (!aud.includes(o.jwtAudience)) return 'JWT audience does not match';
  }
  return null;
}

/** The codec server's token check for these options, or undefined when none is configured (loopback only). */
export function tokenCheck(o: TokenCheckOptions): ((authorization: string | undefined) => string | null) | undefined {
  if (!o.tokenFile && !o.jwtPublicKeyFile) return undefined;
  const shared = o.tokenFile ? sha256(readFileSync(o.tokenFile, 'utf8').replace(/\r?\n$/, '')) : undefined;
  const key = o.jwtPublicKeyFile ? createPublicKey(readFileSync(o.jwtPublicKeyFile)) : undefined;
  return (authorization) => {
    const m = /^Bearer\s+(\S+)$/i.exec(authorization ?? '');
    if (!m) return 'no bearer token';
    const token = m[1];
    if (shared && timingSafeEqual(sha256(token), shared)) return null;
    if (key) return checkJwt(token, key, o);
    return 'token does not match';
  };
}

/**
 * The byte patterns one `from_url → to_url` rewrite looks for, and the plain-text replacement over them.
 *
 * A URL reaches the database in several spellings: as typed (`https://old.example.com`), JSON-encoded by PHP's
 * `json_encode` (`https:\/\/old.example.com`, page builders and block attributes) and URL-encoded
 * (`https%3A%2F%2Fold.example.com`, query strings and share links). Each spelling of `from` is replaced by the
 * same spelling of `to`. Matching is on bytes, exact and case-sensitive, like wp-cli's `search-replace`.
 */

/** One pattern and its replacement, both UTF-8 bytes. */
export interface Needle {
  readonly from: Buffer;
  readonly to: Buffer;
  /** Why this spelling exists, for reports and tests. */
  readonly form: 'plain' | 'json-escaped' | 'url-encoded' | 'url-encoded-lower';
  readonly schemeless: boolean;
}

export interface UrlRewriteOptions {
  /**
   * Also rewrite the scheme-less form `//old.example.com` (protocol-relative links, and the same host under
   * another scheme, e.g. `http://` when `from` is `https://`) to `//new.example`, keeping whatever scheme
   * precedes it. Default true: a link to the old host under the other scheme would otherwise point at a host
   * that is about to be switched off.
   */
  readonly schemeless?: boolean;
}

/** The compiled patterns of one rewrite. */
export interface NeedleSet {
  readonly fromUrl: string;
  readonly toUrl: string;
  /** Longest first, so that at one position the most specific spelling wins. */
  readonly needles: readonly Needle[];
  /**
   * True when a match must end at a host boundary: `from` is `scheme://host[:port]` with no path, so
   * `https://old.example.com` must not match the start of `https://old.example.community`.
   */
  readonly hostBoundary: boolean;
  /** The old host (what every spelling contains verbatim): a cheap SQL prefilter. */
  readonly host: string;
  /**
   * False when `to` itself contains a spelling of `from` (e.g. `https://a.example` → `https://a.example.org` is
   * fine thanks to the host boundary, but `https://a.example/x` → `https://a.example/x/y` is not): running the
   * rewrite twice would then apply it twice, so a retried step is not harmless.
   */
  readonly idempotent: boolean;
}

const SCHEME_URL = /^([A-Za-z][A-Za-z0-9+.-]*:)(\/\/.*)$/s;

function jsonEscapeSlashes(s: string): string {
  return s.replace(/\//g, '\\/');
}

function urlEncode(s: string, lower: boolean): string {
  const e = encodeURIComponent(s);
  return lower ? e.replace(/%[0-9A-F]{2}/g, (m) => m.toLowerCase()) : e;
}

function spellings(from: string, to: string, schemeless: boolean): Needle[] {
  const out: Needle[] = [
    { from: Buffer.from(from), to: Buffer.from(to), form: 'plain', schemeless },
    { from: Buffer.from(jsonEscapeSlashes(from)), to: Buffer.from(jsonEscapeSlashes(to)), form: 'json-escaped', schemeless },
    { from: Buffer.from(urlEncode(from, false)), to: Buffer.from(urlEncode(to, false)), form: 'url-encoded', schemeless },
    { from: Buffer.from(urlEncode(from, true)), to: Buffer.from(urlEncode(to, true)), form: 'url-encoded-lower', schemeless },
  ];
  return out;
}

/** Builds the patterns for `fromUrl → toUrl`; throws on an empty or identical pair. */
export function compileNeedles(fromUrl: string, toUrl: string, options: UrlRewriteOptions = {}): NeedleSet {
  if (fromUrl.length === 0 || toUrl.length === 0) throw new Error('from_url and to_url must both be non-empty');
  if (fromUrl === toUrl) throw new Error('from_url and to_url are the same: nothing to rewrite');
  // `https://old.example.com/` → `https://new.example` would turn `…com/about` into `…exampleabout`.
  if (fromUrl.endsWith('/') !== toUrl.endsWith('/')) throw new Error('from_url and to_url must both end with "/" or neither');
  const fromM = SCHEME_URL.exec(fromUrl);
  const toM = SCHEME_URL.exec(toUrl);
  const all = spellings(fromUrl, toUrl, false);
  if ((options.schemeless ?? true) && fromM && toM) all.push(...spellings(fromM[2], toM[2], true));
  // Drop duplicate spellings (a URL without '/' or ':' has identical forms); longest first.
  const seen = new Set<string>();
  const needles = all
    .filter((n) => {
      const k = n.from.toString('latin1');
      if (seen.has(k)) return false;
      seen.add(k);
      return true;
    })
    .sort((a, b) => b.from.length - a.from.length);
  const afterScheme = fromM ? fromM[2].slice(2) : fromUrl;
  const hostBoundary = fromM !== null && !afterScheme.includes('/') && /[A-Za-z0-9-]$/.test(fromUrl);
  const host = afterScheme.split(/[/:?#]/)[0];
  const partial: Omit<NeedleSet, 'idempotent'> = { fromUrl, toUrl, needles, hostBoundary, host };
  const idempotent = needles.every((n) => !containsOldUrl({ ...partial, idempotent: true }, n.to));
  return { ...partial, idempotent };
}

/** True when the byte is part of a hostname label. */
function isHostByte(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) || b === 0x2d || b === 0x5f;
}

/** A match ending at `end` continues the host name when followed by a label byte, or by '.' and a label byte. */
function endsAtHostBoundary(buf: Buffer, end: number): boolean {
  if (end >= buf.length) return true;
  const b = buf[end];
  if (isHostByte(b)) return false;
  if (b === 0x2e && end + 1 < buf.length && isHostByte(buf[end + 1])) return false;
  return true;
}

/** The next match of one spelling at or after `from` that ends at a boundary, or -1. */
function nextOf(set: NeedleSet, needle: Needle, buf: Buffer, from: number): number {
  for (;;) {
    const at = buf.indexOf(needle.from, from);
    if (at < 0 || !set.hostBoundary || endsAtHostBoundary(buf, at + needle.from.length)) return at;
    from = at + 1;
  }
}

/**
 * Every match, left to right, not overlapping: the leftmost one, the longest spelling on a tie. Each spelling's
 * next position is cached until passed, so a large value with many matches is scanned in linear time.
 */
function* matches(set: NeedleSet, buf: Buffer): Generator<{ at: number; needle: Needle }> {
  const next = set.needles.map((n) => nextOf(set, n, buf, 0));
  let pos = 0;
  for (;;) {
    let best = -1;
    for (let i = 0; i < next.length; i++) {
      if (next[i] >= 0 && next[i] < pos) next[i] = nextOf(set, set.needles[i], buf, pos);
      if (next[i] >= 0 && (best < 0 || next[i] < next[best])) best = i;
    }
    if (best < 0) return;
    const needle = set.needles[best];
    yield { at: next[best], needle };
    pos = next[best] + needle.from.length;
  }
}

/** The leftmost match (longest spelling on a tie), or null. */
export function findFirst(set: NeedleSet, buf: Buffer): { at: number; needle: Needle } | null {
  const first = matches(set, buf).next();
  return first.done ? null : first.value;
}

/** Whether any spelling of `from` occurs in `buf` (the fast path: most values hold none). */
export function containsOldUrl(set: NeedleSet, buf: Buffer): boolean {
  return set.needles.some((n) => nextOf(set, n, buf, 0) >= 0);
}

/** Replaces every spelling of `from` in `buf`, left to right, without rescanning replaced text. */
export function replacePlain(set: NeedleSet, buf: Buffer): { value: Buffer; replacements: number } {
  const parts: Buffer[] = [];
  let pos = 0;
  for (const m of matches(set, buf)) {
    parts.push(buf.subarray(pos, m.at), m.needle.to);
    pos = m.at + m.needle.from.length;
  }
  if (parts.length === 0) return { value: buf, replacements: 0 };
  parts.push(buf.subarray(pos));
  return { value: Buffer.concat(parts), replacements: (parts.length - 1) / 2 };
}

/** True when every spelling keeps its byte length (then a plain replace cannot shift any serialized length). */
export function isLengthNeutral(set: NeedleSet): boolean {
  return set.needles.every((n) => n.from.length === n.to.length);
}

/**
 * Rewrites one database value: chooses, per value and again per nested string, between PHP serialized data
 * (token level, lengths recomputed), JSON (per string token, so serialized data inside JSON stays valid) and
 * plain text. Works on bytes; a value that is not valid UTF-8 and not serialized is left alone.
 */
import { compileNeedles, containsOldUrl, isLengthNeutral, replacePlain, type NeedleSet, type UrlRewriteOptions } from './needles';
import { isSerialized, looksSerialized, MAX_DEPTH, rewriteSerialized, type SerializedHooks, type StringRewrite } from './serialized';
import { decodeExactly, percentEncode } from './url-encoded';

/** How the outermost layer of a value was treated. */
export type ValueKind =
  | 'no-match'
  | 'serialized'
  | 'url-encoded-serialized'
  | 'json'
  | 'text'
  | 'malformed-serialized'
  | 'binary'
  | 'too-deep';

export interface ValueRewrite extends StringRewrite {
  readonly kind: ValueKind;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function isValidUtf8(buf: Buffer): boolean {
  try {
    utf8.decode(buf);
    return true;
  } catch {
    return false;
  }
}

/** PHP's trim() set, which WordPress's maybe_unserialize() strips before unserialize(). */
function isTrimByte(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d || b === 0x00 || b === 0x0b;
}

function trimBounds(buf: Buffer): [number, number] {
  let s = 0;
  let e = buf.length;
  while (s < e && isTrimByte(buf[s])) s++;
  while (e > s && isTrimByte(buf[e - 1])) e--;
  return [s, e];
}

function splice(buf: Buffer, s: number, e: number, middle: Buffer): Buffer {
  return s === 0 && e === buf.length ? middle : Buffer.concat([buf.subarray(0, s), middle, buf.subarray(e)]);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Re-encodes a JSON string the way the original token was written (PHP escapes '/' and non-ASCII by default). */
function encodeJsonLike(value: string, original: string): string {
  let out = JSON.stringify(value);
  if (original.includes('\\/')) out = out.replace(/\//g, '\\/');
  if (/\\u(00[89a-fA-F]|0[1-9a-fA-F]|[1-9a-fA-F])[0-9a-fA-F]{2}/.test(original)) {
    out = out.replace(/[\u0080-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  }
  return out;
}

const noChange = (value: Buffer, kind: ValueKind, leftAlone = 0, malformed = 0): ValueRewrite => ({
  value,
  changed: false,
  kind,
  leftAlone,
  malformed,
});

/** The rewrite of `fromUrl → toUrl` over single values. Stateless; reuse one per table or site. */
export class UrlRewriter {
  readonly needles: NeedleSet;
  private readonly hooks: SerializedHooks;

  constructor(fromUrl: string, toUrl: string, options: UrlRewriteOptions = {}) {
    this.needles = compileNeedles(fromUrl, toUrl, options);
    this.hooks = {
      rewriteString: (bytes, depth) => this.rewriteAt(bytes, depth),
      holdsOldUrl: (bytes) => containsOldUrl(this.needles, bytes),
    };
  }

  /** Rewrites one value's bytes. `value` is the input itself when nothing changed. */
  rewrite(value: Buffer): ValueRewrite {
    return this.rewriteAt(value, 0);
  }

  /** The same for a value that arrived as a JavaScript string (a text column read as UTF-8). */
  rewriteText(value: string): { value: string; changed: boolean; kind: ValueKind; leftAlone: number; malformed: number } {
    const r = this.rewrite(Buffer.from(value, 'utf8'));
    return { ...r, value: r.changed ? r.value.toString('utf8') : value };
  }

  private rewriteAt(buf: Buffer, depth: number): ValueRewrite {
    if (!containsOldUrl(this.needles, buf)) return noChange(buf, 'no-match');
    if (depth > MAX_DEPTH) return noChange(buf, 'too-deep', 1);
    const [s, e] = trimBounds(buf);
    const core = buf.subarray(s, e);

    const ser = rewriteSerialized(core, this.hooks, depth);
    if (ser) return { ...ser, value: ser.changed ? splice(buf, s, e, ser.value) : buf, kind: 'serialized' };

    if (looksSerialized(core)) {
      // WordPress will hand this to unserialize(), which fails on it today. A replacement that keeps every
      // byte length cannot make it worse (and keeps any length that was right); any other would guess.
      if (!isLengthNeutral(this.needles)) return noChange(buf, 'malformed-serialized', 1, 1);
      const r = replacePlain(this.needles, buf);
      return { value: r.value, changed: r.replacements > 0, kind: 'malformed-serialized', leftAlone: 0, malformed: 1 };
    }

    if (!isValidUtf8(buf)) return noChange(buf, 'binary', 1);

    const first = core[0];
    const last = core[core.length - 1];
    if ((first === 0x7b && last === 0x7d) || (first === 0x5b && last === 0x5d)) {
      const json = this.rewriteJson(core, depth);
      if (json) return { ...json, value: json.changed ? splice(buf, s, e, json.value) : buf };
    }

    const encoded = decodeExactly(core);
    if (encoded && isSerialized(encoded.decoded)) {
      const inner = this.rewriteAt(encoded.decoded, depth + 1);
      const value = inner.changed ? splice(buf, s, e, percentEncode(inner.value, encoded.style)) : buf;
      return { ...inner, value, kind: 'url-encoded-serialized' };
    }

    const r = replacePlain(this.needles, buf);
    return { value: r.value, changed: r.replacements > 0, kind: 'text', leftAlone: 0, malformed: 0 };
  }

  /**
   * A JSON document: each string token holding the old URL is decoded and rewritten as a value of its own (so
   * serialized data or JSON inside it is handled), then written back in the token's own escaping style. Null when
   * `core` is not valid JSON.
   */
  private rewriteJson(core: Buffer, depth: number): ValueRewrite | null {
    const text = core.toString('utf8');
    try {
      JSON.parse(text);
    } catch {
      return null;
    }
    const parts: string[] = [];
    let at = 0;
    let leftAlone = 0;
    let malformed = 0;
    let changed = false;
    for (let i = 0; i < text.length; i++) {
      if (text[i] !== '"') continue;
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const token = text.slice(i, j + 1);
      const tokenBytes = Buffer.from(token, 'utf8');
      if (containsOldUrl(this.needles, tokenBytes)) {
        const replaced = this.rewriteJsonToken(token, tokenBytes, depth);
        leftAlone += replaced.leftAlone;
        malformed += replaced.malformed;
        if (replaced.token !== token) {
          parts.push(text.slice(at, i), replaced.token);
          at = j + 1;
          changed = true;
        }
      }
      i = j;
    }
    if (!changed) return noChange(core, 'json', leftAlone, malformed);
    parts.push(text.slice(at));
    return { value: Buffer.from(parts.join(''), 'utf8'), changed, kind: 'json', leftAlone, malformed };
  }

  private rewriteJsonToken(token: string, tokenBytes: Buffer, depth: number): { token: string; leftAlone: number; malformed: number } {
    const raw = replacePlain(this.needles, tokenBytes).value.toString('utf8');
    const decoded = JSON.parse(token) as string;
    // A lone surrogate (\ud800) has no UTF-8 form: rewrite the token's text as it stands.
    if (LONE_SURROGATE.test(decoded)) return { token: raw, leftAlone: 0, malformed: 0 };
    const inner = this.rewriteAt(Buffer.from(decoded, 'utf8'), depth + 1);
    if (!inner.changed) return { token, leftAlone: inner.leftAlone, malformed: inner.malformed };
    const wanted = inner.value.toString('utf8');
    // Prefer the plain replacement of the token's text: it keeps the original escaping byte for byte.
    const encoded = (JSON.parse(raw) as string) === wanted ? raw : encodeJsonLike(wanted, token);
    return { token: encoded, leftAlone: inner.leftAlone, malformed: inner.malformed };
  }
}

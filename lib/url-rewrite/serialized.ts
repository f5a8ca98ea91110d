/**
 * A token-level reader for PHP's `serialize()` format that rewrites string values in place.
 *
 * It never builds JavaScript values: every token keeps its original bytes (class names, private and protected
 * property names with their NUL bytes, integer and string keys, float spellings, references, enums) and only a
 * string whose content changed is re-emitted, with its length recomputed in bytes. Keys are never rewritten.
 * The grammar follows PHP's `ext/standard/var_unserializer.re`:
 *
 *   N;  b:0;  i:-12;  d:0.1;  d:INF;  s:5:"bytes";  S:3:"\61bc";  a:2:{key;value;key;value}
 *   O:3:"Foo":1:{s:6:"\0Foo\0x";value}  C:3:"Foo":5:{bytes}  r:2;  R:2;  E:7:"Foo:Bar";
 */

/** What the value rewriter does with one string's bytes (injected, so this module stays a pure parser). */
export interface SerializedHooks {
  /** Rewrites one string value; `depth` grows with every level of nesting (strings inside strings count). */
  rewriteString(bytes: Buffer, depth: number): StringRewrite;
  /** Whether opaque bytes (an `S:` string, a `C:` payload that is not serialized data) hold the old URL. */
  holdsOldUrl(bytes: Buffer): boolean;
}

export interface StringRewrite {
  readonly value: Buffer;
  readonly changed: boolean;
  /** Parts holding the old URL that were left alone (malformed, binary, opaque). */
  readonly leftAlone: number;
  /** Parts that looked serialized, held the old URL and did not parse. */
  readonly malformed: number;
}

/** Deeper values are treated as unparseable (PHP's own `unserialize_max_depth` default is 4096). */
export const MAX_DEPTH = 512;

class ParseError extends Error {}

interface Edit {
  readonly start: number;
  readonly end: number;
  readonly bytes: Buffer;
}

const C = (ch: string): number => ch.charCodeAt(0);
const DIGIT_0 = C('0');
const DIGIT_9 = C('9');
const FLOAT_BYTES = new Set([...'0123456789.eE+-NAIF'].map(C));
const HEX = new Set([...'0123456789abcdefABCDEF'].map(C));

class Reader {
  pos: number;
  readonly edits: Edit[] = [];
  leftAlone = 0;
  malformed = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly end: number,
    start: number,
    private readonly hooks: SerializedHooks | null,
  ) {
    this.pos = start;
  }

  private fail(): never {
    throw new ParseError();
  }

  private expect(ch: string): void {
    if (this.pos >= this.end || this.buf[this.pos] !== C(ch)) this.fail();
    this.pos++;
  }

  /** One or more decimal digits; returns how many. */
  private digits(): number {
    const start = this.pos;
    while (this.pos < this.end && this.buf[this.pos] >= DIGIT_0 && this.buf[this.pos] <= DIGIT_9) this.pos++;
    if (this.pos === start) this.fail();
    return this.pos - start;
  }

  /** A length or count: at most 15 digits, so it stays a safe integer. */
  private uint(): number {
    const start = this.pos;
    if (this.digits() > 15) this.fail();
    return Number(this.buf.toString('latin1', start, this.pos));
  }

  /** `N:"<N bytes>"` — a length-prefixed quoted run; returns the content's offsets. */
  private quoted(): { start: number; end: number } {
    const n = this.uint();
    this.expect(':');
    this.expect('"');
    const start = this.pos;
    if (start + n > this.end) this.fail();
    this.pos += n;
    this.expect('"');
    return { start, end: start + n };
  }

  value(depth: number, rewritable: boolean): void {
    if (depth > MAX_DEPTH || this.pos >= this.end) this.fail();
    const tokenStart = this.pos;
    const tag = String.fromCharCode(this.buf[this.pos++]);
    if (tag === 'N') return this.expect(';');
    this.expect(':');
    switch (tag) {
      case 'b':
      case 'r':
      case 'R':
        this.digits();
        return this.expect(';');
      case 'i':
        if (this.buf[this.pos] === C('-') || this.buf[this.pos] === C('+')) this.pos++;
        this.digits();
        return this.expect(';');
      case 'd': {
        const start = this.pos;
        while (this.pos < this.end && FLOAT_BYTES.has(this.buf[this.pos])) this.pos++;
        if (this.pos === start) this.fail();
        return this.expect(';');
      }
      case 's': {
        const { start, end } = this.quoted();
        this.expect(';');
        if (rewritable && this.hooks) this.rewriteString(tokenStart, start, end, depth);
        return;
      }
      case 'S':
        return this.escapedString();
      case 'E': {
        const { start, end } = this.quoted();
        const colon = this.buf.indexOf(C(':'), start);
        if (colon < 0 || colon >= end) this.fail();
        return this.expect(';');
      }
      case 'a': {
        const n = this.uint();
        this.expect(':');
        return this.members(n, depth);
      }
      case 'O': {
        this.quoted();
        this.expect(':');
        const n = this.uint();
        this.expect(':');
        return this.members(n, depth);
      }
      case 'C':
        return this.custom(tokenStart, depth);
      default:
        this.fail();
    }
  }

  /** `{key;value;…}` with `n` pairs; keys are integers or strings and are never rewritten. */
  private members(n: number, depth: number): void {
    this.expect('{');
    for (let i = 0; i < n; i++) {
      const k = this.buf[this.pos];
      if (k !== C('i') && k !== C('s')) this.fail();
      this.value(depth + 1, false);
      this.value(depth + 1, true);
    }
    this.expect('}');
  }

  private rewriteString(tokenStart: number, start: number, end: number, depth: number): void {
    const r = this.hooks!.rewriteString(this.buf.subarray(start, end), depth + 1);
    this.leftAlone += r.leftAlone;
    this.malformed += r.malformed;
    if (!r.changed) return;
    const head = Buffer.from(`s:${r.value.length}:"`, 'latin1');
    this.edits.push({ start: tokenStart, end: this.pos, bytes: Buffer.concat([head, r.value, Buffer.from('";')]) });
  }

  /** `S:n:"…"`: n decoded bytes where `\hh` is one byte. Kept opaque (rare; PHP never writes it since 6.0). */
  private escapedString(): void {
    const n = this.uint();
    this.expect(':');
    this.expect('"');
    const start = this.pos;
    for (let i = 0; i < n; i++) {
      if (this.pos >= this.end) this.fail();
      if (this.buf[this.pos] === C('\\')) {
        if (this.pos + 2 >= this.end || !HEX.has(this.buf[this.pos + 1]) || !HEX.has(this.buf[this.pos + 2])) this.fail();
        this.pos += 3;
      } else this.pos++;
    }
    const contentEnd = this.pos;
    this.expect('"');
    this.expect(';');
    if (this.hooks?.holdsOldUrl(this.buf.subarray(start, contentEnd))) this.leftAlone++;
  }

  /**
   * `C:len:"Class":n:{payload}` — a class implementing Serializable wrote `payload` itself. When the payload is
   * one whole serialized value (what `serialize($this->data)` gives) it is rewritten and `n` recomputed;
   * otherwise (ArrayObject's `x:i:0;a:…;m:a:…`, or anything custom) it is left alone and counted.
   */
  private custom(tokenStart: number, depth: number): void {
    const name = this.quoted();
    this.expect(':');
    const n = this.uint();
    this.expect(':');
    this.expect('{');
    const start = this.pos;
    if (start + n > this.end) this.fail();
    this.pos += n;
    this.expect('}');
    if (!this.hooks) return;
    const payload = this.buf.subarray(start, start + n);
    if (!this.hooks.holdsOldUrl(payload)) return;
    const inner = rewriteSerialized(payload, this.hooks, depth + 1);
    if (!inner) {
      this.leftAlone++;
      return;
    }
    this.leftAlone += inner.leftAlone;
    this.malformed += inner.malformed;
    if (!inner.changed) return;
    const head = Buffer.concat([
      Buffer.from(`C:${name.end - name.start}:"`, 'latin1'),
      this.buf.subarray(name.start, name.end),
      Buffer.from(`":${inner.value.length}:{`, 'latin1'),
    ]);
    this.edits.push({ start: tokenStart, end: this.pos, bytes: Buffer.concat([head, inner.value, Buffer.from('}')]) });
  }

  /** The input with every edit spliced in. */
  output(start: number): Buffer {
    if (this.edits.length === 0) return this.buf.subarray(start, this.end);
    const parts: Buffer[] = [];
    let at = start;
    for (const e of this.edits) {
      parts.push(this.buf.subarray(at, e.start), e.bytes);
      at = e.end;
    }
    parts.push(this.buf.subarray(at, this.end));
    return Buffer.concat(parts);
  }
}

/** True when `buf` is exactly one well-formed serialized value (nothing before or after it). */
export function isSerialized(buf: Buffer): boolean {
  try {
    const r = new Reader(buf, buf.length, 0, null);
    r.value(0, false);
    return r.pos === buf.length;
  } catch (e) {
    if (e instanceof ParseError) return false;
    throw e;
  }
}

/**
 * Rewrites the string values of one whole serialized value through `hooks`; null when `buf` is not exactly one
 * well-formed serialized value (then nothing was changed).
 */
export function rewriteSerialized(
  buf: Buffer,
  hooks: SerializedHooks,
  depth = 0,
): StringRewrite | null {
  const r = new Reader(buf, buf.length, 0, hooks);
  try {
    r.value(depth, true);
  } catch (e) {
    if (e instanceof ParseError) return null;
    throw e;
  }
  if (r.pos !== buf.length) return null;
  return { value: r.output(0), changed: r.edits.length > 0, leftAlone: r.leftAlone, malformed: r.malformed };
}

/**
 * WordPress's `is_serialized()` (strict): what `maybe_unserialize()` will hand to `unserialize()`. A value that
 * passes this but does not parse is malformed serialized data, not text.
 */
export function looksSerialized(trimmed: Buffer): boolean {
  const s = trimmed.toString('latin1');
  if (s === 'N;') return true;
  if (s.length < 4 || s[1] !== ':') return false;
  const last = s[s.length - 1];
  if (last !== ';' && last !== '}') return false;
  switch (s[0]) {
    case 's':
      return s[s.length - 2] === '"' && /^s:[0-9]+:"/.test(s);
    case 'a':
    case 'O':
    case 'E':
      return /^[aOE]:[0-9]+:/.test(s);
    case 'b':
    case 'i':
    case 'd':
      return /^[bid]:[0-9.E+-]+;$/.test(s);
    default:
      return false;
  }
}

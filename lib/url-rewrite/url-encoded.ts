/**
 * Percent-encoded values that are serialized data once decoded (`urlencode(serialize(…))`): rewriting their
 * URL-encoded spelling as text would leave the lengths inside wrong, so they are decoded, rewritten as a value
 * and encoded again — only when re-encoding the original reproduces it byte for byte in one of PHP's two styles.
 */

/** PHP's urlencode() (space as '+', keeps A-Z a-z 0-9 - _ .) and rawurlencode() (space as %20, also keeps ~). */
export type PercentStyle = 'urlencode' | 'rawurlencode';

const ENCODED = /^[A-Za-z0-9%+._~-]+$/;

function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

function keeps(b: number, style: PercentStyle): boolean {
  const alnum = (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a);
  return alnum || b === 0x2d || b === 0x5f || b === 0x2e || (style === 'rawurlencode' && b === 0x7e);
}

export function percentDecode(buf: Buffer, style: PercentStyle): Buffer | null {
  const out: number[] = [];
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i];
    if (b === 0x25) {
      if (i + 2 >= buf.length || !isHex(buf[i + 1]) || !isHex(buf[i + 2])) return null;
      out.push(parseInt(buf.toString('latin1', i + 1, i + 3), 16));
      i += 2;
    } else out.push(style === 'urlencode' && b === 0x2b ? 0x20 : b);
  }
  return Buffer.from(out);
}

export function percentEncode(buf: Buffer, style: PercentStyle): Buffer {
  let s = '';
  for (const b of buf) {
    if (keeps(b, style)) s += String.fromCharCode(b);
    else if (b === 0x20 && style === 'urlencode') s += '+';
    else s += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return Buffer.from(s, 'latin1');
}

/** The decoded bytes and the style that reproduces `core` exactly, when `core` is a whole percent-encoded value. */
export function decodeExactly(core: Buffer): { decoded: Buffer; style: PercentStyle } | null {
  if (core.indexOf(0x25) < 0 || !ENCODED.test(core.toString('latin1'))) return null;
  for (const style of ['urlencode', 'rawurlencode'] as const) {
    const decoded = percentDecode(core, style);
    if (decoded && percentEncode(decoded, style).equals(core)) return { decoded, style };
  }
  return null;
}

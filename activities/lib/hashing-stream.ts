/** A pass-through that hashes (SHA-256) and counts what flows through it: an upload's ciphertext, a download's. */
import { createHash } from 'node:crypto';
import { Transform } from 'node:stream';

export function hashing(): { stream: Transform; bytes: () => number; hex: () => string } {
  const hash = createHash('sha256');
  let bytes = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      hash.update(chunk);
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  return { stream, bytes: () => bytes, hex: () => hash.digest('hex') };
}

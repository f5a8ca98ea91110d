/**
 * Drover's DataConverter for every Temporal client and worker: the AES-256-GCM payload codec (lib/payload-codec.ts)
 * and the failure converter that encodes failure messages (lib/failure-converter.ts).
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { DataConverter } from '@temporalio/common';
import type { CodecEnv } from './env';
import { codecFromEnv } from './payload-codec';

/**
 * The failure converter's module, which the SDK `require`s outside the sandbox and webpack bundles inside it:
 * the compiled one beside this file (dist/lib/), or, when this file runs from the sources (tests), the one
 * `npm run build` wrote to dist/lib/.
 */
export function failureConverterPath(): string {
  const beside = path.join(__dirname, 'failure-converter.js');
  if (existsSync(beside)) return beside;
  const built = path.resolve(__dirname, '..', 'dist', 'lib', 'failure-converter.js');
  if (existsSync(built)) return built;
  throw new Error(`${built} is missing: run npm run build`);
}

export function droverDataConverter(env: CodecEnv): DataConverter {
  return { payloadCodecs: [codecFromEnv(env)], failureConverterPath: failureConverterPath() };
}

/** Drover's root folder and version from package.json, found from sources (ts) and from the build (dist/) alike. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The repository root (where Drover's package.json is), from sources and from dist/ alike. */
export function droverRoot(): string {
  for (let dir = __dirname; dir !== path.dirname(dir); dir = path.dirname(dir)) {
    const f = path.join(dir, 'package.json');
    if (existsSync(f) && (JSON.parse(readFileSync(f, 'utf8')) as { name?: string }).name === 'drover') return dir;
  }
  return process.cwd();
}

export function droverVersion(): string {
  const f = path.join(droverRoot(), 'package.json');
  return existsSync(f) ? ((JSON.parse(readFileSync(f, 'utf8')) as { version?: string }).version ?? '0.0.0') : '0.0.0';
}

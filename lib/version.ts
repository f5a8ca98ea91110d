/** Drover's version from package.json, found from sources (ts) and from the build (dist/) alike. */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

export function droverVersion(): string {
  for (const up of ['..', '../..']) {
    const f = path.resolve(__dirname, up, 'package.json');
    if (existsSync(f)) {
      const pkg = JSON.parse(readFileSync(f, 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'drover') return pkg.version ?? '0.0.0';
    }
  }
  return '0.0.0';
}

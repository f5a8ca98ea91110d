/**
 * Where the restore worker finds drover-packs (lib/tool-path.ts): the first executable of that name on PATH (the
 * worker image's /usr/local/bin), else in Drover's cache folder (DROVER_BIN_DIR, where scripts/install.sh builds it);
 * a file of that name that is not executable is passed over.
 */
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { toolPath } from '../../lib/tool-path';
import { scratchDir } from '../helpers/scratch';

const saved = { PATH: process.env.PATH, DROVER_BIN_DIR: process.env.DROVER_BIN_DIR };
afterEach(() => {
  process.env.PATH = saved.PATH;
  if (saved.DROVER_BIN_DIR === undefined) delete process.env.DROVER_BIN_DIR;
  else process.env.DROVER_BIN_DIR = saved.DROVER_BIN_DIR;
});

function program(dir: string, name: string, mode = 0o755): string {
  mkdirSync(dir, { recursive: true });
  const file = path.join(dir, name);
  writeFileSync(file, '#!/bin/sh\n');
  chmodSync(file, mode);
  return file;
}

describe('toolPath', () => {
  it('takes PATH first, then the cache folder, and passes over what is not executable', () => {
    const root = scratchDir('tool-path-');
    const [a, b, cache] = ['a', 'b', 'cache'].map((d) => path.join(root, d));
    process.env.DROVER_BIN_DIR = cache;
    process.env.PATH = `${a}:${b}`;
    expect(toolPath('drover-packs')).toBeNull();
    const cached = program(cache, 'drover-packs');
    expect(toolPath('drover-packs')).toBe(cached);
    program(a, 'drover-packs', 0o644);
    const onPath = program(b, 'drover-packs');
    expect(toolPath('drover-packs')).toBe(onPath);
    expect(toolPath('drover-packs-other')).toBeNull();
  });
});

/**
 * Where Drover's Go-built programs are: on PATH (the worker image installs them there), else in Drover's cache folder
 * (`DROVER_BIN_DIR`, by default ~/.cache/drover/bin), where scripts/install.sh and the local environment build them.
 */
import { accessSync, constants } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** Drover's cache folder for the Go-built programs. */
export function binCacheDir(): string {
  return process.env.DROVER_BIN_DIR ?? path.join(os.homedir(), '.cache', 'drover', 'bin');
}

function executable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The program `name`: the first executable of that name on PATH, else in the cache folder; null when neither has it. */
export function toolPath(name: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    // A relative entry would depend on the worker's working folder: passed over.
    if (path.isAbsolute(dir) && executable(path.join(dir, name))) return path.join(dir, name);
  }
  const cached = path.join(binCacheDir(), name);
  return executable(cached) ? cached : null;
}

/**
 * Private folders under the temporary folder for tests, each removed when it is no longer needed: one made inside a
 * test (its `beforeEach` and `afterEach` included) when that test ends, one made outside a test (at a file's top, in a
 * `describe`, in `beforeAll` or `afterAll`) once the file has ended, after its own `afterAll` hooks
 * (test/helpers/scratch-teardown.ts, a setup file of every project). Tests put keys, passwords and whole docroots in
 * them. A file that fails to load has no `afterAll`: the folders it made at its top go when the next file ends.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { onTestFinished } from 'vitest';

/** Folders made outside a test, not yet removed. */
const fileScoped = new Set<string>();

/** A new private folder (mode 0700) named `<tmp>/<prefix>XXXXXX`; see the module comment for when it goes. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  try {
    onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  } catch {
    // Not inside a test (onTestFinished refuses): the file's folders outlive each of its tests.
    fileScoped.add(dir);
  }
  return dir;
}

/** Removes the folders made outside a test so far: at the end of each test file. */
export function removeFileScratchDirs(): void {
  for (const dir of fileScoped) rmSync(dir, { recursive: true, force: true });
  fileScoped.clear();
}

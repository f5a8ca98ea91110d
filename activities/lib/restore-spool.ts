/**
 * The private folders a restore keeps objects in on the restore worker's disk (a checked object before it is
 * decrypted, a deduplicated point's packs): worker folders (worker-folders.ts), so a worker starting up removes those
 * of workers of the same host that are gone (killed mid-restore, run outside a container: their folders would stay and
 * eat the room later restores need). Room is promised to downloads in flight, so restores running at once (a farm
 * recovery, a site's database and files side by side) do not each count the same free space.
 */
import { statfsSync } from 'node:fs';
import { workerFolder, workerFolderPrefix } from './worker-folders';

/** What every spool folder of `kind` made by this process starts with. */
export function spoolPrefix(kind: 'object' | 'packs'): string {
  return workerFolderPrefix(`restore-${kind}`);
}

/** A new private folder (mode 0700) for `kind`, under the worker's temporary folder. */
export function spoolFolder(kind: 'object' | 'packs'): string {
  return workerFolder(`restore-${kind}`);
}

/** Free bytes on the file system of `dir` (Infinity when it cannot be read). */
export function freeBytes(dir: string): number {
  try {
    const s = statfsSync(dir);
    return s.bavail * s.bsize;
  } catch {
    return Infinity;
  }
}

/** Bytes promised to downloads in flight in this process, not yet on the disk. */
let promised = 0;

/**
 * Promises `bytes` of the file system of `dir` to a download when it has them and `reserveBytes` to spare beside
 * what is already promised; returns the release (call it once the download has ended, written or not), or null
 * when there is not room (or the file system cannot be read).
 */
export function promiseRoom(dir: string, bytes: number, reserveBytes: number): (() => void) | null {
  const free = freeBytes(dir);
  if (!Number.isFinite(free) || !Number.isFinite(bytes) || bytes + reserveBytes + promised > free) return null;
  promised += bytes;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    promised -= bytes;
  };
}

/**
 * The private folders a restore keeps objects in on the restore worker's disk (a checked object before it is
 * decrypted, a deduplicated point's packs). Each is named with the worker's PID, so a worker starting up removes
 * those of workers that are gone (killed mid-restore, their folders would stay forever and eat the room later
 * restores need) and never one of a worker still running. Room is promised to downloads in flight, so restores
 * running at once (a farm recovery, a site's database and files side by side) do not each count the same free space.
 */
import { mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const PREFIX = 'drover-restore-';

/** A new private folder (mode 0700) for `kind`, under the worker's temporary folder. */
export function spoolFolder(kind: 'object' | 'packs', dir = os.tmpdir()): string {
  return mkdtempSync(path.join(dir, `${PREFIX}${kind}-${process.pid}-`));
}

function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: a process of another user has that PID, alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Removes the spool folders of workers no longer running; returns how many. Never fails (a start-up tidy-up). */
export function removeStaleSpools(dir = os.tmpdir()): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^drover-restore-(?:object|packs)-(\d+)-/.exec(name);
    if (!m || Number(m[1]) === process.pid || running(Number(m[1]))) continue;
    try {
      rmSync(path.join(dir, name), { recursive: true, force: true });
      removed++;
    } catch {
      // Not ours to remove after all (another user's): left.
    }
  }
  return removed;
}

/** Bytes promised to downloads in flight in this process, not yet on the disk. */
let promised = 0;

/**
 * Promises `bytes` of the file system of `dir` to a download when it has them and `reserveBytes` to spare beside
 * what is already promised; returns the release (call it once the download has ended, written or not), or null
 * when there is not room (or the file system cannot be read).
 */
export function promiseRoom(dir: string, bytes: number, reserveBytes: number): (() => void) | null {
  let free: number;
  try {
    const st = statfsSync(dir);
    free = st.bavail * st.bsize;
  } catch {
    return null;
  }
  if (!Number.isFinite(bytes) || bytes + reserveBytes + promised > free) return null;
  promised += bytes;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    promised -= bytes;
  };
}

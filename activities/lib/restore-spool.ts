/**
 * The private folders a restore keeps objects in on the restore worker's disk (a checked object before it is
 * decrypted, a deduplicated point's packs). Each is named with the worker's host name and PID, so a worker starting
 * up removes those of workers of the same host that are gone (killed mid-restore, run outside a container: their
 * folders would stay and eat the room later restores need) and never one of a worker still running, nor one of
 * another host or container sharing the folder (its PIDs are not this one's to judge). Room is promised to downloads
 * in flight, so restores running at once (a farm recovery, a site's database and files side by side) do not each
 * count the same free space.
 */
import { mkdtempSync, readdirSync, rmSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The host name as it can stand in a folder name (no `-`: the name's fields are split on it). */
const HOST = os.hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';

/** What every spool folder of `kind` made by this process starts with. */
export function spoolPrefix(kind: 'object' | 'packs', pid = process.pid): string {
  return `drover-restore-${kind}-${HOST}-${pid}-`;
}

/** A new private folder (mode 0700) for `kind`, under the worker's temporary folder. */
export function spoolFolder(kind: 'object' | 'packs', dir = os.tmpdir()): string {
  return mkdtempSync(path.join(dir, spoolPrefix(kind)));
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

/** Removes this host's spool folders of workers no longer running; returns how many. Never fails (a start-up tidy-up). */
export function removeStaleSpools(dir = os.tmpdir()): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = /^drover-restore-(?:object|packs)-([A-Za-z0-9._]+)-(\d+)-[A-Za-z0-9]+$/.exec(name);
    if (!m || m[1] !== HOST) continue;
    const pid = Number(m[2]);
    if (pid === process.pid || running(pid)) continue;
    try {
      rmSync(path.join(dir, name), { recursive: true, force: true });
      removed++;
    } catch {
      // Not ours to remove after all (another user's): left.
    }
  }
  return removed;
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

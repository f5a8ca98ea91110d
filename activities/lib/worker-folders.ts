/**
 * The private folders a worker keeps on its disk while a step runs: a restore's checked object and its packs
 * (restore-spool.ts), and the options files MariaDB's clients read the database password from (mariadb-options-file.ts).
 * Each is named with its kind, the worker's host name and its PID, so a worker starting up removes those of workers of
 * the same host that are gone (killed mid-step: nothing else would ever remove them; an options file left so would
 * keep the database password on the disk) and never one of a worker still running, nor one of another host or
 * container sharing the folder (its PIDs are not this one's to judge).
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What a folder is for: a restore's spool (checked object, packs), or a MariaDB client's options (load, dump, migration load). */
export type WorkerFolderKind = 'restore-object' | 'restore-packs' | 'load' | 'dump' | 'migrate-load';
export const WORKER_FOLDER_KINDS: readonly WorkerFolderKind[] = ['restore-object', 'restore-packs', 'load', 'dump', 'migrate-load'];

/** The host name as it can stand in a folder name (no `-`: the name's fields are split on it). */
const HOST = os.hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';

/** What every folder of `kind` made by the process `pid` (this one by default) starts with. */
export function workerFolderPrefix(kind: WorkerFolderKind, pid = process.pid): string {
  return `drover-${kind}-${HOST}-${pid}-`;
}

/** A new private folder (mode 0700) of `kind`, under the worker's temporary folder. */
export function workerFolder(kind: WorkerFolderKind, dir = os.tmpdir()): string {
  return mkdtempSync(path.join(dir, workerFolderPrefix(kind)));
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

const NAME = new RegExp(`^drover-(?:${WORKER_FOLDER_KINDS.join('|')})-([A-Za-z0-9._]+)-(\\d+)-[A-Za-z0-9]+$`);

/** Removes this host's worker folders of workers no longer running; returns how many. Never fails (a start-up tidy-up). */
export function removeStaleWorkerFolders(dir = os.tmpdir()): number {
  let removed = 0;
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return 0;
  }
  for (const name of names) {
    const m = NAME.exec(name);
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

/**
 * The private folders a worker keeps on its disk while a step runs: a restore's checked object and its packs
 * (restore-spool.ts), and the options files MariaDB's clients read the database password from (mariadb-options-file.ts).
 * Each is named with its kind, the worker's host name, its PID and the process's start time, so a worker starting up
 * removes those of workers of the same host that are gone (killed mid-step: nothing else would ever remove them; an
 * options file left so would keep the database password on the disk). A folder is a live worker's while a process
 * with its PID and start time runs: a worker whose container restarted (the same host name and `/tmp`, its PIDs
 * counted again from 1) gets its killed self's PID back but not its start time. Never one of another host name (a
 * container sharing the folder: its PIDs are not this one's to judge).
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** What a folder is for: a restore's spool (checked object, packs), or a MariaDB client's options (load, dump, migration load). */
export type WorkerFolderKind = 'restore-object' | 'restore-packs' | 'load' | 'dump' | 'migrate-load';
export const WORKER_FOLDER_KINDS: readonly WorkerFolderKind[] = ['restore-object', 'restore-packs', 'load', 'dump', 'migrate-load'];

/** The host name as it can stand in a folder name (no `-`: the name's fields are split on it). */
export const HOST = os.hostname().replace(/[^A-Za-z0-9.]/g, '_') || 'host';

/**
 * The start time of process `pid` (clock ticks after boot), or null when it is not running or unknown: the 22nd field
 * of /proc/<pid>/stat, counted after the command's closing parenthesis (a command may hold spaces and parentheses).
 */
export function startTime(pid: number): string | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

const OWN_START = startTime(process.pid) ?? '0';

/** What every folder of `kind` made on this host by the process `pid` started at `start` starts with. */
export function workerFolderPrefixOf(kind: WorkerFolderKind, pid: number, start: string): string {
  return `drover-${kind}-${HOST}-${pid}_${start}-`;
}

/** What every folder of `kind` made by this process starts with. */
export function workerFolderPrefix(kind: WorkerFolderKind): string {
  return workerFolderPrefixOf(kind, process.pid, OWN_START);
}

/** A new private folder (mode 0700) of `kind`, under the worker's temporary folder. */
export function workerFolder(kind: WorkerFolderKind, dir = os.tmpdir()): string {
  return mkdtempSync(path.join(dir, workerFolderPrefix(kind)));
}

const NAME = new RegExp(`^drover-(${WORKER_FOLDER_KINDS.join('|')})-([A-Za-z0-9._]+)-(\\d+)(?:_(\\d+))?-[A-Za-z0-9]+$`);

/** Whose a folder is by its name: kind, host, PID and start time (null in names from before the start time). */
export function workerFolderOwner(name: string): { kind: WorkerFolderKind; host: string; pid: number; start: string | null } | null {
  const m = NAME.exec(name);
  return m ? { kind: m[1] as WorkerFolderKind, host: m[2], pid: Number(m[3]), start: m[4] ?? null } : null;
}

function running(pid: number, start: string | null): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    // EPERM: a process of another user has that PID, alive (and not ours to judge further).
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // Alive: the same process only if it started when the folder's maker did (when both are known).
  const now = startTime(pid);
  return start === null || now === null || now === start;
}

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
    const owner = workerFolderOwner(name);
    if (!owner || owner.host !== HOST || running(owner.pid, owner.start)) continue;
    try {
      rmSync(path.join(dir, name), { recursive: true, force: true });
      removed++;
    } catch {
      // Not ours to remove after all (another user's): left.
    }
  }
  return removed;
}

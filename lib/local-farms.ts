/**
 * Local farms (`drover up --provider local`) seen from their folders: each node's daemons (sshd, containerd,
 * dockerd) write pid files under `<nodes dir>/<farm>/<node>/`. Used by the local provider's activities to stop a
 * node, and by `drover dev down` to say which farms it leaves running.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';

const DAEMONS = ['sshd.pid', 'containerd.pid', 'dockerd.pid'];

/** The pid in `file` when that process is alive, else null (the file missing, or the process gone). */
export function pidAlive(file: string): number | null {
  let pid: number;
  try {
    // A daemon deletes its pid file as it exits: the file may vanish between any two looks at it.
    pid = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return null;
  }
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (err) {
    // EPERM: alive, and another user's (a farm root started, looked at by someone else).
    return (err as NodeJS.ErrnoException).code === 'EPERM' ? pid : null;
  }
}

const dirs = (dir: string): string[] => {
  try {
    return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name).sort();
  } catch {
    return [];
  }
};

/** Every local farm under `nodesDir` with at least one node whose daemons still run, and those nodes. */
export function runningLocalFarms(nodesDir: string): { farm: string; nodes: string[] }[] {
  const out: { farm: string; nodes: string[] }[] = [];
  for (const farm of dirs(nodesDir)) {
    const nodes = dirs(path.join(nodesDir, farm)).filter((n) => DAEMONS.some((d) => pidAlive(path.join(nodesDir, farm, n, d)) !== null));
    if (nodes.length) out.push({ farm, nodes });
  }
  return out;
}

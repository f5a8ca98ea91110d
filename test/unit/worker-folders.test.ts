/**
 * A worker's private folders (a restore's spool, a MariaDB client's options file): those of a gone worker of this
 * host are removed when a worker starts, never a running one's, this worker's, another host's or an unknown kind's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useScratchDirs } from '../helpers/scratch';
import { removeStaleWorkerFolders, WORKER_FOLDER_KINDS, workerFolder, workerFolderPrefix } from '../../activities/lib/worker-folders';

const scratch = useScratchDirs('worker-folders-test-');

describe('worker folders', () => {
  it("removes a gone worker's folders of every kind, never a running one's, this worker's, another host's or another kind's", () => {
    const dir = scratch();
    // A PID that was a process and is no longer one.
    const gone = Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
    const stale = WORKER_FOLDER_KINDS.map((kind) => path.join(dir, `${workerFolderPrefix(kind, gone)}abc123`));
    const parent = path.join(dir, `${workerFolderPrefix('restore-packs', process.ppid)}ghi789`);
    const parentOptions = path.join(dir, `${workerFolderPrefix('load', process.ppid)}mno345`);
    const other = path.join(dir, `drover-restore-notes-${gone}-x`);
    const unknownKind = path.join(dir, `drover-access-${os.hostname().replace(/[^A-Za-z0-9.]/g, '_')}-${gone}-pqr678`);
    // Another host's (or container's) folder: its PIDs are not this host's to judge.
    const elsewhere = path.join(dir, `drover-load-${os.hostname() === 'elsewhere' ? 'other' : 'elsewhere'}-${gone}-jkl012`);
    for (const d of [...stale, parent, parentOptions, other, unknownKind, elsewhere]) mkdirSync(d);
    // A killed load's options file: the database password, left on the disk.
    writeFileSync(path.join(stale[WORKER_FOLDER_KINDS.indexOf('load')], 'client.cnf'), '[client]\npassword="sécret"\n', { mode: 0o600 });
    const own = workerFolder('load', dir);
    expect(path.basename(own).startsWith(workerFolderPrefix('load'))).toBe(true);
    expect(statSync(own).mode & 0o777).toBe(0o700);
    expect(removeStaleWorkerFolders(dir)).toBe(stale.length);
    expect(stale.map((d) => existsSync(d))).toEqual(stale.map(() => false));
    expect([parent, parentOptions, other, unknownKind, elsewhere, own].map((d) => existsSync(d))).toEqual([true, true, true, true, true, true]);
  });
});

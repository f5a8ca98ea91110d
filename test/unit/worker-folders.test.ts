/**
 * A worker's private folders (a restore's spool, a MariaDB client's options file): those of a gone worker of this
 * host are removed when a worker starts, a worker whose PID came back in a restarted container (another start time)
 * included; never a running one's, this worker's, another host's or an unknown kind's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/scratch';
import { ROOT } from '../helpers/paths';
import { HOST, removeStaleWorkerFolders, startTime, WORKER_FOLDER_KINDS, workerFolder, workerFolderOwner, workerFolderPrefix, workerFolderPrefixOf } from '../../activities/lib/worker-folders';

describe('worker folders', () => {
  it("removes a gone worker's folders of every kind, never a running one's, this worker's, another host's or another kind's", () => {
    const dir = scratchDir('worker-folders-test-');
    // A PID that was a process and is no longer one.
    const gone = Number(spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim());
    const parentStart = startTime(process.ppid)!;
    expect(parentStart).toMatch(/^\d+$/);
    const stale = WORKER_FOLDER_KINDS.map((kind) => path.join(dir, `${workerFolderPrefixOf(kind, gone, '12345')}abc123`));
    // The running parent's PID with another start time: a killed worker whose restarted container gave the PID again.
    const reused = path.join(dir, `${workerFolderPrefixOf('load', process.ppid, String(Number(parentStart) + 1))}stu901`);
    // Named before start times were (host and PID only): judged by the PID alone.
    const legacyGone = path.join(dir, `drover-restore-packs-${HOST}-${gone}-vwx234`);
    const legacyRunning = path.join(dir, `drover-restore-packs-${HOST}-${process.ppid}-yza567`);
    const parent = path.join(dir, `${workerFolderPrefixOf('restore-packs', process.ppid, parentStart)}ghi789`);
    const parentOptions = path.join(dir, `${workerFolderPrefixOf('load', process.ppid, parentStart)}mno345`);
    const other = path.join(dir, `drover-restore-notes-${gone}-x`);
    const unknownKind = path.join(dir, `drover-access-${HOST}-${gone}_1-pqr678`);
    // Another host's (or container's) folder: its PIDs are not this host's to judge.
    const elsewhere = path.join(dir, `drover-load-${HOST === 'elsewhere' ? 'other' : 'elsewhere'}-${gone}_1-jkl012`);
    for (const d of [...stale, reused, legacyGone, legacyRunning, parent, parentOptions, other, unknownKind, elsewhere]) mkdirSync(d);
    // A killed load's options file: the database password, left on the disk.
    writeFileSync(path.join(stale[WORKER_FOLDER_KINDS.indexOf('load')], 'client.cnf'), '[client]\npassword="sécret"\n', { mode: 0o600 });
    const own = workerFolder('load', dir);
    expect(path.basename(own).startsWith(workerFolderPrefix('load'))).toBe(true);
    expect(workerFolderOwner(path.basename(own))).toEqual({ kind: 'load', host: HOST, pid: process.pid, start: startTime(process.pid) });
    expect(statSync(own).mode & 0o777).toBe(0o700);
    expect(removeStaleWorkerFolders(dir)).toBe(stale.length + 2);
    expect([...stale, reused, legacyGone].map((d) => existsSync(d))).toEqual([...stale, reused, legacyGone].map(() => false));
    expect([legacyRunning, parent, parentOptions, other, unknownKind, elsewhere, own].map((d) => existsSync(d))).toEqual([true, true, true, true, true, true, true]);
  });

  it('names, and on its next start removes, the folders of a killed worker whose host name is as long as the kernel allows (64)', () => {
    const dir = scratchDir('worker-folders-test-');
    // A container's host name of 64 characters (Linux's most), dashes and dots in it, in a UTS namespace of its own.
    const host = `restore-worker-${'a1b2c3d4'.repeat(4)}.farm-tor1.x`.padEnd(64, 'z');
    expect(host).toHaveLength(64);
    // Each worker is the module's source run by vite-node in a user and UTS namespace of its own (root not needed) whose
    // host name is `host`.
    const scripts = scratchDir('worker-folders-scripts-');
    const onHost = (name: string, body: string) => {
      const script = path.join(scripts, `${name}.ts`);
      writeFileSync(script, `import * as w from ${JSON.stringify(path.join(ROOT, 'activities/lib/worker-folders.ts'))};\n${body}\n`);
      const r = spawnSync('unshare', ['-r', '-u', 'sh', '-c', 'hostname "$1" && exec "$2" "$3" "$4"', 'sh', host, process.execPath, path.join(ROOT, 'node_modules/vite-node/vite-node.mjs'), script], { encoding: 'utf8' });
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim();
    };
    // A worker on that host makes a folder of every kind and ends without removing them (killed mid-step).
    const made: string[] = JSON.parse(onHost('killed', `console.log(JSON.stringify(w.WORKER_FOLDER_KINDS.map((k) => w.workerFolder(k, ${JSON.stringify(dir)}))));`));
    expect(made).toHaveLength(WORKER_FOLDER_KINDS.length);
    for (const [i, d] of made.entries()) {
      // Made (mkdtemp would have failed past a file name's 255 bytes) and read back whole: the host as it was (its dashes
      // made underscores), a PID and a start time.
      expect(workerFolderOwner(path.basename(d))).toMatchObject({ kind: WORKER_FOLDER_KINDS[i], host: host.replace(/-/g, '_'), pid: expect.any(Number), start: expect.stringMatching(/^\d+$/) });
    }
    // This host's worker leaves them (another host's, as a container sharing the folder would have); the next worker on that host removes them all.
    expect(removeStaleWorkerFolders(dir)).toBe(0);
    expect(onHost('next', `console.log(w.removeStaleWorkerFolders(${JSON.stringify(dir)}));`)).toBe(String(made.length));
    expect(made.filter((d) => existsSync(d))).toEqual([]);
  });
});

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statfsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { useScratchDirs } from '../helpers/scratch';
import { promiseRoom, removeStaleSpools, spoolFolder, spoolPrefix } from '../../activities/lib/restore-spool';

const scratch = useScratchDirs('spool-test-');

describe('restore spool folders', () => {
  it("removes a gone worker's folders, never a running one's or this worker's", () => {
    const dir = scratch();
    // A PID that was a process and is no longer one.
    const gone = spawnSync('sh', ['-c', 'echo $$'], { encoding: 'utf8' }).stdout.trim();
    const stale = path.join(dir, `${spoolPrefix('object', Number(gone))}abc123`);
    const stalePacks = path.join(dir, `${spoolPrefix('packs', Number(gone))}def456`);
    const parent = path.join(dir, `${spoolPrefix('packs', process.ppid)}ghi789`);
    const other = path.join(dir, `drover-restore-notes-${gone}-x`);
    // Another host's (or container's) folder: its PIDs are not this host's to judge.
    const elsewhere = path.join(dir, `drover-restore-object-${os.hostname() === 'elsewhere' ? 'other' : 'elsewhere'}-${gone}-jkl012`);
    for (const d of [stale, stalePacks, parent, other, elsewhere]) mkdirSync(d);
    const own = spoolFolder('object', dir);
    expect(path.basename(own).startsWith(spoolPrefix('object'))).toBe(true);
    expect(removeStaleSpools(dir)).toBe(2);
    expect([stale, stalePacks, parent, other, elsewhere, own].map((d) => existsSync(d))).toEqual([false, false, true, true, true, true]);
  });

  it('promises room to downloads in flight: two that each fit, but not together, are not both let through', () => {
    const dir = scratch();
    const st = statfsSync(dir);
    const free = st.bavail * st.bsize;
    const half = Math.floor(free * 0.6);
    const first = promiseRoom(dir, half, 0);
    expect(first).not.toBeNull();
    expect(promiseRoom(dir, half, 0)).toBeNull();
    first!();
    first!(); // released once only
    const again = promiseRoom(dir, half, 0);
    expect(again).not.toBeNull();
    again!();
    expect(promiseRoom(dir, 1, free)).toBeNull(); // the reserve counts
    expect(promiseRoom(dir, Infinity, 0)).toBeNull(); // a size the store did not give
    expect(promiseRoom(path.join(dir, 'missing'), 1, 0)).toBeNull();
  });
});

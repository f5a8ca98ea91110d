import { statfsSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { scratchDir } from '../helpers/scratch';
import { promiseRoom } from '../../activities/lib/restore-spool';

describe('restore spool folders', () => {
  it('promises room to downloads in flight: two that each fit, but not together, are not both let through', () => {
    const dir = scratchDir('spool-test-');
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

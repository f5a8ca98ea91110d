/**
 * The command a files extraction runs first (stopEarlierExtracts): an earlier attempt's `tar` into the same staging
 * folder is killed and waited for; one that outlives every SIGKILL (stuck in the kernel on a hung disk or mount)
 * ends the command with EXTRACT_WOULD_NOT_STOP, which the step reports StepStalled (retried), not a permanent
 * RemoteCommandFailed. Run by the real bash, with the real `kill` and `pgrep`; the unkillable extract is a
 * `pgrep` on PATH that keeps finding one (a process in D state cannot be made on purpose here).
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { EXTRACT_WOULD_NOT_STOP, stopEarlierExtracts } from '../../activities/storage-restore';
import { scratchDir } from '../helpers/scratch';

const dir = scratchDir('drover-stop-extract-');

describe('stopping an earlier extract', () => {
  it('kills a running tar into the same staging folder (only that one) and goes on', async () => {
    const staging = path.join(dir, 'site one (ü).drover-staging');
    const other = path.join(dir, 'site two.drover-staging');
    mkdirSync(staging);
    mkdirSync(other);
    // Two extracts waiting on their stdin, as an attempt's tar does while its worker is gone.
    const mine = spawn('tar', ['-C', staging, '--numeric-owner', '-xf', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const theirs = spawn('tar', ['-C', other, '--numeric-owner', '-xf', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
    const mineEnded = new Promise<NodeJS.Signals | null>((r) => mine.once('exit', (_c, s) => r(s)));
    try {
      const r = spawnSync('bash', ['-c', stopEarlierExtracts(staging, 5)], { encoding: 'utf8' });
      expect([r.status, r.stderr]).toEqual([0, '']);
      expect(await mineEnded).toBe('SIGKILL');
      expect(theirs.exitCode).toBeNull();
    } finally {
      theirs.kill('SIGKILL');
      mine.kill('SIGKILL');
    }
  });

  it('an extract that will not die ends the command with its own status and words, within the wait given', () => {
    const bin = path.join(dir, 'bin');
    mkdirSync(bin, { recursive: true });
    // Always finds the extract; the PID is of no process, so kill fails as it does on one stuck in D state.
    writeFileSync(path.join(bin, 'pgrep'), '#!/bin/sh\necho 4194000\n');
    chmodSync(path.join(bin, 'pgrep'), 0o755);
    const staging = '/srv/drover/sites/stuck.example.com/htdocs.drover-staging';
    const started = Date.now();
    const r = spawnSync('bash', ['-c', stopEarlierExtracts(staging, 1)], { encoding: 'utf8', env: { ...process.env, PATH: `${bin}:${process.env.PATH}` } });
    expect(r.status).toBe(EXTRACT_WOULD_NOT_STOP);
    expect(r.stderr.trim()).toBe(`an earlier extract into ${staging} would not stop, even killed: stuck on its disk or mount`);
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

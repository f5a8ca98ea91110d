/**
 * `--perf DIR` for the benches: the whole machine sampled by `perf record` (cpu-clock, 499 Hz, every CPU, call
 * graphs) while a timed phase runs, into DIR/<phase>.data. `perf report -i DIR/<phase>.data --sort comm -g none`
 * gives each program's share. A worker started with `workerPerfFlags` (--perf-basic-prof) has its JavaScript
 * functions named in the profile.
 */
import { spawn } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { text } from './args';

const PERF_DIR = text('perf');
export const workerPerfFlags = PERF_DIR ? ['--perf-basic-prof'] : [];

/** Runs `fn`, sampled into DIR/<phase>.data with `--perf DIR`; without it, just `fn`. */
export async function perfRecorded<T>(phase: string, fn: () => Promise<T>): Promise<T> {
  if (!PERF_DIR) return fn();
  mkdirSync(PERF_DIR, { recursive: true });
  const perf = spawn('perf', ['record', '-a', '-g', '-F', '499', '-e', 'cpu-clock', '-o', path.join(PERF_DIR, `${phase}.data`)], { stdio: 'ignore' });
  const ended = new Promise((r) => perf.once('exit', r));
  await sleep(500);
  try {
    return await fn();
  } finally {
    perf.kill('SIGINT');
    await ended;
  }
}

/**
 * One real activity in a worker process of its own (test/helpers/activity-child.ts, bundled once per test file so a
 * process starts in a second, not ten through a TS loader): for crash tests, which arm a fault point with
 * DROVER_FAULT_CRASH_AT so the process SIGKILLs itself between two commands of the step, and for stalled attempts.
 */
import { execFileSync, spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { ROOT, TEST_STATE_DIR } from './paths';

let bundled: string | undefined;

/** The bundled activity-child script (built on first use). */
export function activityChildScript(): string {
  if (bundled) return bundled;
  const out = path.join(TEST_STATE_DIR, 'activity-child.cjs');
  execFileSync(path.join(ROOT, 'node_modules/.bin/esbuild'), [path.join(ROOT, 'test/helpers/activity-child.ts'), '--bundle', '--platform=node', '--packages=external', '--log-level=error', `--outfile=${out}`]);
  return (bundled = out);
}

/** Starts the activity `name` on `input` in its own process with `env` added to this one's; stderr is piped. */
export function spawnActivity(name: string, input: unknown, env: Record<string, string>): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [activityChildScript(), TEST_STATE_DIR, name, JSON.stringify(input)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
}

/** Runs the activity in its own process armed to die at `point`; resolves with its exit signal and stderr. */
function runActivityCrashingAt(name: string, input: unknown, point: string): Promise<{ signal: NodeJS.Signals | null; code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawnActivity(name, input, { DROVER_FAULT_CRASH_AT: point });
    child.stdin.end();
    child.stdout.resume();
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.once('close', (code, signal) => resolve({ signal, code, stderr }));
  });
}

/** As runActivityCrashingAt, failing unless the process died at `point` (SIGKILL after the point's message). */
export async function crashActivityAt(point: string, name: string, input: unknown): Promise<void> {
  const { signal, code, stderr } = await runActivityCrashingAt(name, input, point);
  if (signal !== 'SIGKILL' || !stderr.includes(`crashing at ${point}`)) throw new Error(`${name} did not crash at ${point} (exit ${code}, ${signal}): ${stderr.slice(-800)}`);
}

/** Runs the built `drover` CLI (dist/, as users run it) against the test environment. */
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from './paths';

export const CLI = path.join(ROOT, 'dist', 'client', 'cli.js');

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
  json: () => Record<string, unknown>;
}

export function drover(args: string[], opts: { env?: Record<string, string>; timeoutMs?: number } = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), ...args], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 300_000);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr, json: () => JSON.parse(stdout) as Record<string, unknown> });
    });
  });
}

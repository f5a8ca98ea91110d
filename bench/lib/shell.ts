/** The benchmarks' one way to run a bash pipeline: strict mode, stderr kept for the error, stdout discarded. */
import { spawn } from 'node:child_process';

export function sh(script: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-euo', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.once('close', (c) => (c === 0 ? resolve() : reject(new Error(`exit ${c}: ${err.slice(-500)}`))));
  });
}

/** Runs a benchmark's main: exit 0 when it ends, 1 with the error on stderr when it fails. */
export function runMain(main: () => Promise<void>): void {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}

/** `--worker`: runs a worker for the queue in this process while a command waits on its workflow. */
import { mergedEnv, parseEnv, workerEnvSchema } from '../lib/env';
import { createDroverWorker, installQuietRuntime } from '../workers/run-worker';
import type { TaskQueueName } from '../workflows/lib/ids';

export async function withOptionalWorker<T>(stateDir: string, queue: TaskQueueName, enabled: boolean, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  installQuietRuntime();
  const { worker, close } = await createDroverWorker(queue, parseEnv(workerEnvSchema, mergedEnv(stateDir)));
  try {
    return await worker.runUntil(fn());
  } finally {
    await close();
  }
}

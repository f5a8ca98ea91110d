import { rootMessage } from '../../lib/contract/failures';

/**
 * Runs a long process's steps as named phases: each sets `progress.phase` (what a progress query shows), and
 * the first to fail is handed to `failed` with its root cause's message, so a failure query names where it
 * stopped even after rollback moved the phase on.
 */
export function phaseRunner(progress: { phase: string }, failed: (phase: string, error: string) => void): <T>(name: string, fn: () => Promise<T>) => Promise<T> {
  return async (name, fn) => {
    progress.phase = name;
    try {
      return await fn();
    } catch (err) {
      failed(name, rootMessage(err as Error));
      throw err;
    }
  };
}

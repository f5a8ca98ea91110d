/**
 * A bounded window over many items (child workflows, usually): at most `concurrency` run at once, and no new one
 * starts once `rest()` says so (a budget reached, continue-as-new suggested). Returns the items never started, for
 * the next run. `run` must settle without throwing: it records its own outcome.
 */
export async function runWindow<T>(items: T[], concurrency: number, run: (item: T) => Promise<void>, rest: () => boolean = () => false): Promise<T[]> {
  const pending = [...items];
  const running = new Map<number, Promise<number>>();
  let next = 0;
  while (pending.length || running.size) {
    while (!rest() && running.size < concurrency && pending.length) {
      const id = next++;
      running.set(id, run(pending.shift()!).then(() => id));
    }
    if (!running.size) break;
    running.delete(await Promise.race(running.values()));
  }
  return pending;
}

/** The innermost failure's type and message (child → activity → application failure). */
export function rootMessage(err: Error): string {
  let e: Error & { type?: string } = err;
  while (e.cause instanceof Error) e = e.cause;
  return e.type ? `${e.type}: ${e.message}` : e.message;
}

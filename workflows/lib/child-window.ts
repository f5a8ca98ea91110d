/**
 * A bounded window over many items (child workflows, usually): at most `concurrency` run at once, and no new one
 * starts once `rest(settled)` says so (a budget of `settled` items reached, continue-as-new suggested); `settled`
 * counts the items this call has seen finish, one per wake-up of the window. Returns the items never started,
 * for the next run. `run` must settle without throwing: it records its own outcome.
 */
export async function runWindow<T>(items: T[], concurrency: number, run: (item: T) => Promise<void>, rest: (settled: number) => boolean = () => false): Promise<T[]> {
  const pending = [...items];
  const running = new Map<number, Promise<number>>();
  let next = 0;
  let settled = 0;
  while (pending.length || running.size) {
    while (!rest(settled) && running.size < concurrency && pending.length) {
      const id = next++;
      running.set(id, run(pending.shift()!).then(() => id));
    }
    if (!running.size) break;
    running.delete(await Promise.race(running.values()));
    settled++;
  }
  return pending;
}

/**
 * Waits for `p` at most `ms`: its value when it fulfils in time, undefined when it rejects or the time passes (the
 * timer cleared either way). For work told to stop, waited for a while before its caller gives up on it.
 */
export async function settledWithin<T>(p: Promise<T>, ms: number): Promise<{ value: T } | undefined> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([p.then((value) => ({ value }), () => undefined), new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), ms)))]);
  } finally {
    clearTimeout(timer);
  }
}

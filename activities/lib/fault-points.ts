/**
 * Fault injection for crash-safety tests: a named point between two commands of a step (a swap, an undo) where a
 * test can make the worker process die at once, as a power cut or an OOM kill would. Off unless the worker was
 * started with DROVER_FAULT_CRASH_AT naming the point (comma-separated for several); production never sets it.
 *
 * Each point fires at most once per worker process and is announced on stderr before the kill, so a test can
 * wait for the message, restart the worker without the switch and check the site is whole.
 */
const armed = new Set(
  (process.env.DROVER_FAULT_CRASH_AT ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean),
);

/** Dies here (SIGKILL, no cleanup, no finally blocks) if this point is armed; otherwise does nothing. */
export function faultPoint(name: string): void {
  if (!armed.has(name)) return;
  armed.delete(name);
  process.stderr.write(`drover fault injection: crashing at ${name}\n`);
  process.kill(process.pid, 'SIGKILL');
}

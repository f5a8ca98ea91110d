/**
 * Fault injection for crash-safety tests: a named point between two commands of a step (a swap, an undo) where a
 * test can make the worker process die at once, as a power cut or an OOM kill would. Off unless the worker was
 * started with DROVER_FAULT_CRASH_AT naming the point (comma-separated for several); production never sets it.
 *
 * Each point fires at most once per worker process and is announced on stderr before the kill, so a test can
 * wait for the message, restart the worker without the switch and check the site is whole.
 * DROVER_FAULT_STALL_AT stretches a step instead (`stallPoint`).
 */
import { Transform } from 'node:stream';

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

/** How long DROVER_FAULT_STALL_AT holds the step `name` (see stallPoint), or 0. */
export function stallMs(name: string): number {
  const spec = (process.env.DROVER_FAULT_STALL_AT ?? '').split(',').find((s) => s.trim().startsWith(`${name}:`));
  const ms = spec ? Number(spec.trim().slice(name.length + 1)) : 0;
  return ms > 0 ? ms : 0;
}

/**
 * A long step on demand, for heartbeat tests: when DROVER_FAULT_STALL_AT names this point as `name:ms` (read at each
 * call, so a test can arm it for one step), the stream returned holds its data for that long after the first chunk,
 * as a large table's INSERTs on a loaded node would; otherwise null (nothing is added to the pipeline).
 */
export function stallPoint(name: string): Transform | null {
  const ms = stallMs(name);
  if (!ms) return null;
  let held = false;
  let timer: NodeJS.Timeout | undefined;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (held) return done(null, chunk);
      held = true;
      process.stderr.write(`drover fault injection: stalling ${name} for ${ms} ms\n`);
      this.push(chunk);
      timer = setTimeout(() => done(), ms);
    },
    destroy(err, done) {
      clearTimeout(timer);
      done(err);
    },
  });
}

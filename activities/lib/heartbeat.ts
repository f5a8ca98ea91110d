/**
 * Heartbeats for long activities. A step that can outlive its heartbeat timeout without heartbeating is a bug:
 * Temporal then starts a retry beside the attempt still running (two loads into one staging database, their
 * DDL queued behind each other in Galera's total order). So long steps heartbeat on a timer, once a second, with
 * their latest progress (bytes streamed, rows loaded), also while a remote command or a single statement shows none.
 */
import { Transform } from 'node:stream';
import { Context } from '@temporalio/activity';
import { failure } from '../../lib/clients/errors';
import { settledWithin } from '../../lib/settled-within';

/** How often the timer heartbeats; well under the shortest heartbeat timeout a test sets (a few seconds). */
export const HEARTBEAT_EVERY_MS = 1_000;

function beat(details: unknown): void {
  // Outside an activity (a CLI helper, a unit test) there is nobody to tell.
  let ctx: Context | undefined;
  try {
    ctx = Context.current();
  } catch {
    return;
  }
  ctx.heartbeat(details);
}

/**
 * Runs `fn` while heartbeating every HEARTBEAT_EVERY_MS with `details()` (the latest progress), and returns its
 * result. Progress counted per chunk read (bytes streamed) only updates what `details()` reads: the timer alone
 * heartbeats. Each heartbeat costs the worker an encode (JSON, the payload codec's AES-GCM, protobuf) and a call into
 * the SDK's core, and the SDK encodes nearly every heartbeat it is given, so one per 32 KiB read was a share of a
 * production night's CPU.
 */
export async function withHeartbeat<T>(details: () => unknown, fn: () => Promise<T>): Promise<T> {
  beat(details());
  const timer = setInterval(() => beat(details()), HEARTBEAT_EVERY_MS);
  try {
    return await fn();
  } catch (err) {
    // A step stopped because its activity was cancelled (its processes killed on the signal) reports the
    // cancellation, not what the stop caused ("mariadb exited null"): the workflow then sees a cancelled step.
    throw cancellationOr(err);
  } finally {
    clearInterval(timer);
  }
}

/**
 * What a step that failed reports: its activity's cancellation when it was cancelled (whatever the cancel made the
 * step fail with: a killed process, an aborted call), else `err` itself.
 */
export function cancellationOr(err: unknown): unknown {
  const signal = activitySignal();
  return signal?.aborted ? (signal.reason ?? err) : err;
}

/** The running activity's cancellation signal, or undefined outside an activity. */
export function activitySignal(): AbortSignal | undefined {
  try {
    return Context.current().cancellationSignal;
  } catch {
    return undefined;
  }
}

/** A pass-through stream that counts the bytes flowing through it (progress for heartbeats). */
export function byteCounter(): Transform & { bytes: number } {
  const t = new Transform({
    transform(chunk: Buffer, _enc, done) {
      counter.bytes += chunk.length;
      done(null, chunk);
    },
  }) as Transform & { bytes: number };
  const counter = t;
  counter.bytes = 0;
  return counter;
}

/** How long a stalled step's work is waited for once stopped, before the step fails all the same. */
const STOPPED_WAIT_MS = 10_000;

/**
 * Runs `work`, a stream of bytes between this worker and a remote program (a `tar`, a dump), whose count `moved()`
 * reads, and fails it StepStalled (retryable) when the count has not changed for `stallMs` while `waitingOnRemote()`
 * said this side was ready all along (nothing of the remote's left unread, or the remote not taking what is written
 * to it): a heartbeat on a timer says the worker lives, not that the step moves, so a remote `tar` blocked on a hung
 * disk or mount (SSH's keepalives still answered) held the step until its ceiling. A pause of this side (an upload
 * or a database slow to take the bytes, a download slow to bring them) is not the remote's stall and is not counted.
 * On a stall `stop()` is called (destroying the connection the stream runs on), and `work` is waited for up to
 * STOPPED_WAIT_MS so what it ran has ended when the step fails and its retry starts. Once `streamed()` says the
 * stream is over (the remote program has exited), the rest (the last uploads, bounded by the S3 client) is not watched.
 * `at()` says where the step stood in the failure's message (default: `moved()` bytes); `silence` what did not happen
 * (default "no byte moved": `moved()` counts bytes; a copy watched by its program's progress lines says so).
 */
export async function withProgressWatch<T>(o: { moved: () => number; waitingOnRemote: () => boolean; what: string; stop: () => void; stallMs: number; streamed?: () => boolean; at?: () => string; silence?: string }, work: Promise<T>): Promise<T> {
  let [last, since] = [o.moved(), Date.now()];
  let timer: NodeJS.Timeout | undefined;
  let stall: Error | undefined;
  const stalled = new Promise<never>((_, reject) => {
    timer = setInterval(() => {
      if (o.streamed?.()) return clearInterval(timer);
      const now = o.moved();
      if (now !== last || !o.waitingOnRemote()) [last, since] = [now, Date.now()];
      else if (Date.now() - since >= o.stallMs) {
        clearInterval(timer);
        stall = failure('StepStalled', `${o.what}: ${o.silence ?? 'no byte moved'} for ${Math.round(o.stallMs / 1000)} s (at ${o.at?.() ?? `${now} bytes`}) with this side ready; stopped`);
        try {
          o.stop();
        } finally {
          reject(stall);
        }
      }
    }, Math.min(1_000, o.stallMs / 4));
  });
  stalled.catch(() => undefined);
  work.catch(() => undefined);
  try {
    return await Promise.race([work, stalled]);
  } catch (err) {
    if (!stall) throw err;
    await settledWithin(work, STOPPED_WAIT_MS);
    throw stall;
  } finally {
    clearInterval(timer);
  }
}

import { describe, expect, it } from 'vitest';
import { withProgressWatch } from '../../activities/lib/heartbeat';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('withProgressWatch', () => {
  it('fails StepStalled when no byte moves while this side waits on the remote, after stopping the work and waiting for it', async () => {
    let stopped = 0;
    let ended = false;
    let end!: () => void;
    const work = new Promise<string>((_, reject) => (end = () => ((ended = true), reject(new Error('connection closed')))));
    const started = Date.now();
    const err = (await withProgressWatch({ moved: () => 42, waitingOnRemote: () => true, what: 'reading /srv/x on n1', stop: () => (stopped++, setTimeout(end, 50)), stallMs: 400 }, work).catch((e: unknown) => e)) as { type?: string; message?: string };
    expect(err.type).toBe('StepStalled');
    expect(err.message).toMatch(/^reading \/srv\/x on n1: no byte moved for 0 s \(at 42 bytes\)/);
    expect(stopped).toBe(1);
    expect(ended).toBe(true); // the work had ended when the step failed
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
  });

  it('a pause of this side (the consumer slow, nothing waited on from the remote) is not a stall; bytes moving are not either', async () => {
    let moved = 0;
    let waiting = false;
    const work = (async () => {
      await sleep(900); // this side's pause: the remote's bytes wait unread
      waiting = true;
      for (let i = 0; i < 6; i++) {
        await sleep(150);
        moved += 1; // slow but moving
      }
      return 'done';
    })();
    expect(await withProgressWatch({ moved: () => moved, waitingOnRemote: () => waiting, what: 'x', stop: () => undefined, stallMs: 300 }, work)).toBe('done');
  });

  it('stops watching once the stream is over (the remote exited), and a failed work is its own failure', async () => {
    const quiet = (async () => {
      await sleep(700);
      return 7;
    })();
    expect(await withProgressWatch({ moved: () => 0, waitingOnRemote: () => true, what: 'x', stop: () => undefined, stallMs: 300, streamed: () => true }, quiet)).toBe(7);
    const failing = Promise.reject(Object.assign(new Error('tar: boom'), { type: 'RemoteCommandFailed' }));
    await expect(withProgressWatch({ moved: () => 0, waitingOnRemote: () => true, what: 'x', stop: () => undefined, stallMs: 300 }, failing)).rejects.toMatchObject({ type: 'RemoteCommandFailed' });
  });
});

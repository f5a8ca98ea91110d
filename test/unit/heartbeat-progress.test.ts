import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { HEARTBEAT_EVERY_MS, withHeartbeat } from '../../activities/lib/heartbeat';

describe('withHeartbeat with progress counted per chunk', () => {
  it('heartbeats on its timer only, with the latest count, however many chunks are read', async () => {
    const env = new MockActivityEnvironment();
    const seen: { plainBytes: number }[] = [];
    env.on('heartbeat', (d: { plainBytes: number }) => seen.push(d));
    const progress = { plainBytes: 0 };
    await env.run(() =>
      withHeartbeat(
        () => ({ plainBytes: progress.plainBytes }),
        async () => {
          // A thousand 32 KiB chunks read at once, as a fast stream reports them: no heartbeat of their own.
          for (let i = 1; i <= 1000; i++) progress.plainBytes = i * 32768;
          expect(seen).toEqual([{ plainBytes: 0 }]);
          await sleep(HEARTBEAT_EVERY_MS + 200);
        },
      ),
    );
    expect(seen).toEqual([{ plainBytes: 0 }, { plainBytes: 1000 * 32768 }]);
  });
});

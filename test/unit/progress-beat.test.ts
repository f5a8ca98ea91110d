import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { progressBeat } from '../../activities/lib/heartbeat';

describe('progressBeat', () => {
  it('gives Temporal at most one heartbeat per interval however many chunks report progress, the latest after the interval', async () => {
    const env = new MockActivityEnvironment();
    const seen: unknown[] = [];
    env.on('heartbeat', (d: unknown) => seen.push(d));
    await env.run(async () => {
      const beat = progressBeat(200);
      for (let i = 1; i <= 1000; i++) beat({ plainBytes: i * 32768 });
      expect(seen).toEqual([{ plainBytes: 32768 }]);
      await sleep(250);
      beat({ plainBytes: 1 });
      beat({ plainBytes: 2 });
    });
    expect(seen).toEqual([{ plainBytes: 32768 }, { plainBytes: 1 }]);
  });

  it('does nothing outside an activity', () => {
    expect(() => progressBeat()({ plainBytes: 1 })).not.toThrow();
  });
});

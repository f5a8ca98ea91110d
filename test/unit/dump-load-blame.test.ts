/** Which program a failed load through kernel pipes (age | zstd | mariadb, dump-load.ts) is blamed on, from bash's statuses. */
import { describe, expect, it } from 'vitest';
import { blamed } from '../../activities/lib/dump-load';

describe('blamed', () => {
  it.each([
    [[0, 0, 0], null],
    // The client fails: zstd and age die of the pipe it closed.
    [[141, 141, 1], 2],
    [[0, 0, 1], 2],
    // age refuses the key: zstd and the client then fail on the truncated input, because of age.
    [[1, 1, 1], 0],
    // A corrupt frame: zstd stops, the client may or may not fail on the cut statement.
    [[0, 1, 1], 1],
    [[141, 1, 0], 1],
    // Killed by a signal (137: SIGKILL, the OOM killer) counts as a failure of that program.
    [[0, 137, 1], 1],
    // With a test's stall between zstd and the client: the client killed (its connection), the stall's cat broken.
    [[0, 0, 141, 1], 3],
    // Only broken pipes (a killed client reported 141 by a shell that lost it): the last program.
    [[141, 141, 141], 2],
  ])('%j → %s', (statuses, expected) => {
    expect(blamed(statuses)).toBe(expected);
  });
});

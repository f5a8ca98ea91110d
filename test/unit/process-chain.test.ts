/**
 * spawnChain (activities/lib/process-chain.ts): `a | b` joined by a kernel pipe the worker does not read from.
 */
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { spawnChain } from '../../activities/lib/process-chain';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('spawnChain', () => {
  it('passes every byte from the first process to the second, none taken by the worker on the way', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const c = spawnChain(['cat', []], ['cat', []]);
    const out: Buffer[] = [];
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stdin.end(data);
    await Promise.all([once(c.first.proc, 'close'), once(c.second.proc, 'close')]);
    expect(Buffer.concat(out).length).toBe(data.length);
    expect(sha(Buffer.concat(out))).toBe(sha(data));
  }, 10_000);

  it('a second process that exits early breaks the pipe: the first stops too instead of writing into nobody', async () => {
    const c = spawnChain(['sh', ['-c', 'yes']], ['head', ['-c', '10']]);
    c.stdout.resume();
    const [[code, signal]] = await Promise.all([once(c.first.proc, 'close'), once(c.second.proc, 'close')]);
    // Killed by SIGPIPE, or exited on EPIPE: either way it ended (were the worker holding the pipe open, it would not).
    expect({ code, signal }).not.toEqual({ code: 0, signal: null });
  }, 10_000);

  it("keeps each process's stderr for the caller's message", async () => {
    const c = spawnChain(['sh', ['-c', 'echo first-said >&2; cat']], ['sh', ['-c', 'echo second-said >&2; cat >/dev/null']]);
    c.stdin.end('x');
    await Promise.all([once(c.first.proc, 'close'), once(c.second.proc, 'close')]);
    expect(c.first.stderr()).toContain('first-said');
    expect(c.second.stderr()).toContain('second-said');
  }, 10_000);
});

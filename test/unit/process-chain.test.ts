/**
 * spawnChain (activities/lib/process-chain.ts): `a | b` joined by a kernel pipe the worker does not read from.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { chainFailure, killedFailure, spawnChain } from '../../activities/lib/process-chain';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('spawnChain', () => {
  it('passes every byte from the first process to the second, none taken by the worker on the way', async () => {
    const data = randomBytes(8 * 1024 * 1024);
    const c = spawnChain(['cat', []], ['cat', []]);
    const out: Buffer[] = [];
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stdin.end(data);
    await Promise.all([c.first.closed, c.second.closed]);
    expect(Buffer.concat(out).length).toBe(data.length);
    expect(sha(Buffer.concat(out))).toBe(sha(data));
  }, 10_000);

  it('a second process that exits early breaks the pipe: the first stops too instead of writing into nobody', async () => {
    const c = spawnChain(['sh', ['-c', 'yes']], ['head', ['-c', '10']]);
    c.stdout.resume();
    const [{ code, signal }] = await Promise.all([c.first.closed, c.second.closed]);
    // Killed by SIGPIPE, or exited on EPIPE: either way it ended (were the worker holding the pipe open, it would not).
    expect({ code, signal }).not.toEqual({ code: 0, signal: null });
  }, 10_000);

  it("keeps each process's stderr for the caller's message", async () => {
    const c = spawnChain(['sh', ['-c', 'echo first-said >&2; cat']], ['sh', ['-c', 'echo second-said >&2; cat >/dev/null']]);
    c.stdin.end('x');
    await Promise.all([c.first.closed, c.second.closed]);
    expect(c.first.stderr()).toContain('first-said');
    expect(c.second.stderr()).toContain('second-said');
  }, 10_000);

  it("reports each process's own exit: a code, a program that is not there, a signal", async () => {
    const c = spawnChain(['sh', ['-c', 'cat >/dev/null; exit 3']], ['cat', []]);
    c.stdout.resume();
    c.stdin.end('x');
    expect(await c.first.closed).toEqual({ code: 3, signal: null });
    expect(await c.second.closed).toEqual({ code: 0, signal: null });

    const missing = spawnChain(['cat', []], ['drover-no-such-program', []]);
    missing.stdout.resume();
    missing.stdin.end('x');
    expect(await missing.second.closed).toEqual({ code: 127, signal: null });
    expect(missing.second.stderr()).toMatch(/drover-no-such-program.*not found/);

    // Neither reads to the end nor stops by itself: kill ends both, not only the bash between them.
    const stuck = spawnChain(['sleep', ['30']], ['sleep', ['30']]);
    await new Promise((r) => setTimeout(r, 200));
    stuck.kill();
    expect(await stuck.first.closed).toEqual({ code: null, signal: 'SIGTERM' });
    expect(await stuck.second.closed).toEqual({ code: null, signal: 'SIGTERM' });
  }, 10_000);

  it('costs the worker one spawn for the pair: every byte still passes, with the arguments as given', async () => {
    // Words with spaces, quotes and a leading dash reach each program as they are (no shell parsing of them).
    const c = spawnChain(['printf', ['%s|', 'a b', "it's", '-x']], ['tr', ['|', '\n']]);
    const out: Buffer[] = [];
    c.stdout.on('data', (d: Buffer) => out.push(d));
    c.stdin.end();
    await Promise.all([c.first.closed, c.second.closed]);
    expect(Buffer.concat(out).toString()).toBe("a b\nit's\n-x\n");
  }, 10_000);

  it('blames the process that failed the chain: the second when the first only died of the pipe it broke', async () => {
    const broke = spawnChain(['sh', ['-c', 'yes']], ['sh', ['-c', 'head -c 10 >/dev/null; echo corrupt frame >&2; exit 2']]);
    broke.stdout.resume();
    expect(await broke.first.closed).toEqual({ code: null, signal: 'SIGPIPE' });
    expect(await chainFailure(broke)).toEqual({ which: 'second', code: 2, signal: null, stderr: 'corrupt frame\n' });

    const first = spawnChain(['sh', ['-c', 'cat >/dev/null; echo no identity >&2; exit 1']], ['cat', []]);
    first.stdout.resume();
    first.stdin.end('x');
    expect(await chainFailure(first)).toEqual({ which: 'first', code: 1, signal: null, stderr: 'no identity\n' });

    const fine = spawnChain(['cat', []], ['cat', []]);
    fine.stdout.resume();
    fine.stdin.end('x');
    expect(await chainFailure(fine)).toBeNull();
  }, 10_000);

  it("ignores BASH_ENV: a file it names prints nothing into the chain's output", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-chain-'));
    writeFileSync(path.join(dir, 'env.sh'), 'echo junk-from-bash-env\n');
    const before = process.env.BASH_ENV;
    process.env.BASH_ENV = path.join(dir, 'env.sh');
    try {
      const c = spawnChain(['cat', []], ['cat', []]);
      const out: Buffer[] = [];
      c.stdout.on('data', (d: Buffer) => out.push(d));
      c.stdin.end('payload');
      await Promise.all([c.first.closed, c.second.closed]);
      expect(Buffer.concat(out).toString()).toBe('payload');
    } finally {
      if (before === undefined) delete process.env.BASH_ENV;
      else process.env.BASH_ENV = before;
    }
  }, 10_000);
});

describe('killedFailure', () => {
  it('a program killed by a signal not a broken pipe fails WorkerProcessKilled (retryable); an exit or SIGPIPE is not that', async () => {
    // A duration no other sleep on the machine has, to find this one.
    const seconds = `30.${Date.now() % 1000000}`;
    const c = spawnChain(['sleep', [seconds]], ['cat', []]);
    c.stdin.end();
    const { spawnSync } = await import('node:child_process');
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      pid = Number(spawnSync('pgrep', ['-f', `^sleep ${seconds}$`], { encoding: 'utf8' }).stdout.trim()) || 0;
      if (!pid) await new Promise((r) => setTimeout(r, 20));
    }
    // Never 0: process.kill(0) would signal this test's own process group.
    expect(pid).toBeGreaterThan(0);
    // The OOM killer's way: SIGKILL to the one program, not to the chain.
    process.kill(pid, 'SIGKILL');
    const f = await chainFailure(c);
    expect(f).toMatchObject({ which: 'first', signal: 'SIGKILL' });
    const killed = killedFailure('sleep', f!, 'testing');
    expect(killed).toMatchObject({ type: 'WorkerProcessKilled', nonRetryable: false });
    expect(killed?.message).toMatch(/sleep was killed \(SIGKILL\) while testing/);
    // As bash reports statuses: 137 is SIGKILL, 141 a broken pipe, 1 an exit.
    expect(killedFailure('zstd', 137, 'x')?.type).toBe('WorkerProcessKilled');
    expect(killedFailure('zstd', 141, 'x')).toBeNull();
    expect(killedFailure('zstd', 1, 'x')).toBeNull();
    expect(killedFailure('age', { code: null, signal: 'SIGPIPE' }, 'x')).toBeNull();
    expect(killedFailure('age', { code: 1, signal: null }, 'x')).toBeNull();
  });
});

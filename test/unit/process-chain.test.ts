/**
 * spawnPipeline and spawnChain (activities/lib/process-chain.ts): `a | b | …` joined by kernel pipes the worker does
 * not read from, and which program a failed one is blamed on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { blamed, chainFailure, killedFailure, pipelineFailure, spawnChain, spawnPipeline } from '../../activities/lib/process-chain';
import { pgrep } from '../helpers/pgrep';
import { scratchDir } from '../helpers/scratch';

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
    const dir = scratchDir('drover-chain-');
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
    // Only broken pipes: the program after the last broken one closed its input early, whatever it then exited;
    // the last program when it is the broken one (a killed client reported 141 by a shell that lost it).
    [[141, 141, 141], 2],
    [[0, 141, 0], 2],
    [[141, 141, 0], 2],
    [[141, 0], 1],
    // Two programs as spawnChain's callers see them.
    [[1, 0], 0],
    [[141, 2], 1],
  ])('%j → %s', (statuses, expected) => {
    expect(blamed(statuses)).toBe(expected);
  });
});

describe('spawnPipeline', () => {
  it("runs N programs from a file the worker opened, keeps each one's stderr and blames the one that failed", async () => {
    const dir = scratchDir('drover-pipeline-');
    writeFileSync(path.join(dir, 'in'), 'one\ntwo\nthree\n');
    const fd = openSync(path.join(dir, 'in'), 'r');
    try {
      const ok = spawnPipeline([['cat', []], ['tr', ['a-z', 'A-Z']], ['sh', ['-c', 'echo said-third >&2; cat > "$1"', 'x', path.join(dir, 'out')]]], { name: 'drover-test', stdin: fd, stdout: 'ignore' });
      expect(ok.stdin).toBeNull();
      expect(await pipelineFailure(ok)).toBeNull();
      expect(ok.stderr(2)).toBe('said-third\n');
      expect(readFileSync(path.join(dir, 'out'), 'utf8')).toBe('ONE\nTWO\nTHREE\n');

      // The middle program fails; the last exits 0 on the cut input: the middle is blamed, with its own words.
      const bad = spawnPipeline([['cat', []], ['sh', ['-c', 'head -c 3; echo bad frame >&2; exit 5']], ['cat', []]], { stdout: 'ignore' });
      bad.stdin!.end('abcdef');
      expect(await pipelineFailure(bad)).toEqual({ index: 1, program: 'sh', code: 5, signal: null, stderr: 'bad frame\n' });

      // Bash itself killed before it could report: the failure names bash, not a program.
      const stuck = spawnPipeline([['sleep', ['30']], ['sleep', ['30']], ['sleep', ['30']]], { stdout: 'ignore' });
      await new Promise((r) => setTimeout(r, 200));
      stuck.kill('SIGKILL');
      expect(await pipelineFailure(stuck)).toMatchObject({ index: null, program: 'bash', signal: 'SIGKILL' });
    } finally {
      closeSync(fd);
    }
  }, 10_000);
});

describe("a pipeline's environment", () => {
  it("holds none of the worker's credentials (Drover's, Temporal's, AWS's variables); the rest is kept", async () => {
    const set = { DROVER_S3_SECRET_ACCESS_KEY: 'secret-s3', DROVER_DO_TOKEN: 'secret-do', TEMPORAL_API_KEY: 'secret-api', AWS_SECRET_ACCESS_KEY: 'secret-aws', DROVER_TEST_KEPT_NOT: 'x', LC_DROVER_KEPT: 'kept' };
    const before = { ...process.env };
    Object.assign(process.env, set);
    try {
      const p = spawnPipeline([['env', []]]);
      p.stdin?.end();
      const out: Buffer[] = [];
      p.stdout!.on('data', (d: Buffer) => out.push(d));
      expect(await pipelineFailure(p)).toBeNull();
      const env = Buffer.concat(out).toString();
      expect(env).not.toMatch(/secret-/);
      expect(env).not.toMatch(/^(DROVER_|TEMPORAL_|AWS_)/m);
      expect(env).toMatch(/^LC_DROVER_KEPT=kept$/m);
      expect(env).toMatch(/^PATH=/m);
    } finally {
      for (const k of Object.keys(set)) if (!(k in before)) delete process.env[k];
      Object.assign(process.env, before);
    }
  });
});

describe('spawnPipeline endWithWorker', () => {
  // A worker (here a Node process of its own) starts `sleep | cat` from a file, as a database load is started, and is
  // then killed with SIGKILL: with the watchdog the pipeline is gone within seconds; without it, it runs on.
  const orphanOf = async (endWithWorker: boolean): Promise<boolean> => {
    const dir = scratchDir('drover-orphan-');
    const seconds = `40.${Date.now() % 1000000}`;
    const script = path.join(dir, 'worker.ts');
    writeFileSync(path.join(dir, 'in'), 'x');
    writeFileSync(
      script,
      `import { openSync } from 'node:fs';
import { spawnPipeline } from ${JSON.stringify(path.resolve('activities/lib/process-chain.ts'))};
spawnPipeline([['sleep', [${JSON.stringify(seconds)}]], ['cat', []]], { stdin: openSync(${JSON.stringify(path.join(dir, 'in'))}, 'r'), stdout: 'ignore', endWithWorker: ${endWithWorker} });
console.log('started');
setInterval(() => undefined, 1000);
`,
    );
    const { spawn } = await import('node:child_process');
    const worker = spawn(process.execPath, [path.resolve('node_modules/vite-node/vite-node.mjs'), script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const sleeps = () => pgrep(['-x', '-f', `sleep ${seconds}`]);
    try {
      await new Promise<void>((resolve, reject) => {
        worker.stdout.on('data', (d) => String(d).includes('started') && resolve());
        worker.once('exit', () => reject(new Error('the worker ended before starting its pipeline')));
      });
      for (let i = 0; i < 100 && !sleeps().length; i++) await new Promise((r) => setTimeout(r, 50));
      expect(sleeps(), 'the pipeline runs').not.toEqual([]);
      worker.kill('SIGKILL');
      for (let i = 0; i < 50 && sleeps().length; i++) await new Promise((r) => setTimeout(r, 100));
      return sleeps().length > 0;
    } finally {
      worker.kill('SIGKILL');
      // pgrep's pids are never 0: process.kill(0) would signal this test's own process group.
      for (const pid of sleeps()) process.kill(pid, 'SIGKILL');
    }
  };

  it('a worker killed mid-way leaves no pipeline running on; without the watchdog one does', async () => {
    expect(await orphanOf(true), 'left running with the watchdog').toBe(false);
    expect(await orphanOf(false), 'left running without it').toBe(true);
  }, 40_000);

  it('bash alone killed (the OOM killer may pick it): the watchdog ends the programs it left, and itself', async () => {
    const dir = scratchDir('drover-orphan-');
    writeFileSync(path.join(dir, 'in'), 'x');
    const seconds = `41.${Date.now() % 1000000}`;
    const name = `drover-test-${seconds}`;
    const fd = openSync(path.join(dir, 'in'), 'r');
    try {
      const p = spawnPipeline([['sleep', [seconds]], ['cat', []]], { name, stdin: fd, stdout: 'ignore', endWithWorker: true });
      let bash = 0;
      for (let i = 0; i < 100 && !bash; i++) {
        bash = pgrep(['-P', String(process.pid), '-f', name])[0] ?? 0;
        if (!bash) await new Promise((r) => setTimeout(r, 20));
      }
      expect(bash).toBeGreaterThan(0);
      process.kill(bash, 'SIGKILL');
      expect(await pipelineFailure(p)).toMatchObject({ index: null, program: 'bash', signal: 'SIGKILL' });
      let left = pgrep(['-f', `(sleep ${seconds}|${name})`]);
      for (let i = 0; i < 50 && left.length; i++) {
        await new Promise((r) => setTimeout(r, 100));
        left = pgrep(['-f', `(sleep ${seconds}|${name})`]);
      }
      expect(left, 'the sleep and the watchdog').toEqual([]);
    } finally {
      closeSync(fd);
      for (const pid of pgrep(['-f', `(sleep ${seconds}|${name})`])) process.kill(pid, 'SIGKILL');
    }
  }, 20_000);
});

describe('killedFailure', () => {
  it('a program killed by a signal not a broken pipe fails WorkerProcessKilled (retryable); an exit or SIGPIPE is not that', async () => {
    // A duration no other sleep on the machine has, to find this one.
    const seconds = `30.${Date.now() % 1000000}`;
    const c = spawnChain(['sleep', [seconds]], ['cat', []]);
    c.stdin.end();
    let pid = 0;
    for (let i = 0; i < 100 && !pid; i++) {
      const found = pgrep(['-f', `^sleep ${seconds}$`]);
      pid = found.length === 1 ? found[0] : 0;
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

/**
 * The README's commands as a new operator runs them: the three workers started with `drover worker …` as
 * separate processes (other terminals) with the local environment's settings and nothing overridden, then
 * `backup run --wait`, `restore site --wait`, `up --nodes 2`, `status` (healthy) and `down --yes` through the built
 * CLI, none with `--worker`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, drover, stopWorkerProcess } from '../helpers/cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { freeSubnet } from '../helpers/subnet';
import { testEnv } from '../helpers/temporal';

const QUEUES = ['infra', 'backup', 'restore'] as const;

interface RunningWorker {
  queue: string;
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

/** `drover worker <queue>` in its own process, with the environment an operator's shell has (no metrics ports set). */
function startWorker(queue: string): RunningWorker {
  const env = { ...process.env };
  for (const k of Object.keys(env)) if (/^DROVER_(BACKUP_)?METRICS_PORT/.test(k)) delete env[k];
  const child = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', queue], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  return { queue, child, output: () => out, exited: new Promise((r) => child.once('close', r)) };
}

const workers: RunningWorker[] = [];

afterAll(async () => {
  await Promise.all(workers.map((w) => stopWorkerProcess(w.child, w.output)));
});

describe('the README, as a new operator runs it', () => {
  it('three workers side by side, then backup run --wait, restore site --wait and status without --worker', async () => {
    workers.push(...QUEUES.map(startWorker));
    // Each worker announces its metrics endpoint once it polls; one that cannot bind its port exits instead.
    const ready = (w: RunningWorker) =>
      new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /SDK metrics on (http:\/\/\S+\/metrics)/.exec(w.output());
          if (m) {
            clearInterval(t);
            resolve(m[1]);
          }
        }, 200);
        void w.exited.then((code) => {
          clearInterval(t);
          reject(new Error(`drover worker ${w.queue} exited ${code}:\n${w.output()}`));
        });
      });
    const endpoints = await Promise.all(workers.map(ready));
    expect(new Set(endpoints).size).toBe(3);
    for (const url of endpoints) expect(await fetch(url).then((r) => r.text())).toMatch(/temporal_/);
    // The backup worker's per-site metrics are served beside its SDK metrics.
    const backupMetrics = `http://127.0.0.1:${testEnv().DROVER_BACKUP_METRICS_PORT}/metrics`;
    expect(await fetch(backupMetrics).then((r) => r.status)).toBe(200);

    const gen = await drover(['dev', 'sites', '--count', '1', '--prefix', `readme${process.pid}`, '--posts', '3', '--json']);
    expect(gen.code, gen.stderr).toBe(0);
    const site = (gen.json() as { sites: { domain: string; database: string; filesPath: string }[] }).sites[0];
    const add = await drover(['site', 'add', site.domain, '--db', site.database, '--files', site.filesPath, '--json']);
    expect(add.code, add.stdout + add.stderr).toBe(0);

    const date = '2026-10-04';
    const backup = await drover(['backup', 'run', '--site', site.domain, '--date', date, '--wait', '--json']);
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    expect((backup.json() as { result: { outcomes: { site: string; status: string }[] } }).result.outcomes).toEqual([expect.objectContaining({ site: site.domain, status: 'created' })]);
    // The wait was shown on stderr, stdout stayed one document.
    expect(backup.stderr).toMatch(/waiting on nightly-backup\//);

    const restore = await drover(['restore', 'site', site.domain, '--at', date, '--wait', '--json']);
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);
    expect((restore.json() as { result: { site: string; point: string } }).result).toMatchObject({ site: site.domain, point: date });
    // While it waited, the workflow's current step was shown on stderr, not only the first "waiting on" line.
    expect(restore.stderr).toMatch(/waiting on restore\//);
    expect(restore.stderr, restore.stderr).toMatch(/^• restore\/\S+: (step \S+|\d+ child workflow)/m);

    // `status` reports on a cluster: the README brings up the smallest local one first (a manager and a worker),
    // through the infra worker too. A farm name and subnet of its own, so no other checkout's cluster is touched.
    const farm = `readme${process.pid % 100_000}`;
    try {
      const up = await drover(['up', '--nodes', '2', '--farm', farm, '--subnet', freeSubnet(231), '--json'], { timeoutMs: 600_000 });
      expect(up.code, up.stdout + up.stderr).toBe(0);
      const status = await drover(['status', '--farm', farm, '--json']);
      expect(status.code, status.stdout + status.stderr).toBe(0);
      const s = status.json() as { healthy: boolean; checks: { name: string; ok: boolean }[] };
      expect(s.healthy).toBe(true);
      expect(s.checks.length).toBeGreaterThan(0);
      expect(s.checks.every((c) => c.ok)).toBe(true);
    } finally {
      await drover(['down', '--farm', farm, '--yes'], { timeoutMs: 300_000 });
    }

    // All three workers ran side by side throughout.
    for (const w of workers) expect(w.child.exitCode, w.output()).toBeNull();
  }, 900_000);
});

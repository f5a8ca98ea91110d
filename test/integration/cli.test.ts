/** The CLI's contract: one JSON document with --json for every command, exit 2 naming the field on bad input. */
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, drover } from '../helpers/cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { freePort } from '../helpers/ports';
import { Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { connectTestServer, freshNamespace, testDataConverter } from '../helpers/temporal';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { restoreFarmWorkflow } from '../../workflows/restore-farm';
import { siteWorkflow } from '../../workflows/site';
import { upsertSite } from '../../lib/site-registry';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { testEnv } from '../helpers/temporal';
import { scratchDir } from '../helpers/scratch';

/** A namespace of its own: no worker has ever polled its queues (a farm whose workers are not running). */



describe('drover CLI', () => {
  it.each([
    [['--port-offset', 'abc', 'dev', 'status'], '--port-offset'],
    [['dev', 'status', '--only', 'nginx'], '--only'],
    [['smoke', '--label', 'has spaces!'], '--label'],
    [['worker', 'nightly'], 'queue'],
    [['dev', 'status', '--bogus'], '--bogus'],
    [['scale', 'workers', '-1', '--bogus'], '--bogus'],
    [['demo', '--sites', '0'], '--sites'],
    [['demo', '--sites', '2.5'], '--sites'],
    [['migrate', 'site', '--file', 'x.csv', '--domain', 'a.example.com', '--bwlimit', '0x10'], '--bwlimit'],
    [['no-such-command'], 'no-such-command'],
    // A command of subcommands given none: its help on stderr, exit 2 (it exited 0 with nothing on stdout).
    [['restore'], 'command'],
    [['migrate', 'wave'], 'command'],
    [['help', 'nosuch'], 'nosuch'],
  ])('bad input %j exits 2 naming %s, as text and as JSON', async (args, field) => {
    const text = await drover(args);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain(field);
    const json = await drover([...args, '--json']);
    expect(json.code).toBe(2);
    const doc = json.json() as { ok: boolean; error: { field: string; message: string } };
    expect(doc.ok).toBe(false);
    expect(doc.error.field).toBe(field);
    if (field === 'command') expect([text.stderr, doc.error.message]).toEqual([expect.stringContaining(`Usage: drover ${args.join(' ')} [options] [command]`), `command: drover ${args.join(' ')} needs a subcommand: see \`drover ${args.join(' ')} --help\``]);
  });

  it('plan show prints the default farm and its cost; a bad plan exits 2 naming the field', async () => {
    const show = await drover(['plan', 'show', '--json']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.json()).toMatchObject({ ok: true, cost: { monthly: 3733, perSite: 7.47 } });
    expect((await drover(['plan', 'show'])).stdout).toMatch(/33 nodes for 500 sites[\s\S]*\$3,733\.00 {2}\(\$7\.47 per site\)/);
    const dir = scratchDir('plan-');
    const bad = path.join(dir, 'even.yml');
    writeFileSync(bad, readFileSync(path.join(ROOT, 'configs/plans/farm.yml'), 'utf8').replace('{ role: manager,    count: 3,', '{ role: manager,    count: 2,'));
    const r = await drover(['plan', 'check', '--plan', bad, '--json']);
    expect(r.code).toBe(2);
    expect((r.json() as { error: { field: string; message: string } }).error).toMatchObject({ field: 'pools[0].count', message: expect.stringMatching(/odd number/) });
  });

  it('retention plan prints keep/delete with reasons, and names the bad field', async () => {
    const dir = scratchDir('retention-');
    const input = path.join(dir, 'points.txt');
    writeFileSync(input, '2026-11-22\n2026-11-08\n2026-11-01\n2026-05-13\n2025-10-01\n');
    const r = await drover(['retention', 'plan', '--now', '2026-11-22', '--input', input, '--json']);
    expect(r.code).toBe(0);
    const plan = r.json() as { keep: number; delete: number; decisions: { date: string; action: string; reasons: string[] }[] };
    expect(plan.decisions.map((d) => [d.date, d.action])).toEqual([
      ['2026-11-22', 'keep'],
      ['2026-11-08', 'keep'],
      ['2026-11-01', 'keep'],
      ['2026-05-13', 'keep'],
      ['2025-10-01', 'delete'],
    ]);
    expect(plan.decisions[3].reasons).toEqual(['monthly']);
    expect(plan.decisions[4].reasons).toEqual(['expired']);

    const badNow = await drover(['retention', 'plan', '--now', '2026-02-30', '--input', input, '--json']);
    expect(badNow.code).toBe(2);
    expect((badNow.json() as { error: { field: string } }).error.field).toBe('--now');
    writeFileSync(input, '2026-11-22\nnot-a-date\n');
    const badLine = await drover(['retention', 'plan', '--input', input]);
    expect(badLine.code).toBe(2);
    expect(badLine.stderr).toMatch(/--input: line 2/);
    // A date listed twice (two lines, one with a time of day): bad input naming the file's flag, not a failure.
    writeFileSync(input, '2026-11-22\n2026-11-21\n2026-11-22T03:00:00Z\n');
    const twice = await drover(['retention', 'plan', '--now', '2026-11-22', '--input', input, '--json']);
    expect([twice.code, twice.json()]).toEqual([2, { ok: false, error: expect.objectContaining({ field: '--input', message: expect.stringContaining('2026-11-22 is listed twice') }) }]);
  });

  it('a --json document far larger than a pipe buffer arrives whole through a slow reader', async () => {
    // Ten years of daily points: the plan is ~650 KB, ten pipe buffers. The reader sleeps before reading, so the
    // CLI is done long before the pipe has room: it must wait for stdout to drain before exiting.
    const dir = scratchDir('retention-big-');
    const input = path.join(dir, 'points.txt');
    const day = 86_400_000;
    writeFileSync(input, Array.from({ length: 3650 }, (_, i) => new Date(Date.UTC(2016, 0, 1) + i * day).toISOString().slice(0, 10)).join('\n') + '\n');
    const cmd = `node ${CLI} retention plan --input ${input} --now 2026-01-01 --json | (sleep 2; cat)`;
    const r = await new Promise<{ code: number | null; stdout: string }>((resolve) => {
      const child = spawn('bash', ['-o', 'pipefail', '-c', cmd], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
      let stdout = '';
      child.stdout.on('data', (d) => (stdout += d));
      child.once('close', (code) => resolve({ code, stdout }));
    });
    expect(r.code).toBe(0);
    expect(r.stdout.length).toBeGreaterThan(10 * 65_536);
    const plan = JSON.parse(r.stdout) as { ok: boolean; decisions: unknown[] };
    expect(plan.ok).toBe(true);
    expect(plan.decisions).toHaveLength(3650);
  });

  it('a command that would wait on a queue no worker polls says which worker to start, exits 1 and starts nothing', async () => {
    const namespace = await freshNamespace();
    const domain = `nobody-${process.pid}.example.com`;
    const r = await drover(['site', 'add', domain, '--db', 'wp_nobody', '--files', '/srv/nobody', '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(1);
    const err = (r.json() as { error: { kind: string; message: string } }).error;
    expect(err.kind).toBe('NoWorker');
    expect(err.message).toMatch(/drover-infra/);
    expect(err.message).toContain('drover worker infra');
    expect(err.message).toContain('--worker');
    const text = await drover(['status', '--farm', 'nowhere'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/no worker polls task queue drover-infra: start one with `drover worker infra`/);
    // Nothing was started that a later worker would run.
    const env = await connectTestServer();
    try {
      const listed = await env.client.workflowService.listWorkflowExecutions({ namespace, query: '' });
      expect(listed.executions).toEqual([]);
    } finally {
      await env.teardown();
    }
  });

  it('site show of a site whose entity no worker polls says so instead of waiting; migrate site and wave start --wait with no worker exit 1 and start nothing', async () => {
    const namespace = await freshNamespace();
    const domain = `unpolled-${process.pid}.example.com`;
    const env = await connectTestServer();
    const client = new Client({ connection: env.client.connection, namespace, dataConverter: testDataConverter() });
    const deps = createActivityDeps(testEnv());
    try {
      await upsertSite(deps.galera, { domain, database: `wp_unpolled_${process.pid}`, filesPath: `/srv/unpolled-${process.pid}`, storageHost: null, tablePrefix: 'wp_' });
      // Its entity started while no infra worker runs: a query would wait for ever.
      await client.workflow.start(siteWorkflow, { workflowId: workflowIds.site(domain), taskQueue: TASK_QUEUES.infra, args: [{ domain }] });
      const shown = await drover(['site', 'show', domain, '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(shown.code, shown.stdout + shown.stderr).toBe(0);
      expect((shown.json() as { entityUnknown?: string }).entityUnknown).toMatch(/no worker polls drover-infra: .*drover worker infra/);
      expect(shown.stderr).toMatch(/no worker polls drover-infra/);

      const dir = scratchDir('unpolled-');
      writeFileSync(path.join(dir, 'pw'), 'secret\n', { mode: 0o600 });
      const f = path.join(dir, 'm.csv');
      writeFileSync(f, `domain,source_ssh,source_path,source_db,source_db_host,source_db_user,source_db_password_file,from_url,to_url,wave\nmoved-${process.pid}.example.com,root@127.0.0.1:1,/srv/old,wp_old,127.0.0.1:3306,wp,${path.join(dir, 'pw')},,,unpolled\n`);
      for (const args of [['migrate', 'site', '--file', f, '--domain', `moved-${process.pid}.example.com`, '--wait'], ['migrate', 'wave', 'start', '--file', f, '--wait']]) {
        const r = await drover([...args, '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
        expect(r.code, r.stdout + r.stderr).toBe(1);
        expect((r.json() as { error: { kind: string; message: string } }).error).toMatchObject({ kind: 'NoWorker', message: expect.stringContaining('drover worker migrate') });
        // The target farm is looked up on drover-infra, where nothing polls either: left unchecked, saying so.
        expect(r.stderr).toMatch(/farm local not checked: no worker polls drover-infra/);
      }
      const listed = await client.workflowService.listWorkflowExecutions({ namespace, query: '' });
      expect(listed.executions.map((e) => e.execution?.workflowId)).toEqual([workflowIds.site(domain)]);

      // A Schedule's run started by hand waits for a worker like any start: `trigger` says so when none polls.
      const ns = { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 };
      expect((await drover(['backup', 'schedule', 'create'], ns)).code).toBe(0);
      const triggered = await drover(['backup', 'schedule', 'trigger'], ns);
      expect(triggered.code, triggered.stderr).toBe(0);
      expect(triggered.stderr).toMatch(/no worker polls drover-backup yet/);
      expect((await drover(['backup', 'schedule', 'delete'], ns)).code).toBe(0);
    } finally {
      for await (const w of client.workflow.list({ query: 'ExecutionStatus = "Running"' })) await client.workflow.getHandle(w.workflowId, w.runId).terminate('test over').catch(() => undefined);
      await deps.galera.query(await deps.galera.writerNode(), 'DELETE FROM drover_meta.sites WHERE domain = ?', [domain]).catch(() => undefined);
      await closeActivityDeps(deps);
      await env.teardown();
    }
  });

  it('restore farm-status of a running recovery with no restore worker says which worker to start and exits 1', async () => {
    const namespace = await freshNamespace();
    const label = `nobody-${process.pid}`;
    const env = await connectTestServer();
    const client = new Client({ connection: env.client.connection, namespace, dataConverter: testDataConverter() });
    try {
      // A recovery started while no restore worker runs (it stays RUNNING, its query has no one to answer it).
      await client.workflow.start(restoreFarmWorkflow, { workflowId: workflowIds.restoreFarm(label), taskQueue: TASK_QUEUES.restore, args: [{ points: { 'a.example.com': '2026-11-10' }, concurrency: 1, storageHost: null }] });
      const r = await drover(['restore', 'farm-status', '--label', label, '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const err = (r.json() as { error: { kind: string; message: string } }).error;
      expect(err.kind).toBe('NoWorker');
      expect(err.message).toContain('drover worker restore');
      const text = await drover(['restore', 'farm-status', '--label', label], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(text.code).toBe(1);
      expect(text.stderr).toMatch(/no worker polls task queue drover-restore: start one with `drover worker restore`/);
    } finally {
      await client.workflow.getHandle(workflowIds.restoreFarm(label)).terminate('test over').catch(() => undefined);
      await env.teardown();
    }
  });

  it('a failed workflow reaches the operator with its root cause, in text and in --json; a farm not found is bad input', async () => {
    // The health of a DigitalOcean farm asked of a worker with no token: the activity's ConfigMissing, exit 1.
    expect(process.env.DROVER_DO_TOKEN).toBeUndefined();
    const json = await drover(['status', '--provider', 'digitalocean', '--farm', 'nosuch', '--worker', '--json']);
    expect(json.code, json.stderr).toBe(1);
    const e = (json.json() as { error: { kind: string; message: string; cause: { kind: string; type: string; message: string }; chain: { kind: string }[] } }).error;
    expect(e.kind).toBe('WorkflowFailedError');
    expect(e.cause).toMatchObject({ kind: 'ApplicationFailure', type: 'ConfigMissing', message: expect.stringContaining('no DigitalOcean token') });
    expect(e.message).toContain('no DigitalOcean token');
    expect(e.chain.map((l) => l.kind)).toEqual(['WorkflowFailedError', 'ActivityFailure', 'ApplicationFailure']);
    const text = await drover(['status', '--provider', 'digitalocean', '--farm', 'nosuch', '--worker']);
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(/ConfigMissing: this worker has no DigitalOcean token \(DROVER_DO_TOKEN\)/);
    // A local farm of that name does not exist: the health workflow refuses it before any check, exit 2 naming --farm.
    const missing = await drover(['status', '--farm', 'nosuch', '--worker', '--json']);
    expect(missing.code, missing.stderr).toBe(2);
    expect(missing.json()).toMatchObject({ ok: false, error: { field: '--farm', message: expect.stringContaining('no cluster named nosuch on this machine (provider local)') } });
    const missingText = await drover(['status', '--farm', 'nosuch', '--worker']);
    expect(missingText.code).toBe(2);
    expect(missingText.stderr).toMatch(/--farm: no cluster named nosuch/);
  });

  /** A namespace of its own with a `drover worker infra` process polling it (once the server lists it as a poller). */
  async function namespaceWithWorker() {
    const namespace = await freshNamespace();
    const env = { ...process.env, TEMPORAL_NAMESPACE: namespace, DROVER_METRICS_PORT: '0' };
    const args = ['--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET)];
    const tw = await connectTestServer();
    const client = new Client({ connection: tw.client.connection, namespace, dataConverter: testDataConverter() });
    const pollers = async () => (await client.workflowService.describeTaskQueue({ namespace, taskQueue: { name: 'drover-infra' }, taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW })).pollers ?? [];
    const worker = spawn(process.execPath, [CLI, ...args, 'worker', 'infra'], { cwd: ROOT, env, stdio: ['ignore', 'ignore', 'ignore'] });
    const workerExited = new Promise((r) => worker.once('close', r));
    for (let i = 0; i < 150 && !(await pollers()).length; i++) await new Promise((r) => setTimeout(r, 200));
    expect((await pollers()).length).toBe(1);
    return { namespace, env, args, tw, client, worker, workerExited };
  }

  it('a status killed while its worker is gone leaves no workflow open for ever: health runs with a bounded time', async () => {
    // A worker that polled a moment ago and is gone now (the server still lists it as a poller).
    const { namespace, env, args, tw, client, worker, workerExited } = await namespaceWithWorker();
    worker.kill('SIGTERM');
    await workerExited;

    const healthRuns = async () => (await client.workflowService.listWorkflowExecutions({ namespace, query: "WorkflowType = 'clusterHealthWorkflow'" })).executions;
    try {
      // The operator runs `drover status`, which starts the health workflow and waits; then gives up with ^C / kill.
      const status = spawn(process.execPath, [CLI, ...args, 'status', '--farm', 'ghost', '--json'], { cwd: ROOT, env, stdio: 'ignore' });
      const statusExited = new Promise((r) => status.once('close', r));
      for (let i = 0; i < 150 && !(await healthRuns()).length; i++) await new Promise((r) => setTimeout(r, 200));
      status.kill('SIGKILL');
      await statusExited;
      const [run] = await healthRuns();
      const d = await client.workflow.getHandle(run.execution!.workflowId!).describe();
      expect(d.status.name).toBe('RUNNING');
      // Bounded: it ends by itself within ten minutes instead of staying open.
      expect(Number(d.raw.executionConfig?.workflowExecutionTimeout?.seconds ?? 0)).toBe(600);

      // The bound is real: with a short one the abandoned health workflow ends timed out.
      const short = await drover(['status', '--farm', 'ghost', '--timeout', '5', '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(short.code, short.stdout + short.stderr).toBe(1);
      const id = (await healthRuns()).map((e) => e.execution!.workflowId!).find((w) => w !== run.execution!.workflowId);
      expect((await client.workflow.getHandle(id!).describe()).status.name).toBe('TIMED_OUT');
      await client.workflow.getHandle(run.execution!.workflowId!).terminate('test cleanup');
    } finally {
      await tw.teardown();
    }
  });

  it('two `drover down` of one farm at once are one teardown workflow, both callers given its result', async () => {
    // A worker that polls, then is frozen: both commands find it and start (or attach) before anything runs.
    const { namespace, env, args, tw, client, worker, workerExited } = await namespaceWithWorker();
    const downs: { stdout: string; stderr: string; code: Promise<number | null> }[] = [];
    try {
      worker.kill('SIGSTOP');
      for (let i = 0; i < 2; i++) {
        const p = spawn(process.execPath, [CLI, ...args, 'down', '--farm', 'ghost-twice', '--yes', '--json'], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
        const d = { stdout: '', stderr: '', code: new Promise<number | null>((r) => p.once('close', r)) };
        p.stdout.on('data', (b) => (d.stdout += b));
        p.stderr.on('data', (b) => (d.stderr += b));
        downs.push(d);
      }
      // Both waiting on the one workflow before the worker runs anything.
      for (let i = 0; i < 300 && !downs.every((d) => d.stderr.includes('waiting on teardown/local/ghost-twice')); i++) await new Promise((r) => setTimeout(r, 100));
      expect(downs.map((d) => d.stderr)).toEqual([expect.stringContaining('waiting on teardown/local/ghost-twice'), expect.stringContaining('waiting on teardown/local/ghost-twice')]);
      worker.kill('SIGCONT');
      const codes = await Promise.all(downs.map((d) => d.code));
      expect(codes, downs.map((d) => d.stderr).join('\n')).toEqual([0, 0]);
      for (const d of downs) expect(JSON.parse(d.stdout)).toMatchObject({ ok: true, workflowId: 'teardown/local/ghost-twice', removed: [] });
      // Visibility lags the runs a moment: listed once both have had time to show.
      await new Promise((r) => setTimeout(r, 1500));
      const runs = (await client.workflowService.listWorkflowExecutions({ namespace, query: "WorkflowType = 'clusterTeardownWorkflow'" })).executions;
      expect(runs.map((e) => e.execution!.workflowId)).toEqual(['teardown/local/ghost-twice']);
    } finally {
      worker.kill('SIGCONT');
      worker.kill('SIGTERM');
      await workerExited;
      await tw.teardown();
    }
  });

  it.each([
    [['smoke'], 'TEMPORAL_NAMESPACE', ''],
    // A worker that deploys sites: its stack's health interval, in seconds as Docker takes it.
    [['worker', 'infra'], 'DROVER_SITE_HEALTH_INTERVAL', '30'],
  ])('a malformed environment variable (%j, %s=%j) exits 2 and names it', async (args, field, value) => {
    const r = await drover([...args, '--json'], { env: { [field]: value, DROVER_METRICS_PORT: '0' }, timeoutMs: 60_000 });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect((r.json() as { error: { field: string } }).error.field).toBe(field);
  });

  // `smoke --worker --json` on its own: dev-env.test.ts. The demo runs the same smoke workflow and reports it.
  it('demo --json prints one parseable document and succeeds', async () => {
    // The demo now also imports the local WordPress image into its cluster and creates a site there: minutes.
    // As `bin/drover demo` runs on a fresh machine: with the environment's dedup key (the suite turns it off for its
    // other tests), so the demo's backup and restore go through deduplicated points.
    const demo = await drover(['demo', '--json'], { timeoutMs: 900_000, env: { DROVER_BACKUP_DEDUP_KEY_FILE: path.join(TEST_STATE_DIR, 'secrets', 'backup-dedup-key') } });
    // On failure: the progress lines and the demo's own report (which step failed and why).
    expect(demo.code, `${demo.stderr}\n${demo.stdout.slice(-4000)}`).toBe(0);
    const d = demo.json() as { ok: boolean; environment: { healthy: boolean }; smoke: { workflowId: string; webUi: string; result: { ssh: { code: number }; galera: { synced: number } } }; restore: { exact: boolean; result: { rtoMs: number; safetyPoint: string } } };
    expect(d.ok).toBe(true);
    // The damaged demo site came back exactly, after a safety point of its damaged state.
    expect(d.restore.exact).toBe(true);
    expect(d.restore.result.rtoMs).toBeGreaterThan(0);
    expect(d.restore.result.safetyPoint).toMatch(/^safety\//);
    // And a local 3-node swarm with the smoke stack converged (removed again: it is the demo's, not the suite's).
    const c = (demo.json() as unknown as { cluster: { report: { nodes: unknown[]; services: { desired: number; running: number }[] } } }).cluster;
    expect(c.report.nodes).toHaveLength(3);
    expect(c.report.services).toEqual([expect.objectContaining({ desired: 3, running: 3 })]);
    // The wave from the local old host: three sites migrated into the cluster (two at a time), paused once with one
    // or two in flight.
    const w = (demo.json() as unknown as { wave: { ok: boolean; wave: string; pausedWith: string[]; domains: string[]; result: { state: string; counts: { migrated: number } } } }).wave;
    expect(w).toMatchObject({ ok: true, result: { state: 'done', counts: { migrated: 3 } } });
    expect(w.pausedWith.length).toBeGreaterThanOrEqual(1);
    expect(w.pausedWith.length).toBeLessThanOrEqual(2);
    expect(demo.stdout + demo.stderr).not.toMatch(/Migration wave: FAILED/);
    expect((await drover(['down', '--farm', `demo${TEST_PORT_OFFSET}`, '--yes', '--worker'])).code).toBe(0);
    expect(d.environment.healthy).toBe(true);
    expect(d.smoke.result.ssh.code).toBe(0);
    expect(d.smoke.workflowId).toMatch(/^smoke\//);
    expect(d.smoke.webUi).toContain(encodeURIComponent(d.smoke.workflowId));
    expect(d.smoke.result.galera.synced).toBe(3);
  }, 1_200_000);

  it('worker serves Prometheus metrics and shuts down cleanly on SIGTERM with a JSON report', async () => {
    const port = await freePort();
    const child = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'infra', '--json'], {
      cwd: ROOT,
      env: { ...process.env, DROVER_METRICS_PORT: String(port), DROVER_SHUTDOWN_GRACE_MS: '2000' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((r) => child.once('close', r));
    let metrics = '';
    for (let i = 0; i < 100 && !/temporal_/.test(metrics); i++) {
      await new Promise((r) => setTimeout(r, 300));
      metrics = await fetch(`http://127.0.0.1:${port}/metrics`).then((r) => r.text(), () => '');
    }
    expect(metrics, stderr).toMatch(/temporal_/);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(JSON.parse(stdout)).toEqual({ ok: true, queue: 'drover-infra', stopped: true });
  });
});

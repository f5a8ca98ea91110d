/** The CLI's contract: one JSON document with --json for every command, exit 2 naming the field on bad input. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { CLI, drover } from '../helpers/cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { freePort } from '../helpers/ports';


describe('drover CLI', () => {
  it.each([
    [['--port-offset', 'abc', 'dev', 'status'], '--port-offset'],
    [['dev', 'status', '--only', 'nginx'], '--only'],
    [['smoke', '--label', 'has spaces!'], '--label'],
    [['worker', 'nightly'], 'queue'],
    [['dev', 'status', '--bogus'], '--bogus'],
    [['no-such-command'], 'no-such-command'],
  ])('bad input %j exits 2 naming %s, as text and as JSON', async (args, field) => {
    const text = await drover(args);
    expect(text.code).toBe(2);
    expect(text.stderr).toContain(field);
    const json = await drover([...args, '--json']);
    expect(json.code).toBe(2);
    const doc = json.json() as { ok: boolean; error: { field: string; message: string } };
    expect(doc.ok).toBe(false);
    expect(doc.error.field).toBe(field);
  });

  it('plan show prints the default farm and its cost; a bad plan exits 2 naming the field', async () => {
    const show = await drover(['plan', 'show', '--json']);
    expect(show.code, show.stderr).toBe(0);
    expect(show.json()).toMatchObject({ ok: true, cost: { monthly: 3733, perSite: 7.47 } });
    expect((await drover(['plan', 'show'])).stdout).toMatch(/33 nodes for 500 sites[\s\S]*\$3,733\.00 {2}\(\$7\.47 per site\)/);
    const dir = mkdtempSync(path.join(os.tmpdir(), 'plan-'));
    const bad = path.join(dir, 'even.yml');
    writeFileSync(bad, readFileSync(path.join(ROOT, 'configs/plans/farm.yml'), 'utf8').replace('{ role: manager,    count: 3,', '{ role: manager,    count: 2,'));
    const r = await drover(['plan', 'check', '--plan', bad, '--json']);
    expect(r.code).toBe(2);
    expect((r.json() as { error: { field: string; message: string } }).error).toMatchObject({ field: 'pools[0].count', message: expect.stringMatching(/odd number/) });
  });

  it('retention plan prints keep/delete with reasons, and names the bad field', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'retention-'));
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
  });

  it('a malformed environment variable exits 2 and names it', async () => {
    const r = await drover(['smoke', '--json'], { env: { TEMPORAL_NAMESPACE: '' } });
    expect(r.code).toBe(2);
    expect((r.json() as { error: { field: string } }).error.field).toBe('TEMPORAL_NAMESPACE');
  });

  it('smoke --json and demo --json print one parseable document and succeed', async () => {
    const smoke = await drover(['smoke', '--worker', '--json']);
    expect(smoke.code, smoke.stderr).toBe(0);
    const s = smoke.json() as { ok: boolean; workflowId: string; webUi: string; result: { galera: { synced: number } } };
    expect(s.ok).toBe(true);
    expect(s.workflowId).toMatch(/^smoke\//);
    expect(s.webUi).toContain(encodeURIComponent(s.workflowId));
    expect(s.result.galera.synced).toBe(3);

    const demo = await drover(['demo', '--json']);
    expect(demo.code, demo.stderr).toBe(0);
    const d = demo.json() as { ok: boolean; environment: { healthy: boolean }; smoke: { result: { ssh: { code: number } } }; restore: { exact: boolean; result: { rtoMs: number; safetyPoint: string } } };
    expect(d.ok).toBe(true);
    // The damaged demo site came back exactly, after a safety point of its damaged state.
    expect(d.restore.exact).toBe(true);
    expect(d.restore.result.rtoMs).toBeGreaterThan(0);
    expect(d.restore.result.safetyPoint).toMatch(/^safety\//);
    // And a local 3-node swarm with the smoke stack converged (removed again: it is the demo's, not the suite's).
    const c = (demo.json() as unknown as { cluster: { report: { nodes: unknown[]; services: { desired: number; running: number }[] } } }).cluster;
    expect(c.report.nodes).toHaveLength(3);
    expect(c.report.services).toEqual([expect.objectContaining({ desired: 3, running: 3 })]);
    expect((await drover(['down', '--farm', `demo${TEST_PORT_OFFSET}`, '--yes', '--worker'])).code).toBe(0);
    expect(d.environment.healthy).toBe(true);
    expect(d.smoke.result.ssh.code).toBe(0);
  });

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

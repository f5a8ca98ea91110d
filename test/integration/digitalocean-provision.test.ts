/**
 * provisionFarmWorkflow against the stateful DigitalOcean API emulator (test/do-emulator; DigitalOcean itself
 * cannot be reached from here). The default 33-node plan provisions in parallel and a re-run changes nothing; a
 * 429 storm slows it without failing it; a worker process killed mid-way and restarted ends with exactly 33
 * droplets; a failed step rolls back what the run created, or leaves it for a re-run to resume from; tearing
 * down removes only what carries the farm's tag.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { WorkflowFailedError, type ApplicationFailure } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDigitalOceanActivities, farmTag } from '../../activities/digitalocean';
import { DigitalOceanClient } from '../../activities/lib/digitalocean-client';
import { loadPlan } from '../../lib/plan/load';
import type { FarmPlan } from '../../lib/plan/schema';
import { TASK_QUEUES } from '../../workflows/lib/ids';
import { provisionFarmWorkflow, provisionProgressQuery } from '../../workflows/provision-farm';
import { CLI } from '../helpers/cli';
import { ROOT, TEST_BUNDLE, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { useRunningWorker } from '../helpers/temporal';
import { DigitalOceanEmulator } from '../do-emulator/server';

const TOKEN = 'test-token';
const mock = new MockActivityEnvironment();
const act = { run: <A, R>(fn: (a: A) => Promise<R>, a: A) => mock.run(fn, a) as Promise<R> };
const emu = new DigitalOceanEmulator({ token: TOKEN, activeAfterMs: 1500 });
beforeAll(async () => {
  await emu.start();
});
afterAll(() => emu.stop());

const ctx = useRunningWorker('provision', (d) => ({ ...d, digitalocean: new DigitalOceanClient(emu.url, TOKEN) }));
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBootstrapKeyForTheEmulatorOnly drover@bootstrap';

/** The default plan under another farm name (each test its own farm, as tags keep farms apart). */
function plan(name: string, tweak: (p: FarmPlan) => void = () => undefined): FarmPlan {
  const p = structuredClone(loadPlan());
  p.name = name;
  p.vpc.name = `${name}-vpc`;
  p.firewall.name = `${name}-fw`;
  if (p.loadBalancer) p.loadBalancer.name = `${name}-lb`;
  tweak(p);
  return p;
}

const farmDroplets = (farm: string) => [...emu.droplets.values()].filter((d) => d.tags.includes(farmTag(farm)));
const provision = (p: FarmPlan, opts: { rollbackOnFailure?: boolean; id?: string; taskQueue?: string } = {}) =>
  ctx.tw.client.workflow.start(provisionFarmWorkflow, { workflowId: opts.id ?? `provision/${p.name}/${Date.now()}`, taskQueue: opts.taskQueue ?? ctx.taskQueue, args: [{ plan: p, image: 'debian-12-x64', sshPublicKey: KEY, rollbackOnFailure: opts.rollbackOnFailure }] });

describe('provisionFarmWorkflow on the DigitalOcean emulator', () => {
  it('provisions the 33-node default plan in parallel; a re-run creates nothing; teardown removes only the farm', async () => {
    const p = plan('alpha');
    emu.log.length = 0;
    const handle = await provision(p);
    const r = await handle.result();
    expect(r.nodes).toHaveLength(33);
    expect(r.created.droplets).toBe(33);
    expect(r.created.volumes).toBe(7);
    expect(r.reservedIps).toHaveLength(2);
    const droplets = farmDroplets('alpha');
    expect(droplets).toHaveLength(33);
    expect(droplets.every((d) => d.status === 'active')).toBe(true);
    expect(new Set(droplets.map((d) => d.name)).size).toBe(33);
    // In parallel: every droplet was requested before the first could become active.
    const creates = emu.log.filter((l) => l.method === 'POST' && l.path === '/v2/droplets' && l.status === 202).map((l) => l.at);
    expect(Math.max(...creates) - Math.min(...creates)).toBeLessThan(1500);
    expect([...emu.volumes.values()].filter((v) => v.tags.includes(farmTag('alpha')) && v.droplet_ids.length === 1)).toHaveLength(7);
    expect((await handle.query(provisionProgressQuery)).phase).toBe('done');
    await Worker.runReplayHistory({ workflowBundle: { codePath: TEST_BUNDLE } }, await handle.fetchHistory(), handle.workflowId);

    // Running it again changes nothing.
    emu.log.length = 0;
    const again = await (await provision(p)).result();
    expect(again.created).toEqual({ droplets: 0, volumes: 0, other: [] });
    expect(emu.log.filter((l) => l.method !== 'GET' && l.path !== '/v2/tags')).toEqual([]);
    expect(farmDroplets('alpha')).toHaveLength(33);

    // Someone else's droplet in the same account survives the farm's teardown.
    const foreign = await new DigitalOceanClient(emu.url, TOKEN).createDroplet({ name: 'not-ours', region: 'fra1', size: 's-1vcpu-1gb', image: 'debian-12-x64', tags: ['other-team'] });
    const acts = createDigitalOceanActivities({ digitalocean: new DigitalOceanClient(emu.url, TOKEN), hostKeySeed: null });
    const down = await act.run(acts.destroyFarm, { farm: 'alpha' });
    expect(down.droplets).toBe(33);
    expect(down.volumes).toBe(7);
    expect(farmDroplets('alpha')).toHaveLength(0);
    expect(emu.droplets.has(foreign.id)).toBe(true);
    expect([...emu.vpcs.values()].map((v) => v.name)).not.toContain('alpha-vpc');
    expect((await act.run(acts.destroyFarm, { farm: 'alpha' })).droplets).toBe(0);
  });

  it('a 429 storm and a burst of 5xx faults slow the run but do not fail it', async () => {
    const p = plan('storm');
    const handle = await provision(p);
    emu.storm(2500);
    emu.fail(3); // the three requests after the storm fail with 500/503 (each retried with backoff)
    const before = emu.log.filter((l) => l.status === 429).length;
    const r = await handle.result();
    expect(r.nodes).toHaveLength(33);
    expect(emu.log.filter((l) => l.status === 429).length).toBeGreaterThan(before);
    expect(emu.log.filter((l) => l.status >= 500).length).toBeGreaterThanOrEqual(3);
    expect(farmDroplets('storm')).toHaveLength(33);
  });

  it('a worker process killed mid-way and restarted ends with exactly 33 droplets', async () => {
    const p = plan('crash');
    const env = { ...process.env, DROVER_DO_API_URL: emu.url, DROVER_DO_TOKEN: TOKEN, DROVER_METRICS_PORT: '0' };
    const start = () => spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'infra'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env });
    let worker: ChildProcess = start();
    try {
      const handle = await provision(p, { taskQueue: TASK_QUEUES.infra });
      const deadline = Date.now() + 60_000;
      while (farmDroplets('crash').length < 5 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
      expect(farmDroplets('crash').length).toBeGreaterThanOrEqual(5);
      worker.kill('SIGKILL');
      await new Promise((r) => worker.once('close', r));
      worker = start();
      const r = await handle.result();
      expect(r.nodes).toHaveLength(33);
    } finally {
      worker.kill('SIGTERM');
    }
    expect(farmDroplets('crash')).toHaveLength(33);
    expect(new Set(farmDroplets('crash').map((d) => d.name)).size).toBe(33);
  });

  it('a failed step rolls back what the run created, or leaves it for a re-run to resume from', async () => {
    const other = new DigitalOceanClient(emu.url, TOKEN);
    // A load balancer with the plan's name that is not the farm's: provisioning must not adopt it.
    const squat = await other.request<{ load_balancer: { id: string } }>('POST', '/v2/load_balancers', { name: 'rb-lb', region: 'fra1', tags: ['other-team'] });
    const small = (name: string) => plan(name, (p) => (p.pools.find((x) => x.role === 'worker')!.count = 3));

    const e = await (await provision(small('rb'), { rollbackOnFailure: true })).result().then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(WorkflowFailedError);
    const f = (e as WorkflowFailedError).cause as ApplicationFailure;
    expect(f.type, String(f)).toBe('CloudRequestRejected');
    expect(f.message).toMatch(/failed at "load balancer": .*does not carry drover-rb.*rolled back/);
    expect(farmDroplets('rb')).toHaveLength(0);
    expect([...emu.volumes.values()].filter((v) => v.tags.includes(farmTag('rb')))).toHaveLength(0);
    expect(emu.loadBalancers.has(squat.load_balancer.id)).toBe(true);

    // Without rollback the droplets stay; once the name is free a re-run resumes and creates no droplet.
    const resume = plan('rb', (p) => (p.pools.find((x) => x.role === 'worker')!.count = 3));
    await (await provision(resume)).result().catch(() => undefined);
    expect(farmDroplets('rb')).toHaveLength(16);
    await other.request('DELETE', `/v2/load_balancers/${squat.load_balancer.id}`);
    const r = await (await provision(resume)).result();
    expect(r.created.droplets).toBe(0);
    expect(r.created.other).toContain('load balancer rb-lb');
    expect(farmDroplets('rb')).toHaveLength(16);
  });

  it('a wrong token fails at once as CloudAuthFailed', async () => {
    const acts = createDigitalOceanActivities({ digitalocean: new DigitalOceanClient(emu.url, 'wrong'), hostKeySeed: null });
    await expect(act.run(acts.ensureFarmTags, { farm: 'x', roles: ['manager'] })).rejects.toMatchObject({ type: 'CloudAuthFailed', nonRetryable: true });
  });
});

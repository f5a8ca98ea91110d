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
import { createDigitalOceanActivities, farmTag, roleTag } from '../../activities/digitalocean';
import { DigitalOceanClient } from '../../lib/clients/digitalocean-client';
import { loadPlan } from '../../lib/plan/load';
import type { FarmPlan } from '../../lib/plan/schema';
import { plannedNodes } from '../../lib/plan/nodes';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { provisionFarmWorkflow, provisionProgressQuery } from '../../workflows/provision-farm';
import { clusterHealthWorkflow } from '../../workflows/cluster-health';
import { CLI, stopWorkerProcess } from '../helpers/cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { useRunningWorker, replayOptions } from '../helpers/temporal';
import { DigitalOceanEmulator } from '../do-emulator/server';

const TOKEN = 'test-token';
const mock = new MockActivityEnvironment();
const act = { run: <A, R>(fn: (a: A) => Promise<R>, a: A) => mock.run(fn, a) as Promise<R> };
const emu = new DigitalOceanEmulator({ token: TOKEN, activeAfterMs: 1500 });
beforeAll(async () => {
  await emu.start();
  // As in a real account, fra1 already has its default VPC (the first created in a region), so the farms' VPCs
  // there are ordinary ones.
  await new DigitalOceanClient(emu.url, TOKEN).request('POST', '/v2/vpcs', { name: 'default-fra1', region: 'fra1', ip_range: '10.114.0.0/20' });
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
  ctx.tw.client.workflow.start(provisionFarmWorkflow, { workflowId: opts.id ?? `provision/${p.name}/${Date.now()}`, taskQueue: opts.taskQueue ?? ctx.taskQueue, args: [{ plan: p, nodes: plannedNodes(p), image: 'debian-12-x64', sshPublicKey: KEY, rollbackOnFailure: opts.rollbackOnFailure }] });

describe('provisionFarmWorkflow on the DigitalOcean emulator', () => {
  it('provisions the 33-node default plan in parallel; a re-run creates nothing; teardown removes only the farm', async () => {
    const p = plan('alpha');
    emu.log.length = 0;
    // In parallel, not by the clock: no droplet becomes active until all 33 exist, so a run that waited for
    // one droplet before creating the next would never get there.
    emu.opts.activeAfterMs = Number.MAX_SAFE_INTEGER;
    let handle;
    try {
      handle = await provision(p);
      for (let i = 0; i < 600 && farmDroplets('alpha').length < 33; i++) await new Promise((res) => setTimeout(res, 100));
      expect(farmDroplets('alpha')).toHaveLength(33);
    } finally {
      emu.opts.activeAfterMs = 1500;
      for (const d of emu.droplets.values()) d.activeAt = Math.min(d.activeAt, Date.now());
    }
    const r = await handle.result();
    expect(r.nodes).toHaveLength(33);
    expect(r.created.droplets).toBe(33);
    expect(r.created.volumes).toBe(7);
    expect(r.reservedIps).toHaveLength(2);
    const droplets = farmDroplets('alpha');
    expect(droplets).toHaveLength(33);
    expect(droplets.every((d) => d.status === 'active')).toBe(true);
    expect(new Set(droplets.map((d) => d.name)).size).toBe(33);
    expect([...emu.volumes.values()].filter((v) => v.tags.includes(farmTag('alpha')) && v.droplet_ids.length === 1)).toHaveLength(7);
    expect((await handle.query(provisionProgressQuery)).phase).toBe('done');
    await Worker.runReplayHistory(replayOptions(), await handle.fetchHistory(), handle.workflowId);

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

  it('a farm whose droplets are all off is down (health fails CloudNotFound, exit 1 in the CLI), not a farm name that names nothing (InvalidInput "farm: …", exit 2)', async () => {
    const farm = `off${process.pid % 10000}`;
    const api = new DigitalOceanClient(emu.url, TOKEN);
    const made = await Promise.all((['manager', 'worker'] as const).map((role, i) => api.createDroplet({ name: `${farm}-${role}-0${i + 1}`, region: 'fra1', size: 's-1vcpu-1gb', image: 'debian-12-x64', tags: [farmTag(farm), roleTag(farm, role)] })));
    try {
      for (const d of made) emu.droplets.get(d.id)!.status = 'off';
      const health = (f: string) =>
        ctx.tw.client.workflow.execute(clusterHealthWorkflow, { workflowId: `health/${f}/${Date.now()}`, taskQueue: ctx.taskQueue, args: [{ provider: 'digitalocean', farm: f }] }).then(
          () => null,
          (e: unknown) => (e as WorkflowFailedError).cause as ApplicationFailure,
        );
      expect(await health(farm)).toMatchObject({ type: 'CloudNotFound', message: `farm ${farm} has 2 droplet(s) but no active manager among them (0 active)` });
      expect(await health(`${farm}x`)).toMatchObject({ type: 'InvalidInput', message: `farm: no active manager droplet tagged for ${farm}x` });
    } finally {
      for (const d of made) emu.droplets.delete(d.id);
    }
  });

  it('a 429 storm and a burst of 5xx faults slow the run but do not fail it', async () => {
    const p = plan('storm');
    // This run's requests only (the log holds the tests' before it, a droplet create among them).
    const since = emu.log.length;
    const handle = await provision(p);
    // The storm comes while droplets are created in parallel (at the very start, all faults fell on the one tag
    // request and its exponential backoff alone took half a minute).
    while (!emu.log.slice(since).some((l) => l.method === 'POST' && l.path === '/v2/droplets')) await new Promise((r) => setTimeout(r, 20));
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
      await stopWorkerProcess(worker);
    }
    expect(farmDroplets('crash')).toHaveLength(33);
    expect(new Set(farmDroplets('crash').map((d) => d.name)).size).toBe(33);
  });

  it('a failed step rolls back what the run created, or leaves it for a re-run to resume from', async () => {
    const other = new DigitalOceanClient(emu.url, TOKEN);
    // A load balancer with the plan's name that is not the farm's: provisioning must not adopt it.
    const squat = await other.request<{ load_balancer: { id: string } }>('POST', '/v2/load_balancers', { name: 'rb-lb', region: 'fra1', tag: 'other-team' });
    const small = (name: string) => plan(name, (p) => (p.pools.find((x) => x.role === 'worker')!.count = 3));

    const e = await (await provision(small('rb'), { rollbackOnFailure: true })).result().then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(WorkflowFailedError);
    const f = (e as WorkflowFailedError).cause as ApplicationFailure;
    expect(f.type, String(f)).toBe('CloudRequestRejected');
    expect(f.message).toMatch(/failed at "load balancer": .*is not drover-rb's.*rolled back/);
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

  it('rollback also removes droplets whose create answer was lost, siblings still in flight, and reserved IPs', async () => {
    const tiny = (name: string) =>
      plan(name, (p) => {
        p.pools = p.pools.map((x) => ({ ...x, count: x.role === 'manager' ? 1 : x.role === 'worker' ? 3 : 0 }));
        p.volumes = [];
        p.floatingIps = { count: 2, role: 'worker' };
      });
    const farmOf = (farm: string) => ({
      droplets: farmDroplets(farm).length,
      reservedIps: [...emu.reservedIps.values()].length - before.reservedIps,
      firewalls: [...emu.firewalls.values()].filter((f) => f.tags.includes(farmTag(farm))).length,
      loadBalancers: [...emu.loadBalancers.values()].filter((l) => l.name === `${farm}-lb`).length,
      vpcs: [...emu.vpcs.values()].filter((v) => v.name === `${farm}-vpc`).length,
    });
    const before = { reservedIps: emu.reservedIps.size };
    const nothing = { droplets: 0, reservedIps: 0, firewalls: 0, loadBalancers: 0, vpcs: 0 };

    // One droplet is refused while two others are created but their answers lost: those two are found by the
    // retried activity after the first has already failed the step.
    emu.refuse('POST', '/v2/droplets', 1);
    emu.loseResponses('POST', '/v2/droplets', 2);
    const e1 = await (await provision(tiny('rbfly'), { rollbackOnFailure: true })).result().then(() => null, (err: unknown) => err);
    expect(((e1 as WorkflowFailedError).cause as ApplicationFailure).message).toMatch(/failed at "droplets".*rolled back/);
    await new Promise((r) => setTimeout(r, 3000)); // anything still in flight lands
    expect(farmOf('rbfly')).toEqual(nothing);

    // The first reserved IP is assigned but its answer lost (the retry finds it), the second is refused: the
    // first is released with the rest.
    emu.loseResponses('POST', '/v2/reserved_ips', 1);
    emu.refuse('POST', '/v2/reserved_ips', 1);
    const e2 = await (await provision(tiny('rbrip'), { rollbackOnFailure: true })).result().then(() => null, (err: unknown) => err);
    expect(((e2 as WorkflowFailedError).cause as ApplicationFailure).message).toMatch(/failed at "reserved ips".*rolled back/);
    expect(farmOf('rbrip')).toEqual(nothing);
  });

  it('rollback removes a volume created by an activity that then failed (its attach refused)', async () => {
    const p = plan('rbvol', (x) => (x.pools.find((q) => q.role === 'worker')!.count = 3));
    // The first attach is refused (422, permanent) after its volume was created: ensureVolume fails for good.
    emu.refuse('POST', '/v2/volumes/', 1);
    const e = await (await provision(p, { rollbackOnFailure: true })).result().then(() => null, (err: unknown) => err);
    expect(((e as WorkflowFailedError).cause as ApplicationFailure).message).toMatch(/failed at "volumes".*rolled back/);
    expect([...emu.volumes.values()].filter((v) => v.tags.includes(farmTag('rbvol'))).map((v) => v.name)).toEqual([]);
    expect(farmDroplets('rbvol')).toHaveLength(0);
  });

  it('two teardowns at once both finish: what the other already removed counts as done', async () => {
    const p = plan('twice', (x) => (x.pools = x.pools.map((pool) => ({ ...pool, count: Math.min(pool.count, 2) }))));
    await (await provision(p)).result();
    const acts = createDigitalOceanActivities({ digitalocean: new DigitalOceanClient(emu.url, TOKEN), hostKeySeed: null });
    emu.opts.latencyMs = 30; // both list before either deletes
    try {
      const [a, b] = await Promise.all([act.run(acts.destroyFarm, { farm: 'twice' }), new MockActivityEnvironment().run(acts.destroyFarm, { farm: 'twice' }) as ReturnType<typeof acts.destroyFarm>]);
      expect(a.droplets + b.droplets).toBeGreaterThan(0);
    } finally {
      emu.opts.latencyMs = 0;
    }
    expect(farmDroplets('twice')).toHaveLength(0);
    expect([...emu.volumes.values()].filter((v) => v.tags.includes(farmTag('twice')))).toHaveLength(0);
    expect([...emu.loadBalancers.values()].filter((l) => l.name === 'twice-lb')).toHaveLength(0);
    expect([...emu.firewalls.values()].filter((f) => f.name === 'twice-fw')).toHaveLength(0);
    expect([...emu.vpcs.values()].filter((v) => v.name === 'twice-vpc')).toHaveLength(0);
  });

  it('a farm VPC that became its region\'s default is left in place and reported by undo and teardown, never CloudAuthFailed', async () => {
    const acts = createDigitalOceanActivities({ digitalocean: new DigitalOceanClient(emu.url, TOKEN), hostKeySeed: null });
    // sgp1 has no VPC yet: the farm's becomes the region's default, which DigitalOcean refuses to delete (403).
    const vpc = await act.run(acts.ensureVpc, { farm: 'dflt', name: 'dflt-vpc', region: 'sgp1', ipRange: '10.140.0.0/20' });
    expect(emu.vpcs.get(vpc.id)?.default).toBe(true);
    const undo = await act.run(acts.deleteFarmResource, { farm: 'dflt', kind: 'vpc', id: vpc.id });
    expect(undo).toEqual({ deleted: false, kept: expect.stringMatching(/dflt-vpc left in place .*default VPC/) });
    const down = await act.run(acts.destroyFarm, { farm: 'dflt' });
    expect(down.other).toEqual([expect.stringMatching(/^vpc dflt-vpc left in place .*default VPC/)]);
    expect(emu.vpcs.has(vpc.id)).toBe(true);
    // A second VPC in that region is an ordinary one: it goes.
    const second = await act.run(acts.ensureVpc, { farm: 'dflt2', name: 'dflt2-vpc', region: 'sgp1', ipRange: '10.141.0.0/20' });
    expect((await act.run(acts.destroyFarm, { farm: 'dflt2' })).other).toEqual(['vpc dflt2-vpc']);
    expect(emu.vpcs.has(second.id)).toBe(false);
  });

  it('a request that gets no answer times out as CloudUnavailable (retried), never hangs', async () => {
    const slow = new DigitalOceanEmulator({ token: TOKEN, latencyMs: 5000 });
    await slow.start();
    try {
      const err = await new DigitalOceanClient(slow.url, TOKEN, undefined, { timeoutMs: 300 }).dropletsByTag('drover-x').catch((e: unknown) => e);
      expect(err).toMatchObject({ type: 'CloudUnavailable', nonRetryable: false });
      expect((err as Error).message).toMatch(/GET \/v2\/droplets.*no answer within 300 ms/);
    } finally {
      await slow.stop();
    }
  });

  it('an error in the API\'s other shape ({ error, root_causes }, as for tags) reaches the operator with its reason', async () => {
    const acts = createDigitalOceanActivities({ digitalocean: new DigitalOceanClient(emu.url, TOKEN), hostKeySeed: null });
    const err = await act.run(acts.ensureFarmTags, { farm: 'здорово', roles: ['manager'] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ type: 'CloudRequestRejected', nonRetryable: true });
    expect((err as Error).message).toMatch(/POST \/v2\/tags: 400 .*contains invalid characters/);
  });

  it('a wrong token fails at once as CloudAuthFailed', async () => {
    const acts = createDigitalOceanActivities({ digitalocean: new DigitalOceanClient(emu.url, 'wrong'), hostKeySeed: null });
    await expect(act.run(acts.ensureFarmTags, { farm: 'x', roles: ['manager'] })).rejects.toMatchObject({ type: 'CloudAuthFailed', nonRetryable: true });
  });
});

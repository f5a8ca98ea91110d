/**
 * Bring-up benchmark (docs/benchmarks.md): provisioning the default 33-node plan against the DigitalOcean API
 * emulator with DigitalOcean-like delays scaled down (a droplet `new` → `active` in 3 s instead of about a minute,
 * 40 ms per request, a 20 requests/s rate limit), measured side by side in one run:
 *   drover     — provisionFarmWorkflow through Temporal: every node in parallel;
 *   sequential — the same activities one node at a time, as manage-infrastructure.sh did;
 *   floor      — the longest single node's chain alone (create → active → its volume).
 *   npx vite-node bench/bring-up/run.ts -- --active-ms 3000
 */
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { MockActivityEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { createDigitalOceanActivities } from '../../activities/digitalocean';
import { DigitalOceanClient } from '../../lib/clients/digitalocean-client';
import { devUp } from '../../devkit/dev-env';
import { mergedEnv, parseEnv, workerEnvSchema } from '../../lib/env';
import { droverDataConverter } from '../../lib/data-converter';
import { loadPlan } from '../../lib/plan/load';
import { plannedNodes } from '../../lib/plan/nodes';
import type { FarmPlan } from '../../lib/plan/schema';
import { DigitalOceanEmulator } from '../../test/do-emulator/server';
import { createDroverWorker } from '../../workers/run-worker';
import { provisionFarmWorkflow } from '../../workflows/provision-farm';
import { runMain } from '../lib/shell';
import { whole } from '../lib/args';

const ACTIVE_MS = whole('active-ms', 3000);
const STATE = path.resolve('.drover-bench');
const TOKEN = 'bench-token';
const KEY = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBenchBootstrapKeyForTheEmulatorOnlyXX bench@drover';
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}

function named(name: string, nodes?: number): FarmPlan {
  const p = structuredClone(loadPlan());
  p.name = name;
  p.vpc.name = `${name}-vpc`;
  p.firewall.name = `${name}-fw`;
  if (p.loadBalancer) p.loadBalancer.name = `${name}-lb`;
  if (nodes === 1) {
    // One storage node: the longest chain (droplet, then its volume).
    p.pools = p.pools.map((x) => ({ ...x, count: x.role === 'storage' || x.role === 'manager' ? 1 : 0 }));
    p.floatingIps = { count: 1, role: 'manager' };
  }
  return p;
}

/** The shell script's way: the same steps, one node after another. */
async function sequential(client: DigitalOceanClient, plan: FarmPlan): Promise<number> {
  const a = createDigitalOceanActivities({ digitalocean: client, hostKeySeed: randomBytes(32) });
  const env = new MockActivityEnvironment();
  const run = <A, R>(fn: (x: A) => Promise<R>, x: A) => env.run(fn, x) as Promise<R>;
  const farm = plan.name;
  await run(a.ensureFarmTags, { farm, roles: [...new Set(plan.pools.map((p) => p.role))] });
  const vpc = await run(a.ensureVpc, { farm, name: plan.vpc.name, region: plan.region, ipRange: plan.vpc.ipRange });
  const key = await run(a.ensureSshKey, { name: `${farm}-bootstrap`, publicKey: KEY });
  const ids: number[] = [];
  for (const n of plannedNodes(plan)) {
    const d = await run(a.ensureDroplet, { farm, name: n.name, role: n.role, size: n.size, region: plan.region, image: 'debian-12-x64', vpcId: vpc.id, sshKeys: [key.fingerprint] });
    await run(a.waitForDroplet, { id: d.id, pollMs: 500 });
    for (const v of n.volumes) await run(a.ensureVolume, { farm, name: v.name, region: plan.region, sizeGb: v.sizeGb, dropletId: d.id });
    ids.push(d.id);
  }
  const lb = await run(a.ensureLoadBalancer, { farm, balancer: plan.loadBalancer!, region: plan.region, vpcId: vpc.id });
  await run(a.ensureFirewall, { farm, firewall: plan.firewall, vpcRange: plan.vpc.ipRange, loadBalancerId: lb.id });
  await run(a.ensureReservedIps, { dropletIds: ids.slice(0, plan.floatingIps?.count ?? 0) });
  return ids.length;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const env0 = await devUp({ stateDir: STATE, portOffset: 200, log });
  if (!env0.healthy) throw new Error('bench environment not healthy');
  const emu = new DigitalOceanEmulator({ token: TOKEN, activeAfterMs: ACTIVE_MS, latencyMs: 40, ratePerSecond: 20, burst: 40 });
  await emu.start();
  const env = parseEnv(workerEnvSchema, { ...mergedEnv(STATE), DROVER_DO_API_URL: emu.url, DROVER_DO_TOKEN: TOKEN });
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, dataConverter: droverDataConverter(env) });
  const stamp = Date.now().toString(36);
  const viaTemporal = async (plan: FarmPlan) => {
    const w = await createDroverWorker('infra', env, { taskQueue: `bench-bringup-${plan.name}` });
    try {
      return await timed(() => w.worker.runUntil(client.workflow.execute(provisionFarmWorkflow, { workflowId: `provision/${plan.name}`, taskQueue: `bench-bringup-${plan.name}`, args: [{ plan, nodes: plannedNodes(plan), image: 'debian-12-x64', sshPublicKey: KEY }] })));
    } finally {
      await w.close();
    }
  };
  try {
    log('floor: the longest single chain (one node with a volume, plus the farm-wide resources)');
    const floor = await viaTemporal(named(`f${stamp}`, 1));
    log('drover: the 33-node plan, every node in parallel');
    const drover = await viaTemporal(named(`d${stamp}`));
    const throttledDuringDrover = emu.log.filter((l) => l.status === 429).length;
    log('sequential: the same steps one node at a time');
    const seq = await timed(() => sequential(new DigitalOceanClient(emu.url, TOKEN), named(`s${stamp}`)));
    const report = {
      cores: os.cpus().length,
      emulator: { activeAfterMs: ACTIVE_MS, latencyMs: 40, ratePerSecond: 20, burst: 40 },
      nodes: drover.value.nodes.length,
      floorSeconds: +(floor.ms / 1000).toFixed(1),
      droverSeconds: +(drover.ms / 1000).toFixed(1),
      sequentialSeconds: +(seq.ms / 1000).toFixed(1),
      droverOverFloor: +(drover.ms / floor.ms).toFixed(2),
      sequentialOverDrover: +(seq.ms / drover.ms).toFixed(2),
      throttledRequestsDuringDrover: throttledDuringDrover,
      requests: emu.log.length,
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    await connection.close();
    await emu.stop();
  }
}

runMain(main);

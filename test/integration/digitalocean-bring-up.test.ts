/**
 * clusterBringUpWorkflow with the DigitalOcean provider, end to end on this machine: the DigitalOcean API is the
 * stateful emulator (DigitalOcean cannot be reached from here), and each droplet it creates is also a real
 * machine (test/do-emulator/local-droplets.ts: a network namespace with its own address, hostname and sshd) that
 * receives what cloud-init would give it: the host key from the user data and the account's SSH key. From there
 * it is the real thing: SSH pinned to the derived host key from the first connection, Docker bootstrapped over
 * SSH, swarm init/join, labels from the plan, the plan's encrypted overlays, a stack converged. The drover-infra
 * worker is a separate process, killed mid-bootstrap and restarted: the run ends with exactly the plan's droplets
 * and one swarm. Secrets (join tokens, host private keys) never appear in the history.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { farmTag } from '../../activities/digitalocean';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { deriveHostKey } from '../../lib/clients/host-keys';
import { hostKeyFingerprint } from '../../lib/clients/ssh-client';
import { buildLocalImageTar, LOCAL_IMAGE } from '../../devkit/local-image';
import { loadPlan, validatePlan } from '../../lib/plan/load';
import { bringUpProgressQuery, clusterBringUpWorkflow, type DigitalOceanBringUpInput } from '../../workflows/cluster-bring-up';
import { clusterTeardownWorkflow } from '../../workflows/cluster-teardown';
import { clusterHealthWorkflow } from '../../workflows/cluster-health';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { CLI } from '../helpers/cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { quickSmokeStack } from '../helpers/smoke-stack';
import { secretsInWorkflowTree } from '../helpers/history-secrets';
import { freeSubnet } from '../helpers/subnet';
import { connectTestServer, testEnv, replayOptions } from '../helpers/temporal';
import { LocalDroplets } from '../do-emulator/local-droplets';
import { DigitalOceanEmulator } from '../do-emulator/server';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

const TOKEN = 'bring-up-token';
const NODES_DIR = path.join(TEST_STATE_DIR, 'nodes');
const GROUP = 'do-emulator';
const machines = new LocalDroplets({ group: GROUP, subnet: freeSubnet(233, TEST_PORT_OFFSET % 250), nodesDir: NODES_DIR });
const emu = new DigitalOceanEmulator({ token: TOKEN, activeAfterMs: 500, backing: machines });
let tw: TestWorkflowEnvironment;
let worker: ChildProcess | undefined;

function startWorker(): ChildProcess {
  const env = { ...process.env, DROVER_DO_API_URL: emu.url, DROVER_DO_TOKEN: TOKEN, DROVER_METRICS_PORT: '0' };
  return spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'infra'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env });
}
async function stopWorker(signal: NodeJS.Signals): Promise<void> {
  if (!worker || worker.exitCode !== null) return;
  const w = worker;
  w.kill(signal);
  await new Promise((r) => w.once('close', r));
}

beforeAll(async () => {
  await machines.close(); // leftovers of an interrupted run
  await emu.start();
  tw = await connectTestServer();
}, 300_000);
afterAll(async () => {
  await stopWorker('SIGTERM');
  await emu.stop();
  await machines.close();
  await tw?.teardown();
}, 300_000);

/** A small farm from the default plan: one manager, two workers, one reserved IP; its networks and nothing else. */
function smallPlan(name: string) {
  const p = structuredClone(loadPlan());
  p.name = name;
  p.vpc.name = `${name}-vpc`;
  p.firewall.name = `${name}-fw`;
  if (p.loadBalancer) p.loadBalancer.name = `${name}-lb`;
  p.pools = p.pools.map((x) => ({ ...x, count: x.role === 'manager' ? 1 : x.role === 'worker' ? 2 : 0 }));
  p.volumes = [];
  p.floatingIps = { count: 1, role: 'manager' };
  p.stacks = [];
  return validatePlan(p);
}

describe('DigitalOcean bring-up (emulated API, real machines)', () => {
  it('provisions, pins SSH from the first connection, forms a labelled swarm; survives a killed worker; re-run changes nothing; down removes it', async () => {
    const plan = smallPlan('dobu');
    const seed = readFileSync(testEnv().DROVER_HOST_KEY_SEED_FILE!);
    const input: DigitalOceanBringUpInput = {
      provider: 'digitalocean',
      farm: plan.name,
      plan,
      image: 'debian-12-x64',
      networks: plan.networks,
      stacks: [{ name: 'smoke', compose: quickSmokeStack(), dependsOn: [] }],
      images: [{ image: LOCAL_IMAGE, tarPath: await buildLocalImageTar(path.join(TEST_STATE_DIR, 'images')) }],
    };
    const farmDroplets = () => [...emu.droplets.values()].filter((d) => d.tags.includes(farmTag('dobu')));
    worker = startWorker();
    try {
      const handle = await tw.client.workflow.start(clusterBringUpWorkflow, { workflowId: `bringup/dobu/${Date.now()}`, taskQueue: TASK_QUEUES.infra, args: [input] });
      // Kill the worker once Docker is being bootstrapped over SSH on the droplets, then start another.
      const deadline = Date.now() + 240_000;
      let phase = '';
      while (Date.now() < deadline) {
        phase = (await handle.query(bringUpProgressQuery).catch(() => ({ phase: '' }))).phase;
        if (phase === 'bootstrap docker') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(phase).toBe('bootstrap docker');
      await stopWorker('SIGKILL');
      worker = startWorker();
      const r = await handle.result();

      expect(farmDroplets()).toHaveLength(3);
      expect(r.created.nodes).toBe(3);
      expect(r.report.nodes.map((n) => [n.hostname, n.role, n.state, n.labels.role, n.labels['drover.farm']])).toEqual([
        ['dobu-manager-01', 'manager', 'ready', 'manager', 'dobu'],
        ['dobu-worker-01', 'worker', 'ready', 'worker', 'dobu'],
        ['dobu-worker-02', 'worker', 'ready', 'worker', 'dobu'],
      ]);
      expect(r.report.networks.map((n) => n.name)).toEqual(plan.networks.map((n) => n.name).sort());
      expect(r.report.networks.every((n) => n.encrypted)).toBe(true);
      expect(r.stacks).toEqual([{ name: 'smoke', services: [expect.objectContaining({ name: 'smoke_web', desired: 3, running: 3 })] }]);
      expect(r.stacks[0].services[0].nodes.every((n) => n.startsWith('dobu-worker-'))).toBe(true);
      // Every droplet serves the host key derived for it, and the run pinned exactly that.
      for (const n of r.nodes) {
        const pub = readFileSync(path.join(NODES_DIR, GROUP, n.name, 'ssh_host_ed25519_key.pub'), 'utf8').split(' ')[1];
        expect(hostKeyFingerprint(Buffer.from(pub, 'base64'))).toBe(deriveHostKey(seed, 'dobu', n.name).fingerprint);
        expect(n.hostKey).toBe(deriveHostKey(seed, 'dobu', n.name).fingerprint);
      }
      // No secret in the history: not the swarm's join tokens, not a host private key.
      const manager = r.nodes.find((n) => n.role === 'manager')!;
      const docker = createDockerClient({ host: `ssh://root@${manager.ip}:22${manager.dockerSocket}`, sshPrivateKey: readFileSync(testEnv().DROVER_SSH_KEY_FILE), sshPinnedHostKeys: [manager.hostKey] });
      const tokens = ((await docker.swarmInspect()) as { JoinTokens: { Worker: string; Manager: string } }).JoinTokens;
      closeDockerClient(docker);
      const secrets = [
        { name: 'worker join token', value: tokens.Worker },
        { name: 'manager join token', value: tokens.Manager },
        { name: 'a private key', value: /PRIVATE KEY/ },
        ...r.nodes.map((n) => ({ name: `${n.name}'s host private key`, value: deriveHostKey(seed, 'dobu', n.name).privateKey.split('\n')[1] })),
      ];
      expect(await secretsInWorkflowTree(tw.client.workflow, handle.workflowId, secrets)).toEqual([]);
      await Worker.runReplayHistory(replayOptions(), await handle.fetchHistory(), handle.workflowId);

      // Again: nothing is created, nothing joins.
      const again = await tw.client.workflow.execute(clusterBringUpWorkflow, { workflowId: `bringup/dobu/again/${Date.now()}`, taskQueue: TASK_QUEUES.infra, args: [input] });
      expect(again.created).toEqual({ nodes: 0, swarm: false, joined: 0, networks: 0, images: 0 });
      expect(farmDroplets()).toHaveLength(3);

      const health = await tw.client.workflow.execute(clusterHealthWorkflow, { workflowId: `health/dobu/${Date.now()}`, taskQueue: TASK_QUEUES.infra, args: [{ provider: 'digitalocean', farm: 'dobu' }] });
      expect(health.checks.slice(0, 3).map((c) => [c.name, c.ok])).toEqual([
        ['nodes ready', true],
        ['nodes labelled', true],
        ['services at desired replicas', true],
      ]);
    } finally {
      const down = await tw.client.workflow.execute(clusterTeardownWorkflow, { workflowId: `teardown/dobu/${Date.now()}`, taskQueue: TASK_QUEUES.infra, args: [{ provider: 'digitalocean', farm: 'dobu' }] });
      expect(down.removed[0]).toBe('3 droplets');
    }
    await emu.settle();
    expect(farmDroplets()).toHaveLength(0);
    // Destroying the droplets stopped the machines: no namespace, no folder, no dockerd left.
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain('dobu-');
    for (const n of ['dobu-manager-01', 'dobu-worker-01', 'dobu-worker-02']) expect(existsSync(path.join(NODES_DIR, GROUP, n))).toBe(false);
  }, 900_000);
});

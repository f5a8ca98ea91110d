/**
 * clusterBringUpWorkflow with the local provider, for real: four network-namespace nodes on this machine, each
 * with its own address, hostname, sshd and (after bootstrap over SSH) dockerd, form a swarm: one manager, three
 * workers joined and labelled, the plan's nine encrypted overlay networks, and the smoke stack converged on
 * worker nodes only. Running it again changes nothing; scaling out adds a labelled worker; scaling in by two
 * drains them without the smoke service ever running fewer than its tasks; tearing down leaves nothing.
 */
import { existsSync, readdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { Worker } from '@temporalio/worker';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bridgeName, createLocalNodeActivities, processesRootedUnder } from '../../activities/local-nodes';
import { createSwarmNodeActivities } from '../../activities/swarm-nodes';
import { DRAIN_EXTRA_LABEL } from '../../activities/swarm-services';
import { buildLocalImageTar, LOCAL_IMAGE } from '../../devkit/local-image';
import { loadPlan } from '../../lib/plan/load';
import { runningTasks } from '../../lib/swarm-running';
import { bringUpProgressQuery, clusterBringUpWorkflow, type ClusterBringUpInput } from '../../workflows/cluster-bring-up';
import { clusterTeardownWorkflow } from '../../workflows/cluster-teardown';
import { clusterScaleWorkflow } from '../../workflows/cluster-scale';
import { clusterHealthWorkflow } from '../../workflows/cluster-health';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { drover } from '../helpers/cli';
import { TEST_STATE_DIR } from '../helpers/paths';
import { quickSmokeStack } from '../helpers/smoke-stack';
import { secretsInWorkflowTree } from '../helpers/history-secrets';
import { freeSubnet } from '../helpers/subnet';
import { useRunningWorker, replayOptions } from '../helpers/temporal';
import { crashActivityAt } from '../helpers/activity-process';

const NODES_DIR = path.join(TEST_STATE_DIR, 'nodes');
const SUBNET = freeSubnet(232);
const ctx = useRunningWorker('cluster', (d) => ({ ...d, localNodes: { dir: NODES_DIR } }));

// A run killed mid-test (a timeout, Ctrl-C) leaves its nodes: remove them before and after, as `drover down` would.
async function removeLeftovers(): Promise<void> {
  const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
  for (const farm of existsSync(NODES_DIR) ? readdirSync(NODES_DIR) : []) await new MockActivityEnvironment().run(acts.destroyLocalFarm, { farm });
}
beforeAll(removeLeftovers, 300_000);
afterAll(removeLeftovers, 300_000);

describe('local provider bring-up', () => {
  it('forms a 4-node swarm with labels, encrypted overlays and a converged stack; again changes nothing; scales out and in; down removes it all', async () => {
    const farm = `t${ctx.taskQueue.slice(-6)}`;
    const input: ClusterBringUpInput = {
      provider: 'local',
      farm,
      nodes: 4,
      subnet: SUBNET,
      networks: loadPlan().networks,
      stacks: [{ name: 'smoke', compose: quickSmokeStack(), dependsOn: [] }],
      images: [{ image: LOCAL_IMAGE, tarPath: await buildLocalImageTar(path.join(TEST_STATE_DIR, 'images')) }],
    };
    try {
      const handle = await ctx.tw.client.workflow.start(clusterBringUpWorkflow, { workflowId: `bringup/${farm}`, taskQueue: ctx.taskQueue, args: [input] });
      const r = await handle.result();
      expect(r.report.nodes.map((n) => [n.hostname, n.role, n.state, n.labels.role])).toEqual([
        [`${farm}-manager-01`, 'manager', 'ready', 'manager'],
        [`${farm}-worker-01`, 'worker', 'ready', 'worker'],
        [`${farm}-worker-02`, 'worker', 'ready', 'worker'],
        [`${farm}-worker-03`, 'worker', 'ready', 'worker'],
      ]);
      expect(r.report.networks.map((n) => n.name)).toEqual(loadPlan().networks.map((n) => n.name).sort());
      expect(r.report.networks.every((n) => n.encrypted)).toBe(true);
      expect(r.report.networks.find((n) => n.name === 'wordpress')?.subnet).toBe('10.200.8.0/21');
      const web = r.stacks[0].services[0];
      expect(web).toMatchObject({ name: 'smoke_web', desired: 3, running: 3 });
      expect(web.nodes.every((n) => n.startsWith(`${farm}-worker-`))).toBe(true);
      expect(r.created).toMatchObject({ nodes: 4, swarm: true, joined: 3, networks: 9 });
      expect(await handle.query(bringUpProgressQuery)).toMatchObject({ phase: 'done', stacks: { smoke: 'converged' } });
      await Worker.runReplayHistory(replayOptions(), await handle.fetchHistory(), handle.workflowId);
      // The swarm's join tokens never enter the history (joinSwarm reads them on the manager).
      const m = r.nodes[0];
      const onManager = createDockerClient({ host: `ssh://root@${m.ip}:22${m.dockerSocket}`, sshPrivateKey: ctx.deps.ssh.options.privateKey, sshPinnedHostKeys: [m.hostKey] });
      const tokens = ((await onManager.swarmInspect()) as { JoinTokens: { Worker: string; Manager: string } }).JoinTokens;
      closeDockerClient(onManager);
      expect(await secretsInWorkflowTree(ctx.tw.client.workflow, handle.workflowId, [{ name: 'worker join token', value: tokens.Worker }, { name: 'manager join token', value: tokens.Manager }, { name: 'a private key', value: /PRIVATE KEY/ }])).toEqual([]);

      const again = await ctx.tw.client.workflow.execute(clusterBringUpWorkflow, { workflowId: `bringup/${farm}/again`, taskQueue: ctx.taskQueue, args: [input] });
      expect(again.created).toEqual({ nodes: 0, swarm: false, joined: 0, networks: 0, images: 0 });
      expect(again.report.nodes).toHaveLength(4);
      expect(again.stacks[0].services[0]).toMatchObject({ desired: 3, running: 3 });

      // Scale out by one: only the new node goes through the steps, labelled like its peers.
      const { nodes: _n, ...scaleBase } = input;
      const up = await ctx.tw.client.workflow.execute(clusterScaleWorkflow, { workflowId: `scale/${farm}/+1`, taskQueue: ctx.taskQueue, args: [{ ...scaleBase, delta: 1 }] });
      expect(up).toMatchObject({ before: 4, after: 5, added: [`${farm}-worker-04`] });
      expect(up.report.nodes.find((n) => n.hostname === `${farm}-worker-04`)).toMatchObject({ state: 'ready', labels: { role: 'worker' } });

      // A drain whose worker dies right after it scaled the smoke service up (a crash test: the activity in a process
      // of its own) leaves the service at more than its 3 replicas, saying by how many on the service itself.
      const manager = r.nodes[0];
      const docker = createDockerClient({ host: `ssh://root@${manager.ip}:22${manager.dockerSocket}`, sshPrivateKey: ctx.deps.ssh.options.privateKey, sshPinnedHostKeys: [manager.hostKey] });
      type WebSpec = { Spec: { Labels?: Record<string, string>; Mode: { Replicated: { Replicas: number } } } };
      const webSpec = async () => ((await docker.getService('smoke_web').inspect()) as WebSpec).Spec;
      const leaving = [`${farm}-worker-03`, `${farm}-worker-04`];
      const drain = { manager, hostnames: leaving, timeoutMs: 120_000 };
      await crashActivityAt('drain-scaled-up', 'drainSwarmNodes', drain);
      const scaledUp = await webSpec();
      expect(scaledUp.Mode.Replicated.Replicas).toBeGreaterThan(3);
      expect(scaledUp.Labels?.[DRAIN_EXTRA_LABEL]).toBe(String(scaledUp.Mode.Replicated.Replicas - 3));
      // Its retry dies too, once the nodes are drained and before the scale-back: no task is left on the nodes, and
      // the label is all that says the service runs more than its replicas.
      await crashActivityAt('drain-drained', 'drainSwarmNodes', drain);
      const drained = await webSpec();
      expect(drained.Mode.Replicated.Replicas).toBe(scaledUp.Mode.Replicated.Replicas);
      expect(drained.Labels?.[DRAIN_EXTRA_LABEL]).toBe(scaledUp.Labels?.[DRAIN_EXTRA_LABEL]);
      const leavingIds = ((await docker.listNodes()) as { ID: string; Description: { Hostname: string } }[]).filter((n) => leaving.includes(n.Description.Hostname)).map((n) => n.ID);
      const onLeaving = ((await docker.listTasks({ filters: { service: ['smoke_web'], 'desired-state': ['running'] } })) as { NodeID?: string }[]).filter((t) => leavingIds.includes(t.NodeID ?? ''));
      expect(onLeaving).toEqual([]);

      // Scale in by two (the same nodes, as the crashed drain's retry would) while watching the smoke service: it never
      // runs fewer than its 3 tasks, and ends at its 3 replicas with the drain's label gone.
      let fewest = Infinity;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const tasks = (await docker.listTasks({ filters: { service: ['smoke_web'], 'desired-state': ['running'] } })) as { NodeID?: string; Status: { State: string } }[];
          // Counted as `docker service ls` does: a task on a node that is down or gone runs nowhere.
          fewest = Math.min(fewest, runningTasks(tasks, (await docker.listNodes()) as { ID: string; Status: { State: string } }[]).length);
          await new Promise((res) => setTimeout(res, 200));
        }
      })();
      try {
        const down = await ctx.tw.client.workflow.execute(clusterScaleWorkflow, { workflowId: `scale/${farm}/-2`, taskQueue: ctx.taskQueue, args: [{ ...scaleBase, delta: -2 }] });
        expect(down).toMatchObject({ before: 5, after: 3, removed: [`${farm}-worker-03`, `${farm}-worker-04`] });
        expect(down.report.nodes.map((n) => n.hostname)).toEqual([`${farm}-manager-01`, `${farm}-worker-01`, `${farm}-worker-02`]);
        expect(down.report.services.find((x) => x.name === 'smoke_web')).toMatchObject({ desired: 3, running: 3 });
        expect(down.removed).toEqual(leaving);
        const settled = await webSpec();
        expect(settled.Mode.Replicated.Replicas).toBe(3);
        expect(settled.Labels ?? {}).not.toHaveProperty([DRAIN_EXTRA_LABEL]);
      } finally {
        watching = false;
        await watcher;
        closeDockerClient(docker);
      }
      expect(fewest).toBeGreaterThanOrEqual(3);

      const health = await ctx.tw.client.workflow.execute(clusterHealthWorkflow, { workflowId: `health/${farm}`, taskQueue: ctx.taskQueue, args: [{ provider: 'local', farm }] });
      expect(health.checks.map((c) => [c.name, c.ok])).toEqual([
        ['nodes ready', true],
        ['nodes labelled', true],
        ['services at desired replicas', true],
        ['galera synced', true],
        ['redis master known to sentinel', true],
        ['varnish hit ratio', true],
      ]);
      expect(health.checks.filter((c) => c.skipped).map((c) => c.name)).toEqual(['redis master known to sentinel', 'varnish hit ratio']);
      expect(health.healthy).toBe(true);

      // A task that keeps failing comes back once its cause is gone: swarm restarts it however often it failed. The
      // smoke stack gave a slot up after three restarts (`max_attempts: 3`), and the stack then never converged.
      const dockerOn = (n: (typeof r.nodes)[number]) => createDockerClient({ host: `ssh://root@${n.ip}:22${n.dockerSocket}`, sshPrivateKey: ctx.deps.ssh.options.privateKey, sshPinnedHostKeys: [n.hostKey] });
      const swarmApi = dockerOn(r.nodes[0]);
      let kills = 0;
      try {
        type SlotTask = { NodeID: string; Slot: number; Status: { State: string; ContainerStatus?: { ContainerID?: string } } };
        const hostOf = new Map(((await swarmApi.listNodes()) as { ID: string; Description: { Hostname: string } }[]).map((n) => [n.ID, n.Description.Hostname]));
        // One slot's container killed four times, wherever swarm runs it (each kill is a non-zero exit: a failure). The
        // slots' numbers after the scale-in are whatever swarm kept: the first running task's.
        const tasks = async () => (await swarmApi.listTasks({ filters: { service: ['smoke_web'], 'desired-state': ['running'] } })) as SlotTask[];
        const slot = (await tasks()).find((x) => x.Status.State === 'running')?.Slot;
        expect(slot).toBeDefined();
        const until = Date.now() + 180_000;
        const seen = new Set<string>();
        for (; kills < 4 && Date.now() < until; await new Promise((res) => setTimeout(res, 500))) {
          const t = (await tasks()).find((x) => x.Slot === slot && x.Status.State === 'running' && x.Status.ContainerStatus?.ContainerID);
          const id = t?.Status.ContainerStatus?.ContainerID;
          if (!t || !id || seen.has(id)) continue;
          const node = r.nodes.find((n) => n.name === hostOf.get(t.NodeID))!;
          const d = dockerOn(node);
          await d.getContainer(id).kill().catch(() => undefined);
          closeDockerClient(d);
          seen.add(id);
          kills++;
        }
      } finally {
        closeDockerClient(swarmApi);
      }
      expect(kills).toBe(4);
      const swarm = createSwarmNodeActivities({ ssh: ctx.deps.ssh });
      const back = (await new MockActivityEnvironment().run(swarm.waitForStack, { manager: r.nodes[0], name: 'smoke', timeoutMs: 120_000 })) as Awaited<ReturnType<typeof swarm.waitForStack>>;
      expect(back.services[0]).toMatchObject({ name: 'smoke_web', desired: 3, running: 3 });

      // A node whose Docker dies is reported: the health check can fail.
      process.kill(Number(readFileSync(path.join(NODES_DIR, farm, `${farm}-worker-02`, 'dockerd.pid'), 'utf8')), 'SIGKILL');
      // Its tasks fail first (services below desired replicas); the manager marks the node down after missed heartbeats.
      let sick = health;
      for (let i = 0; i < 60 && sick.checks.find((c) => c.name === 'nodes ready')?.ok; i++) {
        await new Promise((res) => setTimeout(res, 2000));
        sick = await ctx.tw.client.workflow.execute(clusterHealthWorkflow, { workflowId: `health/${farm}/${i}`, taskQueue: ctx.taskQueue, args: [{ provider: 'local', farm }] });
      }
      expect(sick.healthy).toBe(false);
      expect(sick.checks.find((c) => c.name === 'nodes ready')).toMatchObject({ ok: false, detail: expect.stringContaining(`${farm}-worker-02 (down)`) });
      expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(`${farm}-worker-04`);
    } finally {
      const down = await ctx.tw.client.workflow.execute(clusterTeardownWorkflow, { workflowId: `teardown/${farm}`, taskQueue: ctx.taskQueue, args: [{ provider: 'local', farm }] });
      expect(down.removed.length).toBeGreaterThanOrEqual(3);
    }
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(farm);
    expect(() => execFileSync('ip', ['link', 'show', bridgeName(farm)], { stdio: 'ignore' })).toThrow();
    expect(existsSync(path.join(NODES_DIR, farm))).toBe(false);
    expect(execFileSync('sh', ['-c', 'pgrep -af dockerd || true'], { encoding: 'utf8' })).not.toContain(path.join(NODES_DIR, farm));
    // Nor any of its containers: worker-02's, left running when its dockerd was killed above, used to run on.
    expect(processesRootedUnder(path.join(NODES_DIR, farm))).toEqual([]);
  }, 900_000);

  it('two teardowns of one farm at once both finish: whatever the other removed first counts as done; another farm given its subnet is refused before any node exists', async () => {
    const farm = `d${ctx.taskQueue.slice(-6)}`;
    const subnet = freeSubnet(234, 100);
    const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
    const { publicKey } = (await new MockActivityEnvironment().run(acts.bootstrapPublicKey)) as { publicKey: string };
    const names = Array.from({ length: 6 }, (_, i) => `${farm}-worker-0${i + 1}`);
    // Nodes with their namespace, address and sshd (no Docker: the race is in removing the node itself).
    for (const [index, name] of names.entries()) await new MockActivityEnvironment().run(acts.ensureLocalNode, { farm, name, index, subnet, authorizedKey: publicKey });
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).toContain(`drover-${farm}-worker-06`);
    // Another farm given that subnet (a --subnet copied from the first) is refused before any node of it exists:
    // exit 2 naming --subnet (it exited 1).
    const other = `o${ctx.taskQueue.slice(-6)}`;
    const clash = await drover(['up', '--farm', other, '--subnet', subnet, '--nodes', '2', '--worker', '--json']);
    expect(clash.code, clash.stdout + clash.stderr).toBe(2);
    expect(clash.json()).toMatchObject({ ok: false, error: { field: '--subnet', message: expect.stringContaining(`${subnet} is already used by ${bridgeName(farm)}`) } });
    expect(existsSync(path.join(NODES_DIR, other))).toBe(false);
    expect(() => execFileSync('ip', ['link', 'show', bridgeName(other)], { stdio: 'ignore' })).toThrow();

    const teardown = (n: number) => ctx.tw.client.workflow.execute(clusterTeardownWorkflow, { workflowId: `teardown/${farm}/${n}`, taskQueue: ctx.taskQueue, args: [{ provider: 'local', farm }] });
    const [a, b] = await Promise.all([teardown(1), teardown(2)]);
    expect(new Set([...a.removed, ...b.removed])).toEqual(new Set(names));
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toContain(farm);
    expect(() => execFileSync('ip', ['link', 'show', bridgeName(farm)], { stdio: 'ignore' })).toThrow();
    expect(existsSync(path.join(NODES_DIR, farm))).toBe(false);
  }, 300_000);

  it('bootstrap blocks the metadata address for traffic a node forwards from its containers', async () => {
    const farm = `m${ctx.taskQueue.slice(-6)}`;
    const name = `${farm}-worker-01`;
    const ns = `drover-${name}`;
    const box = `drover-${farm}-box`; // stands in for a container: its own namespace, routed through the node
    const inNode = (args: string[]) => execFileSync('ip', ['netns', 'exec', ns, ...args], { encoding: 'utf8' });
    const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
    const { publicKey } = (await new MockActivityEnvironment().run(acts.bootstrapPublicKey)) as { publicKey: string };
    const node = (await new MockActivityEnvironment().run(acts.ensureLocalNode, { farm, name, index: 0, subnet: freeSubnet(235, 100), authorizedKey: publicKey })) as { ip: string; hostKey: string };
    try {
      const swarm = createSwarmNodeActivities({ ssh: ctx.deps.ssh });
      const address = { name, ip: node.ip, sshPort: 22, hostKey: node.hostKey, dockerSocket: '' };
      await new MockActivityEnvironment().run(swarm.bootstrapNode, { node: address });
      // Twice changes nothing: one rule, first in its chain.
      await new MockActivityEnvironment().run(swarm.bootstrapNode, { node: address });
      const rules = inNode(['iptables', '-S', 'FORWARD']).split('\n').filter((l) => l.startsWith('-A '));
      expect(rules.filter((l) => l.includes('169.254.169.254'))).toEqual(['-A FORWARD -d 169.254.169.254/32 -j DROP']);
      expect(rules[0]).toBe('-A FORWARD -d 169.254.169.254/32 -j DROP');

      // A packet from the stand-in container to the metadata address meets the rule (its counter moves).
      execFileSync('ip', ['netns', 'add', box]);
      execFileSync('ip', ['link', 'add', 'dvbox0', 'netns', box, 'type', 'veth', 'peer', 'name', 'dvbox1', 'netns', ns]);
      execFileSync('ip', ['-n', box, 'addr', 'add', '172.31.250.2/30', 'dev', 'dvbox0']);
      execFileSync('ip', ['-n', box, 'link', 'set', 'dvbox0', 'up']);
      execFileSync('ip', ['-n', box, 'route', 'add', 'default', 'via', '172.31.250.1']);
      execFileSync('ip', ['-n', ns, 'addr', 'add', '172.31.250.1/30', 'dev', 'dvbox1']);
      execFileSync('ip', ['-n', ns, 'link', 'set', 'dvbox1', 'up']);
      execFileSync('ip', ['-n', ns, 'route', 'add', '169.254.169.254/32', 'dev', 'eth0']);
      inNode(['sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      // What a container would ask for: the droplet's user data, which holds its host private key.
      execFileSync('ip', ['netns', 'exec', box, 'sh', '-c', 'curl -s -m 2 http://169.254.169.254/metadata/v1/user-data || true'], { stdio: 'ignore' });
      const counter = /^\s*(\d+)\s+\d+\s+DROP.*169\.254\.169\.254/m.exec(inNode(['iptables', '-L', 'FORWARD', '-v', '-n', '-x']));
      expect(Number(counter?.[1] ?? 0)).toBeGreaterThanOrEqual(1);
    } finally {
      execFileSync('sh', ['-c', `ip netns del ${box} 2>/dev/null || true`]);
      await new MockActivityEnvironment().run(acts.destroyLocalFarm, { farm });
    }
  }, 300_000);

  it.each([
    [['down', '--farm', 'nothing-here'], '--yes'],
    [['up', '--provider', 'aws'], '--provider'],
    [['up', '--provider', 'digitalocean', '--farm', 'not-the-plan'], '--farm'],
    [['status', '--provider', 'aws'], '--provider'],
    [['up', '--nodes', '1'], '--nodes'],
    [['up', '--subnet', '192.168.1.0/16'], '--subnet'],
    [['up', '--farm', 'Bad_Name'], '--farm'],
  ])('%j exits 2 naming %s and creates nothing', async (args, field) => {
    const r = await drover([...args, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect((r.json() as { error: { field: string } }).error.field).toBe(field);
    expect(execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })).not.toMatch(/drover-(local|nothing-here)-/);
  });
});

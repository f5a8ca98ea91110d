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
import { bridgeName, createLocalNodeActivities } from '../../activities/local-nodes';
import { buildLocalImageTar, LOCAL_IMAGE } from '../../lib/local-image';
import { loadPlan } from '../../lib/plan/load';
import { bringUpProgressQuery, clusterBringUpWorkflow, clusterTeardownWorkflow, type ClusterBringUpInput } from '../../workflows/cluster-bring-up';
import { clusterScaleWorkflow } from '../../workflows/cluster-scale';
import { clusterHealthWorkflow } from '../../workflows/cluster-health';
import { closeDockerClient, createDockerClient } from '../../activities/lib/docker-client';
import { drover } from '../helpers/cli';
import { ROOT, TEST_BUNDLE, TEST_STATE_DIR } from '../helpers/paths';
import { freeSubnet } from '../helpers/subnet';
import { useRunningWorker } from '../helpers/temporal';

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
      stacks: [{ name: 'smoke', compose: readFileSync(path.join(ROOT, 'stacks/smoke.yml'), 'utf8'), dependsOn: [] }],
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
      await Worker.runReplayHistory({ workflowBundle: { codePath: TEST_BUNDLE } }, await handle.fetchHistory(), handle.workflowId);

      const again = await ctx.tw.client.workflow.execute(clusterBringUpWorkflow, { workflowId: `bringup/${farm}/again`, taskQueue: ctx.taskQueue, args: [input] });
      expect(again.created).toEqual({ nodes: 0, swarm: false, joined: 0, networks: 0, images: 0 });
      expect(again.report.nodes).toHaveLength(4);
      expect(again.stacks[0].services[0]).toMatchObject({ desired: 3, running: 3 });

      // Scale out by one: only the new node goes through the steps, labelled like its peers.
      const { nodes: _n, ...scaleBase } = input;
      const up = await ctx.tw.client.workflow.execute(clusterScaleWorkflow, { workflowId: `scale/${farm}/+1`, taskQueue: ctx.taskQueue, args: [{ ...scaleBase, delta: 1 }] });
      expect(up).toMatchObject({ before: 4, after: 5, added: [`${farm}-worker-04`] });
      expect(up.report.nodes.find((n) => n.hostname === `${farm}-worker-04`)).toMatchObject({ state: 'ready', labels: { role: 'worker' } });

      // Scale in by two while watching the smoke service: it never runs fewer than its 3 tasks.
      const manager = r.nodes[0];
      const docker = createDockerClient({ host: `ssh://root@${manager.ip}:22${manager.dockerSocket}`, sshPrivateKey: ctx.deps.ssh.options.privateKey, sshPinnedHostKeys: [manager.hostKey] });
      let fewest = Infinity;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          const tasks = (await docker.listTasks({ filters: { service: ['smoke_web'], 'desired-state': ['running'] } })) as { Status: { State: string } }[];
          fewest = Math.min(fewest, tasks.filter((t) => t.Status.State === 'running').length);
          await new Promise((res) => setTimeout(res, 200));
        }
      })();
      try {
        const down = await ctx.tw.client.workflow.execute(clusterScaleWorkflow, { workflowId: `scale/${farm}/-2`, taskQueue: ctx.taskQueue, args: [{ ...scaleBase, delta: -2 }] });
        expect(down).toMatchObject({ before: 5, after: 3, removed: [`${farm}-worker-03`, `${farm}-worker-04`] });
        expect(down.report.nodes.map((n) => n.hostname)).toEqual([`${farm}-manager-01`, `${farm}-worker-01`, `${farm}-worker-02`]);
        expect(down.report.services.find((x) => x.name === 'smoke_web')).toMatchObject({ desired: 3, running: 3 });
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
  }, 900_000);

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

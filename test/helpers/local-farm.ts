/**
 * A local farm for a test file (as test/integration/site-lifecycle.test.ts brings one up): a 2-node (or `nodes`) cluster of
 * network-namespace nodes with the local WordPress image, the farm's object-cache secret, and `drover worker`
 * processes of the given queues (a site's entity and its create/delete run on drover-infra). One per file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll } from 'vitest';
import { createLocalNodeActivities } from '../../activities/local-nodes';
import { livePollers } from '../../client/worker-option';
import { buildLocalImageTar, LOCAL_IMAGE } from '../../devkit/local-image';
import { buildWordpressImageTar, WORDPRESS_IMAGE, WORDPRESS_IMAGE_CHANGES } from '../../devkit/wordpress-image';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { loadPlan } from '../../lib/plan/load';
import { clusterBringUpWorkflow, type ClusterBringUpInput } from '../../workflows/cluster-bring-up';
import type { TaskQueueName } from '../../lib/contract/ids';
import { CLI, stopWorkerProcess } from './cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from './paths';
import { freeSubnet } from './subnet';
import { useRunningWorker } from './temporal';

const NODES_DIR = path.join(TEST_STATE_DIR, 'nodes');

export interface LocalFarm {
  farm: string;
  /** The last output of the spawned workers (for failure messages). */
  output: () => string;
  /** Spawns one more `drover worker <queue>` with extra environment (waiting until it polls, unless told not to). */
  spawnWorker: (queue: TaskQueueName, env?: NodeJS.ProcessEnv, opts?: { waitPolling?: boolean }) => Promise<ChildProcess>;
}

export function useLocalFarm(prefix: string, opts: { queues: TaskQueueName[]; subnetSecond: number; env?: NodeJS.ProcessEnv; nodes?: number }): LocalFarm {
  const ctx = useRunningWorker(`${prefix}-farm`, (d) => ({ ...d, localNodes: { dir: NODES_DIR } }));
  const farm = `${prefix}${process.pid % 10000}`;
  const workers: ChildProcess[] = [];
  let out = '';

  async function removeLeftovers(): Promise<void> {
    const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
    for (const f of existsSync(NODES_DIR) ? readdirSync(NODES_DIR) : []) if (f.startsWith(prefix)) await new MockActivityEnvironment().run(acts.destroyLocalFarm, { farm: f });
  }

  async function spawnWorker(queue: TaskQueueName, env: NodeJS.ProcessEnv = {}, o: { waitPolling?: boolean } = {}): Promise<ChildProcess> {
    const w = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', queue], {
      cwd: ROOT,
      env: { ...process.env, DROVER_METRICS_PORT: '0', DROVER_BACKUP_METRICS_PORT: '0', DROVER_METRICS_PORT_MIGRATE: '0', ...opts.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    workers.push(w);
    w.stdout!.on('data', (d) => (out = (out + d).slice(-8000)));
    w.stderr!.on('data', (d) => (out = (out + d).slice(-8000)));
    if (o.waitPolling === false) return w;
    for (let i = 0; (await livePollers(ctx.tw.client, queue)) === 0; i++) {
      if (i > 120 || w.exitCode !== null) throw new Error(`drover worker ${queue} is not polling:\n${out}`);
      await new Promise((r) => setTimeout(r, 500));
    }
    return w;
  }

  beforeAll(async () => {
    await removeLeftovers();
    const input: ClusterBringUpInput = {
      provider: 'local',
      farm,
      nodes: opts.nodes ?? 2,
      subnet: freeSubnet(opts.subnetSecond),
      networks: loadPlan().networks,
      stacks: [],
      images: [
        { image: LOCAL_IMAGE, tarPath: await buildLocalImageTar(path.join(TEST_STATE_DIR, 'images')) },
        { image: WORDPRESS_IMAGE, tarPath: await buildWordpressImageTar(), changes: WORDPRESS_IMAGE_CHANGES },
      ],
    };
    const r = await ctx.tw.client.workflow.execute(clusterBringUpWorkflow, { workflowId: `bringup/${farm}`, taskQueue: ctx.taskQueue, args: [input] });
    const m = r.nodes[0];
    // The farm's object-cache password (the cache stack's secret every site's service reads).
    const d = createDockerClient({ host: `ssh://root@${m.ip}:22${m.dockerSocket}`, sshPrivateKey: ctx.deps.ssh.options.privateKey, sshPinnedHostKeys: [m.hostKey] });
    try {
      const have = (await d.listSecrets({ filters: { name: ['redis_password'] } })) as unknown[];
      if (!have.length) await d.createSecret({ Name: 'redis_password', Data: Buffer.from('local-test').toString('base64') });
    } finally {
      closeDockerClient(d);
    }
    for (const q of opts.queues) await spawnWorker(q);
  }, 1_800_000);

  afterAll(async () => {
    const stopped = await Promise.allSettled(workers.map((w) => stopWorkerProcess(w, () => out)));
    await removeLeftovers();
    for (const s of stopped) if (s.status === 'rejected') throw s.reason;
  }, 300_000);

  return { farm, output: () => out, spawnWorker };
}

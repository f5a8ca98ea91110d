/**
 * Brings a cluster up, durable and resumable: provision every node in parallel → wait for SSH → bootstrap
 * Docker over SSH → swarm init on the first manager → the other nodes join in parallel → labels by role →
 * images (no registry on the local provider) → encrypted overlay networks → stacks in dependency order, each
 * waited on until its services converge → a health report. Every step is get-or-create, so re-running after a
 * crash or a failed step resumes where it stopped and repeats nothing. A saga: on failure the run rolls back the
 * nodes it provisioned when asked (`rollbackOnFailure`), else leaves them for the next run. Progress by query.
 * Providers: `local` (network namespaces on this machine, node names from the count) and `digitalocean` (the
 * plan's droplets, provisioned by provisionFarmWorkflow as a child; each droplet's host key is derived by the
 * worker and given through cloud-init, so SSH is pinned from the first connection; the swarm talks over the VPC).
 */
import { ApplicationFailure, CancellationScope, defineQuery, executeChild, setHandler, workflowInfo } from '@temporalio/workflow';
import type { NodeAddress, SwarmReport } from '../activities/swarm-nodes';
import { plannedNodes } from '../lib/plan/nodes';
import type { StackBundle } from '../lib/stack-bundle';
import type { FarmPlan } from '../lib/plan/schema';
import { rootCause } from '../lib/contract/failures';
import { phaseRunner } from './lib/phases';
import { localNodeNames } from '../lib/local-node-names';
import { stackWaves } from '../lib/plan/stack-order';
import { api, longApi, remoteExec } from './lib/proxies';
import { provisionFarmWorkflow } from './provision-farm';
import { farmSearchAttributes } from '../lib/contract/search-attributes';
import { workflowIds } from '../lib/contract/ids';

interface BringUpCommon {
  farm: string;
  networks: { name: string; subnet: string; encrypted: boolean }[];
  /** Compose files by stack name, deployed in waves: a stack after everything in `dependsOn`. */
  /** Stacks with the config files they name and the variables they interpolate (lib/stack-bundle.ts). */
  stacks: StackBundle[];
  /** Images every node needs, imported from root filesystem tarballs on the worker. */
  images: { image: string; tarPath: string; changes?: string[] }[];
  rollbackOnFailure?: boolean;
}

export interface LocalBringUpInput extends BringUpCommon {
  provider: 'local';
  /** How many nodes (the first is the manager, the rest workers), on which subnet. */
  nodes: number;
  subnet: string;
}

export interface DigitalOceanBringUpInput extends BringUpCommon {
  provider: 'digitalocean';
  /** The farm plan (its name is the farm); its node pools become droplets, labelled by role and pool labels. */
  plan: FarmPlan;
  /** Droplet image slug, e.g. debian-12-x64. */
  image: string;
}

export type ClusterBringUpInput = LocalBringUpInput | DigitalOceanBringUpInput;

export type BringUpNodeState = 'pending' | 'provisioned' | 'ssh' | 'docker' | 'in swarm' | 'labelled' | 'ready' | 'failed';

export interface BringUpProgress {
  phase: string;
  nodes: Record<string, BringUpNodeState>;
  stacks: Record<string, 'pending' | 'deploying' | 'converged'>;
  failed: { phase: string; error: string } | null;
}

export interface ClusterBringUpResult {
  farm: string;
  nodes: (NodeAddress & { role: 'manager' | 'worker'; labels: Record<string, string> })[];
  created: { nodes: number; swarm: boolean; joined: number; networks: number; images: number };
  stacks: { name: string; services: { name: string; desired: number; running: number; nodes: string[] }[] }[];
  report: SwarmReport;
}

export const bringUpProgressQuery = defineQuery<BringUpProgress>('bringUpProgress');

/** Brings the cluster up; see the module comment. */
export async function clusterBringUpWorkflow(input: ClusterBringUpInput): Promise<ClusterBringUpResult> {
  if (input.provider === 'digitalocean' && input.plan.name !== input.farm) throw ApplicationFailure.create({ type: 'InvalidInput', message: `farm: ${input.farm} is not the plan's name (${input.plan.name})`, nonRetryable: true });
  // Every node with its swarm role and labels, planned once (a DigitalOcean plan's nodes go to the provisioning
  // child as they are); the first manager initialises the swarm.
  const planNodes = input.provider === 'local' ? [] : plannedNodes(input.plan);
  const planned =
    input.provider === 'local'
      ? localNodeNames(input.farm, input.nodes).map((n) => ({ ...n, labels: { role: n.role, ordinal: String(Number(n.name.slice(-2))) } }))
      : planNodes.map((n) => ({ name: n.name, role: n.role === 'manager' ? ('manager' as const) : ('worker' as const), labels: n.labels }));
  const progress: BringUpProgress = {
    phase: 'starting',
    nodes: Object.fromEntries(planned.map((n) => [n.name, 'pending' as BringUpNodeState])),
    stacks: Object.fromEntries(input.stacks.map((s) => [s.name, 'pending' as const])),
    failed: null,
  };
  setHandler(bringUpProgressQuery, () => progress);
  const created = { nodes: 0, swarm: false, joined: 0, networks: 0, images: 0 };
  const phase = phaseRunner(progress, (name, error) => (progress.failed ??= { phase: name, error }));
  const mark = (names: string[], state: BringUpNodeState) => names.forEach((n) => (progress.nodes[n] = state));

  try {
    const { publicKey } = await api.bootstrapPublicKey();
    const provisioned = await phase('provision', async () => {
      if (input.provider === 'local') {
        const subnet = input.subnet;
        return Promise.all(
          planned.map(async (p, index) => {
            const n = await api.ensureLocalNode({ farm: input.farm, name: p.name, index, subnet, authorizedKey: publicKey });
            if (n.created) created.nodes++;
            progress.nodes[p.name] = 'provisioned';
            return { name: n.name, ip: n.ip, sshPort: n.sshPort, hostKey: n.hostKey, dockerSocket: n.dockerSocket, role: p.role, labels: p.labels };
          }),
        );
      }
      const r = await executeChild(provisionFarmWorkflow, {
        workflowId: workflowIds.child(workflowInfo().workflowId, 'provision'),
        args: [{ plan: input.plan, nodes: planNodes, image: input.image, sshPublicKey: publicKey, rollbackOnFailure: input.rollbackOnFailure }],
        typedSearchAttributes: farmSearchAttributes(input.farm, 'provision'),
      });
      created.nodes = r.created.droplets;
      // The child returns every node's addresses and host key: nothing to look up again.
      return planned.map((p) => {
        const d = r.nodes.find((x) => x.name === p.name);
        if (!d) throw ApplicationFailure.create({ type: 'CloudRequestRejected', message: `droplet ${p.name} is not active after provisioning`, nonRetryable: true });
        progress.nodes[p.name] = 'provisioned';
        return { name: p.name, ip: d.publicIp, swarmIp: d.privateIp, sshPort: 22, hostKey: d.hostKey, dockerSocket: '', role: p.role, labels: p.labels };
      });
    });
    const names = provisioned.map((n) => n.name);
    await phase('wait for ssh', () => Promise.all(provisioned.map((node) => remoteExec.waitForSsh({ node }).then(() => mark([node.name], 'ssh')))));
    // Bootstrap tells where the node's Docker socket is; every later step reaches Docker through it.
    const nodes = await phase('bootstrap docker', () =>
      Promise.all(
        provisioned.map(async (node) => {
          const { dockerSocket } = await remoteExec.bootstrapNode({ node });
          mark([node.name], 'docker');
          return { ...node, dockerSocket };
        }),
      ),
    );
    const manager = nodes.find((n) => n.role === 'manager') ?? nodes[0];
    const others = nodes.filter((n) => n !== manager);
    const swarm = await phase('swarm init', () => api.initSwarm({ manager }));
    created.swarm = swarm.created;
    mark([manager.name], 'in swarm');
    await phase('swarm join', () =>
      Promise.all(
        others.map(async (node) => {
          const r = await api.joinSwarm({ node, manager, role: node.role });
          if (r.joined) created.joined++;
          mark([node.name], 'in swarm');
        }),
      ),
    );
    await phase('labels', () => api.labelSwarmNodes({ manager, labels: Object.fromEntries(nodes.map((n) => [n.name, { ...n.labels, 'drover.farm': input.farm }])) }));
    mark(names, 'labelled');
    await phase('images', () =>
      Promise.all(nodes.flatMap((node) => input.images.map(async (img) => ((await remoteExec.ensureImportedImage({ node, image: img.image, tarPath: img.tarPath, ...(img.changes ? { changes: img.changes } : {}) })).imported ? created.images++ : 0)))),
    );
    await phase('networks', async () => {
      for (const n of input.networks) if ((await api.ensureOverlayNetwork({ manager, ...n })).created) created.networks++;
    });
    mark(names, 'ready');

    const stacks: ClusterBringUpResult['stacks'] = [];
    const { waves, stuck } = stackWaves(input.stacks);
    for (const wave of waves) {
      await phase(`stacks: ${wave.map((s) => s.name).join(' + ')}`, () =>
        Promise.all(
          wave.map(async (s) => {
            progress.stacks[s.name] = 'deploying';
            // Local nodes reach no registry: asking one for each image's digest would only wait for timeouts.
            await remoteExec.deployStack({ manager, name: s.name, compose: s.compose, files: s.files, env: s.env, resolveImage: input.provider === 'local' ? 'never' : 'always' });
            const r = await remoteExec.waitForStack({ manager, name: s.name });
            progress.stacks[s.name] = 'converged';
            stacks.push({ name: s.name, services: r.services });
          }),
        ),
      );
    }
    if (stuck.length) throw ApplicationFailure.create({ type: 'InvalidInput', message: `stacks: dependency cycle among ${stuck.map((s) => s.name).join(', ')}`, nonRetryable: true });
    const report = await phase('health report', () => api.swarmReport({ manager }));
    progress.phase = 'done';
    return { farm: input.farm, nodes, created, stacks, report };
  } catch (err) {
    const failedPhase = progress.failed?.phase ?? progress.phase;
    for (const n of Object.keys(progress.nodes)) if (progress.nodes[n] !== 'ready') progress.nodes[n] = 'failed';
    let rolledBack = false;
    if (input.rollbackOnFailure) {
      progress.phase = 'rolling back';
      await CancellationScope.nonCancellable(async () => {
        if (input.provider === 'local') await longApi.destroyLocalFarm({ farm: input.farm });
        else await longApi.destroyFarm({ farm: input.farm });
      });
      rolledBack = true;
    }
    const root = rootCause(err as Error);
    // A provision step that refused a field of the input (`subnet: …`, checked before its node exists) with no node
    // created: the field first, so the CLI names it (exit 2); nothing to resume.
    const refused = root.type === 'InvalidInput' && failedPhase === 'provision' && created.nodes === 0 && /^[a-z][A-Za-z]*: /.test(root.message);
    throw ApplicationFailure.create({
      type: root.type ?? 'RemoteCommandFailed',
      message: refused
        ? `${root.message} (bringing up ${input.farm} failed at "provision": no node created)`
        : `bringing up ${input.farm} failed at "${failedPhase}": ${root.message}${rolledBack ? '; its nodes were removed' : '; run it again to resume'}`,
      nonRetryable: true,
      details: [{ failedPhase, rolledBack }],
    });
  }
}


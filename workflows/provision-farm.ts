/**
 * Provisions a farm plan on DigitalOcean, every node in parallel: tags, VPC and SSH key → all droplets (found
 * by name under the farm's tag, else created) → each waits for `active` → volumes created and attached →
 * firewall, load balancer, reserved IPs. Every step is get-or-create, so re-running after a crash or a failed
 * step repeats nothing that is done. A saga: each resource this run created registers its undo; on failure the
 * run either rolls those back (`rollbackOnFailure`) or leaves them for the next run to resume from (default:
 * droplets are slow and costly to recreate). Progress by query: the phase and every node's state.
 */
import { ApplicationFailure, CancellationScope, defineQuery, setHandler } from '@temporalio/workflow';
import type { FarmPlan, Role } from '../lib/plan/schema';
import { plannedNodes } from '../lib/plan/nodes';
import { cloud, cloudWait } from './lib/proxies';
import { rootMessage } from './lib/child-window';

export interface ProvisionFarmInput {
  plan: FarmPlan;
  /** Droplet image slug (e.g. debian-12-x64). */
  image: string;
  /** The bootstrap SSH public key put on every droplet. */
  sshPublicKey: string;
  rollbackOnFailure?: boolean;
}

export type NodeState = 'pending' | 'creating' | 'created' | 'found' | 'active' | 'failed';

export interface ProvisionProgress {
  phase: string;
  nodes: Record<string, NodeState>;
  failed: { step: string; error: string } | null;
}

export interface ProvisionedNode {
  name: string;
  role: Role;
  id: number;
  publicIp: string;
  privateIp: string;
  labels: Record<string, string>;
}

export interface ProvisionFarmResult {
  farm: string;
  nodes: ProvisionedNode[];
  created: { droplets: number; volumes: number; other: string[] };
  loadBalancerId: string | null;
  reservedIps: string[];
}

export const provisionProgressQuery = defineQuery<ProvisionProgress>('provisionProgress');

/** Provisions every resource of the plan; see the module comment. */
export async function provisionFarmWorkflow(input: ProvisionFarmInput): Promise<ProvisionFarmResult> {
  const { plan } = input;
  const farm = plan.name;
  const planned = plannedNodes(plan);
  const progress: ProvisionProgress = { phase: 'starting', nodes: Object.fromEntries(planned.map((n) => [n.name, 'pending' as NodeState])), failed: null };
  setHandler(provisionProgressQuery, () => progress);
  const undo: { what: string; run: () => Promise<unknown> }[] = [];
  const created = { droplets: 0, volumes: 0, other: [] as string[] };
  const phase = async <T>(name: string, fn: () => Promise<T>): Promise<T> => {
    progress.phase = name;
    try {
      return await fn();
    } catch (err) {
      progress.failed ??= { step: name, error: rootMessage(err as Error) };
      throw err;
    }
  };

  try {
    const roles = [...new Set(planned.map((n) => n.role))];
    await phase('tags', () => cloud.ensureFarmTags({ farm, roles }));
    const vpc = await phase('vpc', () => cloud.ensureVpc({ farm, name: plan.vpc.name, region: plan.region, ipRange: plan.vpc.ipRange }));
    if (vpc.created) {
      created.other.push(`vpc ${plan.vpc.name}`);
      undo.push({ what: `vpc ${plan.vpc.name}`, run: () => cloud.deleteFarmResource({ farm, kind: 'vpc', id: vpc.id }) });
    }
    const key = await phase('ssh key', () => cloud.ensureSshKey({ name: `${farm}-bootstrap`, publicKey: input.sshPublicKey }));

    // All droplets at once: the provider's rate limit, not a window here, is what bounds the pace.
    const droplets = await phase('droplets', () =>
      Promise.all(
        planned.map(async (n) => {
          progress.nodes[n.name] = 'creating';
          const d = await cloud.ensureDroplet({ farm, name: n.name, role: n.role, size: n.size, region: plan.region, image: input.image, vpcId: vpc.id, sshKeys: [key.fingerprint] });
          progress.nodes[n.name] = d.created ? 'created' : 'found';
          if (d.created) {
            created.droplets++;
            undo.push({ what: `droplet ${n.name}`, run: () => cloud.destroyDroplet({ farm, id: d.id }) });
          }
          const ready = await cloudWait.waitForDroplet({ id: d.id });
          progress.nodes[n.name] = 'active';
          return { ...n, ...ready };
        }),
      ),
    );

    await phase('volumes', () =>
      Promise.all(
        droplets.flatMap((d) =>
          d.volumes.map(async (v) => {
            const r = await cloud.ensureVolume({ farm, name: v.name, region: plan.region, sizeGb: v.sizeGb, dropletId: d.id });
            if (r.created) {
              created.volumes++;
              undo.push({ what: `volume ${v.name}`, run: () => cloud.deleteFarmResource({ farm, kind: 'volume', id: r.id }) });
            }
          }),
        ),
      ),
    );

    let loadBalancerId: string | null = null;
    if (plan.loadBalancer) {
      const balancer = plan.loadBalancer;
      const lb = await phase('load balancer', () => cloud.ensureLoadBalancer({ farm, balancer, region: plan.region, vpcId: vpc.id }));
      loadBalancerId = lb.id;
      if (lb.created) {
        created.other.push(`load balancer ${balancer.name}`);
        undo.push({ what: `load balancer ${balancer.name}`, run: () => cloud.deleteFarmResource({ farm, kind: 'load_balancer', id: lb.id }) });
      }
    }
    const fw = await phase('firewall', () => cloud.ensureFirewall({ farm, firewall: plan.firewall, vpcRange: plan.vpc.ipRange, loadBalancerId }));
    if (fw.created) {
      created.other.push(`firewall ${plan.firewall.name}`);
      undo.push({ what: `firewall ${plan.firewall.name}`, run: () => cloud.deleteFarmResource({ farm, kind: 'firewall', id: fw.id }) });
    }
    let reservedIps: string[] = [];
    if (plan.floatingIps?.count) {
      const role = plan.floatingIps.role;
      const targets = droplets.filter((d) => d.role === role).slice(0, plan.floatingIps.count).map((d) => d.id);
      const ips = await phase('reserved ips', () => cloud.ensureReservedIps({ dropletIds: targets }));
      reservedIps = ips.ips;
      if (ips.created) created.other.push(`${ips.created} reserved ips`);
    }
    progress.phase = 'done';
    return {
      farm,
      nodes: droplets.map((d) => ({ name: d.name, role: d.role, id: d.id, publicIp: d.publicIp, privateIp: d.privateIp, labels: d.labels })),
      created,
      loadBalancerId,
      reservedIps,
    };
  } catch (err) {
    for (const n of Object.keys(progress.nodes)) if (progress.nodes[n] !== 'active') progress.nodes[n] = 'failed';
    const failedStep = progress.failed?.step ?? progress.phase;
    const rolledBack: string[] = [];
    const notUndone: string[] = [];
    if (input.rollbackOnFailure && undo.length) {
      progress.phase = 'rolling back';
      // Every undo is tried; one that fails is reported, never allowed to hide the failure that started it.
      await CancellationScope.nonCancellable(async () => {
        for (const u of [...undo].reverse()) {
          await u.run().then(
            () => rolledBack.push(u.what),
            (e: Error) => notUndone.push(`${u.what} (${rootMessage(e)})`),
          );
        }
      });
    }
    let root: Error & { type?: string } = err as Error;
    while (root.cause instanceof Error) root = root.cause;
    throw ApplicationFailure.create({
      type: root.type ?? 'CloudRequestRejected',
      message:
        `provisioning ${farm} failed at "${failedStep}": ${root.message}` +
        (input.rollbackOnFailure ? `; rolled back ${rolledBack.length} resources` : '; what was created stays for the next run to resume from') +
        (notUndone.length ? `; NOT undone: ${notUndone.join(', ')}` : ''),
      nonRetryable: true,
      details: [{ failedStep, rolledBack, notUndone }],
    });
  }
}

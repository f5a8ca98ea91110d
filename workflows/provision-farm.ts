/**
 * Provisions a farm plan on DigitalOcean, every node in parallel: tags, VPC and SSH key → all droplets (found
 * by name under the farm's tag, else created) → each waits for `active` → volumes created and attached →
 * firewall, load balancer, reserved IPs. Every step is get-or-create, so re-running after a crash or a failed
 * step repeats nothing that is done. A saga: each resource this run created registers its undo; on failure the
 * run either rolls those back (`rollbackOnFailure`) or leaves them for the next run to resume from (default:
 * droplets are slow and costly to recreate). A parallel step waits for all its siblings before failing, so a
 * droplet still being created when another failed is registered for undo before the rollback runs; resources an
 * activity created on an attempt whose answer was lost count as created (activities/digitalocean.ts), and
 * reserved IPs assigned to new droplets are released. Progress by query: the phase and every node's state. The
 * result names every node with its addresses and host key, all a bring-up needs to reach it.
 */
import { ApplicationFailure, CancellationScope, defineQuery, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import type { FarmPlan, Role } from '../lib/plan/schema';
import type { PlannedNode } from '../lib/plan/nodes';
import { cloud, cloudWait } from './lib/proxies';
import { rootCause, rootMessage } from '../lib/contract/failures';
import { phaseRunner } from './lib/phases';

export interface ProvisionFarmInput {
  plan: FarmPlan;
  /** The plan's nodes (`plannedNodes(plan)`), computed once by the caller: the bring-up plans its nodes once. */
  nodes: PlannedNode[];
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
  /** Fingerprint of the host key the droplet was given (SSH is pinned to it from the first connection). */
  hostKey: string;
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

/** Like Promise.all, but settles every promise before rejecting with the first failure. */
async function allSettledOrThrow<T>(ps: Promise<T>[]): Promise<T[]> {
  const results = await Promise.allSettled(ps);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
  if (failed) throw failed.reason;
  return results.map((r) => (r as PromiseFulfilledResult<T>).value);
}

/** Provisions every resource of the plan; see the module comment. */
export async function provisionFarmWorkflow(input: ProvisionFarmInput): Promise<ProvisionFarmResult> {
  const { plan } = input;
  const farm = plan.name;
  const planned = input.nodes;
  // Runs recorded before: a failed sibling rolled back at once and reserved IPs had no undo (their histories
  // must replay as they were).
  const settleSiblings = patched('provision-settles-siblings-and-undoes-reserved-ips');
  const parallel = <T>(ps: Promise<T>[]): Promise<T[]> => (settleSiblings ? allSettledOrThrow(ps) : Promise.all(ps));
  const progress: ProvisionProgress = { phase: 'starting', nodes: Object.fromEntries(planned.map((n) => [n.name, 'pending' as NodeState])), failed: null };
  setHandler(provisionProgressQuery, () => progress);
  const undo: { what: string; run: () => Promise<unknown> }[] = [];
  // Runs recorded before: an ensure* call that failed after creating left its resource behind.
  const undoFailedCreates = patched('provision-undoes-failed-creates');
  // DigitalOcean's created_at has whole seconds.
  const createdSince = new Date(Math.floor(workflowInfo().runStartTime.getTime() / 1000) * 1000).toISOString();
  type UndoKind = 'droplet' | 'volume' | 'firewall' | 'load_balancer' | 'vpc';
  /**
   * Calls an ensure* activity with its undo registered before the call (by name: a call that fails after
   * creating returns no id), then, once it returns, registers the undo by id if it created the resource.
   */
  const ensure = async <T extends { created: boolean }>(kind: UndoKind, name: string, what: string, call: () => Promise<T>, undoById: (r: T) => () => Promise<unknown>): Promise<T> => {
    const pending = { what, run: () => cloud.undoCreateByName({ farm, kind, name, createdSince }) };
    if (undoFailedCreates) undo.push(pending);
    const r = await call();
    if (undoFailedCreates) undo.splice(undo.indexOf(pending), 1);
    if (r.created) undo.push({ what, run: undoById(r) });
    return r;
  };
  const created = { droplets: 0, volumes: 0, other: [] as string[] };
  const phase = phaseRunner(progress, (step, error) => (progress.failed ??= { step, error }));

  try {
    const roles = [...new Set(planned.map((n) => n.role))];
    await phase('tags', () => cloud.ensureFarmTags({ farm, roles }));
    const vpc = await phase('vpc', () =>
      ensure('vpc', plan.vpc.name, `vpc ${plan.vpc.name}`, () => cloud.ensureVpc({ farm, name: plan.vpc.name, region: plan.region, ipRange: plan.vpc.ipRange }), (r) => () => cloud.deleteFarmResource({ farm, kind: 'vpc', id: r.id })),
    );
    if (vpc.created) created.other.push(`vpc ${plan.vpc.name}`);
    const key = await phase('ssh key', () => cloud.ensureSshKey({ name: `${farm}-bootstrap`, publicKey: input.sshPublicKey }));

    // All droplets at once: the provider's rate limit, not a window here, is what bounds the pace.
    const droplets = await phase('droplets', () =>
      parallel(
        planned.map(async (n) => {
          progress.nodes[n.name] = 'creating';
          const d = await ensure('droplet', n.name, `droplet ${n.name}`, () => cloud.ensureDroplet({ farm, name: n.name, role: n.role, size: n.size, region: plan.region, image: input.image, vpcId: vpc.id, sshKeys: [key.fingerprint] }), (r) => () => cloud.destroyDroplet({ farm, id: r.id }));
          progress.nodes[n.name] = d.created ? 'created' : 'found';
          if (d.created) created.droplets++;
          const ready = await cloudWait.waitForDroplet({ id: d.id });
          progress.nodes[n.name] = 'active';
          return { ...n, ...ready, created: d.created, hostKey: d.hostKey };
        }),
      ),
    );

    await phase('volumes', () =>
      parallel(
        droplets.flatMap((d) =>
          d.volumes.map(async (v) => {
            const r = await ensure('volume', v.name, `volume ${v.name}`, () => cloud.ensureVolume({ farm, name: v.name, region: plan.region, sizeGb: v.sizeGb, dropletId: d.id }), (x) => () => cloud.deleteFarmResource({ farm, kind: 'volume', id: x.id }));
            if (r.created) created.volumes++;
          }),
        ),
      ),
    );

    let loadBalancerId: string | null = null;
    if (plan.loadBalancer) {
      const balancer = plan.loadBalancer;
      const lb = await phase('load balancer', () =>
        ensure('load_balancer', balancer.name, `load balancer ${balancer.name}`, () => cloud.ensureLoadBalancer({ farm, balancer, region: plan.region, vpcId: vpc.id }), (r) => () => cloud.deleteFarmResource({ farm, kind: 'load_balancer', id: r.id })),
      );
      loadBalancerId = lb.id;
      if (lb.created) created.other.push(`load balancer ${balancer.name}`);
    }
    const fw = await phase('firewall', () =>
      ensure('firewall', plan.firewall.name, `firewall ${plan.firewall.name}`, () => cloud.ensureFirewall({ farm, firewall: plan.firewall, vpcRange: plan.vpc.ipRange, loadBalancerId }), (r) => () => cloud.deleteFarmResource({ farm, kind: 'firewall', id: r.id })),
    );
    if (fw.created) created.other.push(`firewall ${plan.firewall.name}`);
    let reservedIps: string[] = [];
    if (plan.floatingIps?.count) {
      const role = plan.floatingIps.role;
      const targets = droplets.filter((d) => d.role === role).slice(0, plan.floatingIps.count);
      // Registered before the call: if it fails midway, what it assigned to this run's new droplets is released.
      const newDroplets = targets.filter((d) => d.created).map((d) => d.id);
      if (settleSiblings && newDroplets.length) undo.push({ what: `reserved ips of ${newDroplets.length} new droplets`, run: () => cloud.releaseReservedIps({ dropletIds: newDroplets }) });
      const ips = await phase('reserved ips', () => cloud.ensureReservedIps({ dropletIds: targets.map((d) => d.id) }));
      reservedIps = ips.ips;
      if (ips.created) created.other.push(`${ips.created} reserved ips`);
      for (const ip of settleSiblings ? ips.createdIps : []) undo.push({ what: `reserved ip ${ip}`, run: () => cloud.deleteFarmResource({ farm, kind: 'reserved_ip', id: ip }) });
    }
    progress.phase = 'done';
    return {
      farm,
      nodes: droplets.map((d) => ({ name: d.name, role: d.role, id: d.id, publicIp: d.publicIp, privateIp: d.privateIp, hostKey: d.hostKey, labels: d.labels })),
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
    const root = rootCause(err as Error);
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

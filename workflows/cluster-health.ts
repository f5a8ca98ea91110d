/**
 * The health of a cluster, as one report: swarm nodes ready and labelled with their role, every service at its
 * desired replicas, the Galera cluster's size and every node Synced, the object-cache master known to Redis
 * Sentinel, and the Varnish hit ratio. Each check says what it saw (workflows/lib/health-checks.ts); the cluster
 * is healthy when every check passes. Read-only: safe to run any time (`drover status`).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { NodeAddress, SwarmReport } from '../activities/swarm-nodes';
import { localNodeNames } from '../lib/local-node-names';
import { galeraCheck, hitRatio, sentinelCheck, swarmChecks, varnishCheck, type HealthCheck } from './lib/health-checks';
import { api, cloud } from './lib/proxies';

export type { HealthCheck } from './lib/health-checks';

export interface ClusterHealthResult {
  farm: string;
  healthy: boolean;
  checks: HealthCheck[];
  swarm: SwarmReport;
  varnishHitRatio: number | null;
}

/** The farm's first manager as a node to reach, and how many nodes the farm has. */
export async function findManager(input: { provider: 'local' | 'digitalocean'; farm: string }): Promise<{ manager: NodeAddress; nodes: number }> {
  if (input.provider === 'local') {
    const { nodes } = await api.describeLocalFarm({ farm: input.farm });
    const manager = nodes.find((n) => n.name === localNodeNames(input.farm, 1)[0].name);
    if (!manager) throw ApplicationFailure.create({ type: 'InvalidInput', message: `farm: no cluster named ${input.farm} on this machine`, nonRetryable: true });
    return { manager, nodes: nodes.length };
  }
  const { nodes, tagged } = await cloud.farmNodes({ farm: input.farm });
  const m = nodes.find((n) => n.role === 'manager');
  // No droplet of the farm at all is the caller's farm name (a typo: exit 2 in the CLI); droplets without an active
  // manager among them are a farm that is down (its managers off or being rebuilt), not bad input.
  if (!m && tagged) throw ApplicationFailure.create({ type: 'CloudNotFound', message: `farm ${input.farm} has ${tagged} droplet(s) but no active manager among them (${nodes.length} active)`, nonRetryable: true });
  if (!m) throw ApplicationFailure.create({ type: 'InvalidInput', message: `farm: no active manager droplet tagged for ${input.farm}`, nonRetryable: true });
  const address = { name: m.name, ip: m.publicIp, swarmIp: m.privateIp, sshPort: 22, hostKey: m.hostKey };
  const { dockerSocket } = await api.nodeDockerSocket({ node: address });
  return { manager: { ...address, dockerSocket }, nodes: nodes.length };
}

/** Reports the cluster's health; see the module comment. */
export async function clusterHealthWorkflow(input: { provider: 'local' | 'digitalocean'; farm: string; expectedGaleraNodes?: number }): Promise<ClusterHealthResult> {
  const { manager, nodes } = await findManager(input);
  const [swarm, galera, sentinels, varnish] = await Promise.all([api.swarmReport({ manager }), api.describeGaleraCluster(), api.describeRedisSentinels(), api.varnishHitStats()]);
  const checks = [...swarmChecks(swarm, nodes), galeraCheck(galera, input.expectedGaleraNodes ?? 3), sentinelCheck(sentinels), varnishCheck(varnish.instances)];
  return { farm: input.farm, healthy: checks.every((c) => c.ok), checks, swarm, varnishHitRatio: hitRatio(varnish.instances) };
}

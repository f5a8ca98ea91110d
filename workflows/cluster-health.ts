/**
 * The health of a cluster, as one report: swarm nodes ready and labelled with their role, every service at its
 * desired replicas, the Galera cluster's size and every node Synced, the object-cache master known to Redis
 * Sentinel, and the Varnish hit ratio. Each check says what it saw (workflows/lib/health-checks.ts); the cluster
 * is healthy when every check passes. Read-only: safe to run any time (`drover status`).
 */
import type { SwarmReport } from '../activities/swarm-nodes';
import { galeraCheck, hitRatio, sentinelCheck, swarmChecks, varnishCheck, type HealthCheck } from './lib/health-checks';
import { api } from './lib/proxies';
import { findManager } from './lib/find-manager';

export type { HealthCheck } from './lib/health-checks';

export interface ClusterHealthResult {
  farm: string;
  healthy: boolean;
  checks: HealthCheck[];
  swarm: SwarmReport;
  varnishHitRatio: number | null;
}

/** Reports the cluster's health; see the module comment. */
export async function clusterHealthWorkflow(input: { provider: 'local' | 'digitalocean'; farm: string; expectedGaleraNodes?: number }): Promise<ClusterHealthResult> {
  const { manager, nodes } = await findManager(input);
  const [swarm, galera, sentinels, varnish] = await Promise.all([api.swarmReport({ manager }), api.describeGaleraCluster(), api.describeRedisSentinels(), api.varnishHitStats()]);
  const checks = [...swarmChecks(swarm, nodes), galeraCheck(galera, input.expectedGaleraNodes ?? 3), sentinelCheck(sentinels), varnishCheck(varnish.instances)];
  return { farm: input.farm, healthy: checks.every((c) => c.ok), checks, swarm, varnishHitRatio: hitRatio(varnish.instances) };
}

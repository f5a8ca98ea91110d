/**
 * The health of a cluster, as one report: swarm nodes ready and labelled with their role, every service at its
 * desired replicas, the Galera cluster's size and every node Synced. Each check says what it saw; the cluster is
 * healthy when every check passes. Read-only: safe to run any time (`drover status`).
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { SwarmReport } from '../activities/swarm-nodes';
import { localNodeNames } from './cluster-bring-up';
import { api } from './lib/proxies';

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface ClusterHealthResult {
  farm: string;
  healthy: boolean;
  checks: HealthCheck[];
  swarm: SwarmReport;
}

/** Reports the cluster's health; see the module comment. */
export async function clusterHealthWorkflow(input: { provider: 'local'; farm: string; expectedGaleraNodes?: number }): Promise<ClusterHealthResult> {
  const { nodes } = await api.describeLocalFarm({ farm: input.farm });
  const manager = nodes.find((n) => n.name === localNodeNames(input.farm, 1)[0].name);
  if (!manager) throw ApplicationFailure.create({ type: 'InvalidInput', message: `farm: no cluster named ${input.farm} on this machine`, nonRetryable: true });
  const [swarm, galera] = await Promise.all([api.swarmReport({ manager }), api.describeGaleraCluster()]);
  const checks: HealthCheck[] = [];
  const notReady = swarm.nodes.filter((n) => n.state !== 'ready');
  checks.push({ name: 'nodes ready', ok: notReady.length === 0 && swarm.nodes.length === nodes.length, detail: `${swarm.nodes.length - notReady.length} of ${nodes.length} ready${notReady.length ? `; not ready: ${notReady.map((n) => `${n.hostname} (${n.state})`).join(', ')}` : ''}` });
  const unlabelled = swarm.nodes.filter((n) => !n.labels.role);
  checks.push({ name: 'nodes labelled', ok: unlabelled.length === 0, detail: unlabelled.length ? `no role label: ${unlabelled.map((n) => n.hostname).join(', ')}` : 'every node has its role label' });
  const short = swarm.services.filter((s) => s.running < s.desired);
  checks.push({ name: 'services at desired replicas', ok: short.length === 0, detail: short.length ? short.map((s) => `${s.name} ${s.running}/${s.desired}`).join(', ') : `${swarm.services.length} services, all at desired replicas` });
  const want = input.expectedGaleraNodes ?? 3;
  const sizes = [...new Set(galera.nodes.map((n) => n.clusterSize).filter((x): x is number => x !== null))];
  checks.push({
    name: 'galera synced',
    ok: galera.synced === want && sizes.length === 1 && sizes[0] === want,
    detail: `${galera.synced} of ${want} nodes Synced, cluster size ${sizes.join('/') || 'unknown'}${galera.nodes.filter((n) => !n.ready).map((n) => `; ${n.node}: ${n.state ?? n.error ?? 'unreachable'}`).join('')}`,
  });
  return { farm: input.farm, healthy: checks.every((c) => c.ok), checks, swarm };
}

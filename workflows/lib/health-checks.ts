/**
 * What each health check concludes from what was observed: pure functions, shared by clusterHealthWorkflow and
 * the unit tests. A check that was not configured says so (`skipped`) and does not make the cluster unhealthy.
 */
import type { GaleraNodeStatus, StalledDdl } from '../../lib/clients/galera-client';
import type { SentinelReport } from '../../activities/redis-sentinel';
import type { SwarmReport } from '../../activities/swarm-nodes';
import type { VarnishStats } from '../../activities/varnish';

export interface HealthCheck {
  name: string;
  ok: boolean;
  detail: string;
  skipped?: boolean;
}

export function swarmChecks(swarm: SwarmReport, expectedNodes: number): HealthCheck[] {
  const notReady = swarm.nodes.filter((n) => n.state !== 'ready');
  const unlabelled = swarm.nodes.filter((n) => !n.labels.role);
  const short = swarm.services.filter((s) => s.running < s.desired);
  return [
    { name: 'nodes ready', ok: notReady.length === 0 && swarm.nodes.length === expectedNodes, detail: `${swarm.nodes.length - notReady.length} of ${expectedNodes} ready${notReady.length ? `; not ready: ${notReady.map((n) => `${n.hostname} (${n.state})`).join(', ')}` : ''}` },
    { name: 'nodes labelled', ok: unlabelled.length === 0, detail: unlabelled.length ? `no role label: ${unlabelled.map((n) => n.hostname).join(', ')}` : 'every node has its role label' },
    { name: 'services at desired replicas', ok: short.length === 0, detail: short.length ? short.map((s) => `${s.name} ${s.running}/${s.desired}`).join(', ') : `${swarm.services.length} services, all at desired replicas` },
  ];
}

export function galeraCheck(galera: { nodes: GaleraNodeStatus[]; synced: number; stalledDdl?: StalledDdl[]; ddlWaitSeconds?: number }, want: number): HealthCheck {
  const sizes = [...new Set(galera.nodes.map((n) => n.clusterSize).filter((x): x is number => x !== null))];
  // Every node Synced is not enough: a DDL stuck in total order stalls the cluster's DDL while all say Synced.
  const stalled = galera.stalledDdl ?? [];
  return {
    name: 'galera synced',
    ok: galera.synced === want && sizes.length === 1 && sizes[0] === want && stalled.length === 0,
    detail: `${galera.synced} of ${want} nodes Synced, cluster size ${sizes.join('/') || 'unknown'}${galera.nodes.filter((n) => !n.ready).map((n) => `; ${n.node}: ${n.state ?? n.error ?? 'unreachable'}`).join('')}${stalled.map((d) => `; DDL waiting ${d.seconds} s on ${d.node} (id ${d.id}, ${d.state || 'running'}): ${d.statement}`).join('')}`,
  };
}

/** The master is known when enough sentinels answer (quorum), all name the same master, and it says it is one. */
export function sentinelCheck(r: SentinelReport): HealthCheck {
  const name = 'redis master known to sentinel';
  if (!r.configured) return { name, ok: true, skipped: true, detail: 'no sentinels configured (DROVER_REDIS_SENTINELS)' };
  const answering = r.sentinels.filter((s) => s.master !== null);
  const masters = [...new Set(answering.map((s) => s.master))];
  const quorum = Math.max(0, ...answering.map((s) => s.quorum ?? 0)) || Math.floor(r.sentinels.length / 2) + 1;
  const down = answering.filter((s) => s.flags && /(^|,)(s_down|o_down)(,|$)/.test(s.flags));
  const problems = [
    ...r.sentinels.filter((s) => s.master === null).map((s) => `${s.address}: ${s.error ?? `does not know ${r.masterName}`}`),
    ...(masters.length > 1 ? [`sentinels disagree: ${answering.map((s) => `${s.address} names ${s.master}`).join(', ')}`] : []),
    ...down.map((s) => `${s.address} flags the master ${s.flags}`),
    ...(masters.length && r.masterRole !== 'master' ? [`${masters[0]} answers ${r.masterRole ? `as ${r.masterRole}` : `nothing (${r.masterError ?? 'unreachable'})`}`] : []),
  ];
  const ok = answering.length >= quorum && masters.length === 1 && r.masterRole === 'master' && down.length === 0;
  const replicas = answering.find((s) => s.replicas !== null)?.replicas;
  return {
    name,
    ok,
    detail: `${masters.length === 1 ? `${r.masterName} master ${masters[0]}${replicas !== undefined ? ` with ${replicas} replicas` : ''}` : `${r.masterName}: no agreed master`}; ${answering.length} of ${r.sentinels.length} sentinels answer (quorum ${quorum})${problems.length ? `; ${problems.join('; ')}` : ''}`,
  };
}

/** Hit ratio over all instances since they started; every configured exporter must answer. */
export function varnishCheck(instances: VarnishStats[]): HealthCheck {
  const name = 'varnish hit ratio';
  if (!instances.length) return { name, ok: true, skipped: true, detail: 'no Varnish exporters configured (DROVER_VARNISH_METRICS_URLS)' };
  const failed = instances.filter((i) => i.error || i.hits === null || i.misses === null);
  const hits = instances.reduce((a, i) => a + (i.hits ?? 0), 0);
  const misses = instances.reduce((a, i) => a + (i.misses ?? 0), 0);
  const ratio = hits + misses ? `${((100 * hits) / (hits + misses)).toFixed(1)}% (${hits} hits, ${misses} misses)` : 'no lookups yet';
  return {
    name,
    ok: failed.length === 0,
    detail: `${ratio} on ${instances.length - failed.length} of ${instances.length} instances${failed.map((i) => `; ${i.url}: ${i.error ?? 'no counters'}`).join('')}`,
  };
}

/** Hit ratio as a number (null without lookups), for JSON output and dashboards. */
export function hitRatio(instances: VarnishStats[]): number | null {
  const hits = instances.reduce((a, i) => a + (i.hits ?? 0), 0);
  const misses = instances.reduce((a, i) => a + (i.misses ?? 0), 0);
  return hits + misses ? hits / (hits + misses) : null;
}

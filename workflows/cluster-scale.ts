/**
 * Scales a cluster's workers. `+N` runs the bring-up again with N more nodes (it is idempotent, so the existing
 * nodes are left as they are and only the new ones go through provision → SSH → Docker → join → labels →
 * images). `-N` takes the last N workers out without a site losing its running task: their tasks are first
 * started elsewhere (see drainSwarmNodes), then the nodes leave the swarm and are removed, and the report waits
 * until every replicated service runs exactly its replicas.
 */
import { ApplicationFailure, executeChild, patched, workflowInfo } from '@temporalio/workflow';
import type { SwarmReport } from '../activities/swarm-nodes';
import { localNodeNames } from '../lib/local-node-names';
import { clusterBringUpWorkflow, type LocalBringUpInput } from './cluster-bring-up';
import { api, longApi, remoteExec } from './lib/proxies';
import { farmSearchAttributes } from '../lib/contract/search-attributes';
import { workflowIds } from '../lib/contract/ids';

/**
 * Local farms. On DigitalOcean the plan is the truth: change the pool's count and run `drover up` again (it
 * provisions and joins only what is missing).
 */
export interface ClusterScaleInput extends Omit<LocalBringUpInput, 'nodes'> {
  /** Workers to add (> 0) or remove (< 0). */
  delta: number;
}

export interface ClusterScaleResult {
  before: number;
  after: number;
  added: string[];
  removed: string[];
  /** Tasks started elsewhere before their nodes were drained, by service. */
  moved: Record<string, number>;
  report: SwarmReport;
}

/** Adds or removes workers; see the module comment. */
export async function clusterScaleWorkflow(input: ClusterScaleInput): Promise<ClusterScaleResult> {
  const { nodes } = await api.describeLocalFarm({ farm: input.farm });
  const before = nodes.length;
  if (!before) throw ApplicationFailure.create({ type: 'InvalidInput', message: `farm: no cluster named ${input.farm}; bring it up first`, nonRetryable: true });
  if (!Number.isInteger(input.delta) || input.delta === 0) throw ApplicationFailure.create({ type: 'InvalidInput', message: 'delta: a whole number other than 0', nonRetryable: true });
  if (input.delta > 0) {
    const { delta: _delta, ...rest } = input;
    const r = await executeChild(clusterBringUpWorkflow, { workflowId: workflowIds.child(workflowInfo().workflowId, 'bring-up'), args: [{ ...rest, nodes: before + input.delta }], typedSearchAttributes: farmSearchAttributes(input.farm, 'scale') });
    const had = new Set(nodes.map((n) => n.name));
    return { before, after: r.nodes.length, added: r.nodes.map((n) => n.name).filter((n) => !had.has(n)), removed: [], moved: {}, report: r.report };
  }
  const workers = localNodeNames(input.farm, before).filter((n) => n.role === 'worker').map((n) => n.name);
  const count = -input.delta;
  if (count >= workers.length) throw ApplicationFailure.create({ type: 'InvalidInput', message: `delta: removing ${count} of ${workers.length} workers would leave none`, nonRetryable: true });
  const leaving = workers.slice(-count);
  const manager = nodes.find((n) => n.name === localNodeNames(input.farm, 1)[0].name);
  if (!manager) throw ApplicationFailure.create({ type: 'InvalidInput', message: `farm: ${input.farm} has no manager node`, nonRetryable: true });
  const { moved } = await remoteExec.drainSwarmNodes({ manager, hostnames: leaving });
  for (const name of leaving) {
    const node = nodes.find((n) => n.name === name);
    if (node) await api.removeFromSwarm({ manager, node });
    await longApi.destroyLocalNode({ farm: input.farm, name });
  }
  // The farm settled before it is reported: every replicated service at exactly its replicas (a report taken while
  // swarm still reconciled once showed a service at 4 of 3).
  if (patched('scale-in-waits-settled')) await remoteExec.waitForStack({ manager, timeoutMs: 300_000 });
  const report = await api.swarmReport({ manager });
  return { before, after: before - count, added: [], removed: leaving, moved, report };
}

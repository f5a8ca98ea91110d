/**
 * The farm's first manager, found the same way by every workflow that works through the farm's Docker (health,
 * site create and delete, site lookups, a restore recreating a site's service). A helper, not a workflow type: it
 * lives under workflows/lib/, which workflows/index.ts does not re-export.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import type { NodeAddress } from '../../activities/swarm-nodes';
import { localNodeNames } from '../../lib/local-node-names';
import { api, cloud } from './proxies';

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

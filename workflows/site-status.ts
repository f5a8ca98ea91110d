/**
 * Where sites run and how the front reaches them: read-only lookups for `drover site show|list`, and the check a
 * created site's entity runs between operations on a local cluster, which follows the site's task when the swarm
 * moves it (another node, or a new host-mode port after a restart) by pointing the front at its new address.
 */
import type { SiteTask } from '../activities/site-service';
import { findManager } from './lib/find-manager';
import { api } from './lib/proxies';

export type { SiteTask } from '../activities/site-service';

export interface SiteNodesInput {
  provider: 'local' | 'digitalocean';
  farm: string;
  /** The sites' stacks (`site-<id>`, lib/site-names.ts). */
  stacks: string[];
}

/** The tasks of the given sites' stacks and the nodes they run on (`docker service ps` over the farm's manager). */
export async function siteNodesWorkflow(input: SiteNodesInput): Promise<{ farm: string; tasks: Record<string, SiteTask[]> }> {
  const { manager } = await findManager({ provider: input.provider, farm: input.farm });
  const { tasks } = await api.siteServiceTasks({ manager, stacks: input.stacks });
  return { farm: input.farm, tasks };
}

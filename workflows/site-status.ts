/**
 * Where sites run and how the front reaches them: read-only lookups for `drover site show|list`, and the check a
 * created site's entity runs between operations on a local cluster, which follows the site's task when the swarm
 * moves it (another node, or a new host-mode port after a restart) by pointing the front at its new address.
 */
import type { SiteTask } from '../activities/site-service';
import { findManager } from './cluster-health';
import { api, probe } from './lib/proxies';

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

/**
 * The front's backend of one created site set to where its task runs now (idempotent: unchanged when it has not
 * moved). One attempt of each probe, 30 s for a running task: a task between two nodes is found by the next check.
 * On the farm (no local front) ensureSiteBackend reports `skipped`: Traefik follows the service itself.
 */
export async function refreshSiteFront(input: { domain: string; provider: 'local' | 'digitalocean'; farm: string; stack: string }): Promise<{ node: string; address: string; port: number; changed: boolean }> {
  const { manager } = await findManager({ provider: input.provider, farm: input.farm });
  const at = await probe.siteServiceAddress({ manager, stack: input.stack, timeoutMs: 30_000 });
  const { changed } = await probe.ensureSiteBackend({ domain: input.domain, address: at.address, port: at.port });
  return { ...at, changed };
}

/**
 * The check a created site's entity runs between operations on a local cluster (workflows/site.ts): a helper, not
 * a workflow type (workflows/lib/ is not re-exported by workflows/index.ts).
 */
import { findManager } from './find-manager';
import { probe } from './proxies';

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

/**
 * Activities on the front that serves a site by its Host. On a local cluster that is the local environment's
 * varnishd (devkit/dev-env/front.ts): a site's backend is the node address and port its container publishes
 * (host mode: the nodes' dockerd runs without iptables, so there is no routing mesh). On the farm Traefik routes
 * each site by its service's labels (stacks/wordpress.yml) and these report `skipped`.
 * Get-or-create and idempotent: the same call twice leaves the same VCL loaded.
 */
import { CancelledFailure } from '@temporalio/common';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { LocalFrontClient } from '../lib/clients/local-front-client';
import { siteBackendProblem } from '../lib/front-vcl';
import { withHeartbeat } from './lib/heartbeat';

export function createFrontActivities({ localFront }: Pick<ActivityDeps, 'localFront'>) {
  const client = localFront ? new LocalFrontClient({ dir: localFront.dir, admin: localFront.admin }) : null;
  // A cancelled call reports its cancellation (withHeartbeat gives it), not the front as unavailable.
  const unavailable = (err: unknown) => (err instanceof CancelledFailure ? err : failure('CacheUnavailable', `local front ${localFront?.admin}: ${(err as Error).message}`));
  return {
    /** The site's backend on the local front (added, or moved to a new address/port); the front's URL to fetch it. */
    async ensureSiteBackend(input: { domain: string; address: string; port: number }): Promise<{ changed: boolean; skipped: boolean; frontUrl: string | null }> {
      if (!client) return { changed: false, skipped: true, frontUrl: null };
      const problem = siteBackendProblem(input);
      if (problem) throw failure('InvalidInput', `site backend ${input.domain}: ${problem}`);
      // Heartbeating: a call waits behind the process's other front changes (serialized), each a VCL compile.
      const r = await withHeartbeat(() => ({ domain: input.domain }), () => client.ensureSite(input)).catch((err: unknown) => Promise.reject(unavailable(err)));
      return { changed: r.changed, skipped: false, frontUrl: localFront!.url || null };
    },

    /**
     * The site's backend removed from the local front, and what the front cached for its Host banned, so a removed
     * site is not served from the cache (absent already: nothing to remove).
     */
    async removeSiteBackend(input: { domain: string }): Promise<{ removed: boolean; skipped: boolean }> {
      if (!client) return { removed: false, skipped: true };
      const r = await withHeartbeat(() => ({ domain: input.domain }), () => client.removeSite(input.domain)).catch((err: unknown) => Promise.reject(unavailable(err)));
      return { removed: r.removed, skipped: false };
    },
  };
}

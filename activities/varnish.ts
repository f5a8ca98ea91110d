/** Activities on the farm's Varnish caches: ban a whole site (every object cached for its Host). */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from './deps';
import { failure } from './lib/errors';
import { requestWithHost } from './lib/http-request';

export function createVarnishActivities({ front }: Pick<ActivityDeps, 'front'>) {
  return {
    /**
     * Bans every cached object of a site on every Varnish instance (after a restore, so no visitor is served the
     * pre-restore pages). configs/varnish/default.vcl answers BAN from the purge ACL only; a refusal is permanent.
     */
    async banSiteFromVarnish(input: { domain: string }): Promise<{ instances: number; skipped: boolean }> {
      if (!front.varnishUrls.length) return { instances: 0, skipped: true };
      for (const url of front.varnishUrls) {
        const r = await requestWithHost(url, { method: 'BAN', host: input.domain, signal: cancellationSignal(), unavailable: 'CacheUnavailable' });
        if (r.status >= 500) throw failure('CacheUnavailable', `Varnish ${url} answered ${r.status} to BAN ${input.domain}`);
        if (r.status !== 200) throw failure('CachePurgeRefused', `Varnish ${url} refused BAN ${input.domain} with ${r.status}: is this worker in the VCL's purge ACL?`);
      }
      return { instances: front.varnishUrls.length, skipped: false };
    },
  };
}

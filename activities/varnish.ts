/** Activities on the farm's Varnish caches: ban a whole site (every object cached for its Host). */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { requestWithHost } from '../lib/clients/http-request';

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

export interface VarnishStats {
  url: string;
  hits: number | null;
  misses: number | null;
  error?: string;
}

/** A counter's value from Prometheus text exposition (the sample without labels, or summed over labels). */
export function metricValue(text: string, name: string): number | null {
  let total: number | null = null;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const rest = line.slice(name.length);
    if (rest[0] !== ' ' && rest[0] !== '{') continue;
    const v = Number(rest.replace(/^\{[^}]*\}/, '').trim().split(/\s+/)[0]);
    if (Number.isFinite(v)) total = (total ?? 0) + v;
  }
  return total;
}

export function createVarnishStatsActivities({ front }: Pick<ActivityDeps, 'front'>) {
  return {
    /** Cache hits and misses of every Varnish, read from its exporter (prometheus-varnish-exporter). Read-only. */
    async varnishHitStats(): Promise<{ instances: VarnishStats[] }> {
      const instances = await Promise.all(
        front.varnishMetricsUrls.map(async (url): Promise<VarnishStats> => {
          try {
            const r = await fetch(url, { signal: AbortSignal.any([cancellationSignal(), AbortSignal.timeout(10_000)]) });
            if (!r.ok) return { url, hits: null, misses: null, error: `HTTP ${r.status}` };
            const text = await r.text();
            const hits = metricValue(text, 'varnish_main_cache_hit');
            const misses = metricValue(text, 'varnish_main_cache_miss');
            if (hits === null || misses === null) return { url, hits, misses, error: 'no varnish_main_cache_hit/miss: is this a Varnish exporter?' };
            return { url, hits, misses };
          } catch (err) {
            return { url, hits: null, misses: null, error: (err as Error).message };
          }
        }),
      );
      return { instances };
    },
  };
}

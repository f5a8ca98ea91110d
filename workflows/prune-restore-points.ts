/** Applies the retention policy to sites' restore points outside the nightly run (`drover backup prune`). */
import { api, longApi } from './lib/proxies';

export interface PruneInput {
  /** Default: every active site. */
  sites?: string[];
  /** Nominal date the policy counts ages from (YYYY-MM-DD). */
  now: string;
}

/** Deletes what the retention plan says to delete, in batches of 50 sites. */
export async function pruneRestorePointsWorkflow(input: PruneInput): Promise<{ sites: number; deleted: { site: string; dates: string[] }[] }> {
  const sites = input.sites ?? (await api.listSiteDomains());
  const deleted: { site: string; dates: string[] }[] = [];
  for (let i = 0; i < sites.length; i += 50) {
    for (const r of await longApi.applyRetention({ sites: sites.slice(i, i + 50), now: input.now })) if (r.deleted.length) deleted.push({ site: r.site, dates: r.deleted });
  }
  return { sites: sites.length, deleted };
}

/**
 * The one lookup a site's backup starts with (issue 18: fewer activities per site): whether the night's point is
 * already complete (its manifest in S3) and the site's record (drover_meta), asked at once in one activity.
 */
import type { ActivityDeps } from '../lib/clients/deps';
import type { SiteRecord } from '../lib/site-registry';
import { createSiteRegistryActivities } from './site-registry';
import { createSpacesActivities } from './spaces';

export type SiteBackupLookup = { complete: true } | { complete: false; site: SiteRecord };

export function createSiteBackupLookupActivities(deps: ActivityDeps) {
  const { findRestorePoint } = createSpacesActivities(deps);
  const { lookupSite } = createSiteRegistryActivities(deps);
  return {
    /**
     * A complete point needs no record (a site deleted since keeps its complete points); otherwise the site must be
     * known (an unknown one is the permanent InvalidInput lookupSite throws).
     */
    async lookupSiteForBackup(input: { site: string; date: string }): Promise<SiteBackupLookup> {
      const [point, site] = await Promise.allSettled([findRestorePoint(input), lookupSite({ domain: input.site })]);
      if (point.status === 'rejected') throw point.reason;
      if (point.value.complete) return { complete: true };
      if (site.status === 'rejected') throw site.reason;
      return { complete: false, site: site.value };
    },
  };
}

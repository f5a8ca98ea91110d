/** Activities on the site registry (the drover_meta.sites table on the Galera cluster). */
import { getSite, listSites, markSiteDeleted, placeHold, releaseHold, siteSchema, upsertSite, type Site, type SiteRecord } from '../lib/site-registry';
import { recordOutcomes, type BackupOutcome } from '../lib/backup-runs';
import type { ActivityDeps } from './deps';
import { failure } from './lib/errors';

export function createSiteRegistryActivities({ galera }: Pick<ActivityDeps, 'galera'>) {
  return {
    /** Registers a site or updates its record (idempotent). */
    async registerSite(input: Site): Promise<SiteRecord> {
      const parsed = siteSchema.safeParse(input);
      if (!parsed.success) throw failure('InvalidInput', `site ${input.domain}: ${parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ')}`);
      return upsertSite(galera, parsed.data);
    },

    /** One site's record; unknown sites are a permanent InvalidInput. */
    async lookupSite(input: { domain: string }): Promise<SiteRecord> {
      const s = await getSite(galera, input.domain);
      if (!s || s.status === 'deleted') throw failure('InvalidInput', `unknown site ${input.domain}`);
      return s;
    },

    /** Domains of every active site, in order: what a nightly backup covers. */
    async listSiteDomains(): Promise<string[]> {
      return (await listSites(galera)).map((s) => s.domain);
    },

    /** Records a batch of backup outcomes for monitoring (last complete backup, size, failures). */
    async recordBackupOutcomes(input: { outcomes: BackupOutcome[] }): Promise<{ recorded: number }> {
      await recordOutcomes(galera, input.outcomes);
      return { recorded: input.outcomes.length };
    },

    /** Holds retention for a site while `holder` (a workflow ID) needs its restore points. */
    async placeRetentionHold(input: { site: string; holder: string }): Promise<void> {
      await placeHold(galera, input.site, input.holder);
    },

    async releaseRetentionHold(input: { site: string; holder: string }): Promise<void> {
      await releaseHold(galera, input.site, input.holder);
    },

    async unregisterSite(input: { domain: string }): Promise<{ removed: boolean }> {
      return { removed: await markSiteDeleted(galera, input.domain) };
    },
  };
}

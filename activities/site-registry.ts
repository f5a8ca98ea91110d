/** Activities on the site registry (the drover_meta.sites table on the Galera cluster). */
import { getSite, listSites, markSiteDeleted, placeHold, releaseHold, siteOwning, siteSchema, upsertSite, type Site, type SiteRecord } from '../lib/site-registry';
import { recordDrill, type DrillSiteResult } from '../lib/restore-drills';
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

    /**
     * Refuses a side-by-side restore target that is, or would overwrite, a registered site: its name, database
     * or docroot. (Restoring a site over itself does not come here.)
     */
    async checkRestoreTarget(input: { to: string; database: string; filesPath: string }): Promise<{ ok: true }> {
      if (!siteSchema.shape.domain.safeParse(input.to).success) throw failure('InvalidInput', `to: "${input.to}" is not a lower-case domain name such as copy.example.com`);
      const named = await getSite(galera, input.to);
      if (named && named.status !== 'deleted') throw failure('InvalidInput', `to: ${input.to} is a registered site; restore over it with --site ${input.to}, or pick a new name`);
      const owner = await siteOwning(galera, { database: input.database, filesPath: input.filesPath });
      if (owner) throw failure('InvalidInput', `to: ${input.to} would overwrite the database or files of site ${owner}`);
      return { ok: true };
    },

    /** Records a restore drill's per-site results (what the drill metrics and alert read). */
    async recordRestoreDrill(input: { drillId: string; results: DrillSiteResult[] }): Promise<{ recorded: number }> {
      await recordDrill(galera, input.drillId, input.results);
      return { recorded: input.results.length };
    },

    async unregisterSite(input: { domain: string }): Promise<{ removed: boolean }> {
      return { removed: await markSiteDeleted(galera, input.domain) };
    },
  };
}

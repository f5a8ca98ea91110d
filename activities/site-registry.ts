/** Activities on the site registry (the drover_meta.sites table on the Galera cluster). */
import { getSite, listSites, literalTablePrefix, markSiteDeleted, recordSiteCreating, setSiteStatus, type CreatedSite, type SiteStatus, placeHold, releaseHold, siteOwning, siteSchema, upsertSite, type Site, type SiteRecord } from '../lib/site-registry';
import { acquireRestoreLock, releaseRestoreLock } from '../lib/restore-locks';
import { farmSitesDone, recordFarmSite, type FarmSiteRecord } from '../lib/restore-farm-sites';
import { recordDrill, type DrillSiteResult } from '../lib/restore-drills';
import { recordOutcomes, sitesLargestFirst, type BackupOutcome } from '../lib/backup-runs';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { formatSshTarget, parseSshTarget, SshClient } from '../lib/clients/ssh-client';
import { shellQuote } from '../lib/shell-quote';

export function createSiteRegistryActivities({ galera, ssh }: Pick<ActivityDeps, 'galera' | 'ssh'>) {
  /**
   * The site's $table_prefix from its wp-config.php (in the docroot, or the folder above it as WordPress allows).
   * No wp-config.php yet (a site registered before its files arrive): WordPress's default, wp_. One that computes
   * the prefix: refused, the operator must give it.
   */
  async function prefixFromWpConfig(site: Site): Promise<string> {
    const target = site.storageHost ? parseSshTarget(site.storageHost) : ssh.defaultTarget;
    const client = await SshClient.connect(target, ssh.options);
    try {
      const parent = site.filesPath.slice(0, site.filesPath.lastIndexOf('/')) || '/';
      const r = await client.exec(`for f in ${shellQuote(`${site.filesPath}/wp-config.php`)} ${shellQuote(`${parent}/wp-config.php`)}; do if [ -f "$f" ]; then cat "$f"; exit 0; fi; done; exit 3`);
      if (r.code === 3) return 'wp_';
      if (r.code !== 0) throw failure('InvalidInput', `site ${site.domain}: cannot read wp-config.php on ${formatSshTarget(target)}: exit ${r.code}`);
      const prefix = literalTablePrefix(r.stdout);
      if (!prefix) throw failure('InvalidInput', `tablePrefix: the wp-config.php of ${site.domain} does not set $table_prefix to a plain literal; give it at registration (drover site add --table-prefix)`);
      return prefix;
    } finally {
      client.close();
    }
  }

  return {
    /** Registers a site or updates its record (idempotent); its table prefix is read from wp-config.php unless given. */
    async registerSite(input: Site): Promise<SiteRecord> {
      const parsed = siteSchema.safeParse(input);
      if (!parsed.success) throw failure('InvalidInput', `site ${input.domain}: ${parsed.error.issues.map((i) => `${String(i.path[0])}: ${i.message}`).join('; ')}`);
      const tablePrefix = parsed.data.tablePrefix ?? (await prefixFromWpConfig(parsed.data));
      return upsertSite(galera, { ...parsed.data, tablePrefix });
    },

    /** One site's record; unknown sites are a permanent InvalidInput. */
    async lookupSite(input: { domain: string }): Promise<SiteRecord> {
      const s = await getSite(galera, input.domain);
      if (!s || s.status === 'deleted') throw failure('InvalidInput', `unknown site ${input.domain}`);
      return s;
    },

    /** Domains of every active site, in order: what a nightly backup covers. */
    async listSiteDomains(): Promise<string[]> {
      // Sites being created have nothing to back up yet; one being deleted takes its final point itself.
      return (await listSites(galera)).filter((s) => s.status === 'active' || s.status === 'migrating').map((s) => s.domain);
    },

    /** The night's sites, largest first by their last recorded backup size; unknown sizes first (lib/backup-runs.ts). */
    async orderSitesLargestFirst(input: { sites: string[] }): Promise<string[]> {
      return sitesLargestFirst(galera, input.sites);
    },

    /** Records a batch of backup outcomes for monitoring (last complete backup, size, failures). */
    async recordBackupOutcomes(input: { outcomes: BackupOutcome[] }): Promise<{ recorded: number }> {
      await recordOutcomes(galera, input.outcomes);
      return { recorded: input.outcomes.length };
    },

    /** Holds retention for a site while `holder` (a workflow ID) needs its restore points. */
    /**
     * Takes the site's restore lock for this restore (its workflow ID); fails RestoreInProgress, naming the other
     * restore, when one already has it. Safe to retry: the same holder takes it again.
     */
    async acquireRestoreLock(input: { site: string; holder: string }): Promise<{ since: string }> {
      const lock = await acquireRestoreLock(galera, input.site, input.holder);
      if (lock.holder !== input.holder) {
        throw failure('RestoreInProgress', `site ${input.site} is already being restored by ${lock.holder} (since ${lock.since}); wait for it to finish or cancel it`);
      }
      return { since: lock.since };
    },

    /** Releases the site's restore lock if this restore holds it. */
    async releaseRestoreLock(input: { site: string; holder: string }): Promise<{ released: boolean }> {
      return releaseRestoreLock(galera, input.site, input.holder);
    },

    /** Records a site a farm recovery has finished (drover_meta), so resuming never depends on Temporal's retention. */
    async recordFarmSiteDone(input: { farmId: string } & FarmSiteRecord): Promise<void> {
      await recordFarmSite(galera, input.farmId, input);
    },

    /** The sites a farm recovery has finished, as recorded. */
    async listFarmSitesDone(input: { farmId: string }): Promise<FarmSiteRecord[]> {
      return farmSitesDone(galera, input.farmId);
    },

    /** Tables, views, routines, triggers and events in a database (0 when it does not exist): is a target empty? */
    async countDatabaseObjects(input: { database: string }): Promise<{ objects: number }> {
      const rows = (await galera.query(
        await galera.writerNode(),
        `SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?)
              + (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ?) + (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ?) AS n`,
        [input.database, input.database, input.database, input.database],
      )) as unknown as { n: number }[];
      return { objects: Number(rows[0].n) };
    },

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

    /**
     * Records a site being created (`creating`; an active one of the same parameters stays active). Refused when
     * the domain exists with other parameters or its derived database or user belongs to another site.
     */
    async recordSiteCreating(input: CreatedSite & { adopt?: boolean }): Promise<SiteRecord> {
      const { adopt, ...site } = input;
      return recordSiteCreating(galera, site, { adopt });
    },

    /** Sets a site's status and last operation in the registry (idempotent). */
    async setSiteStatus(input: { domain: string; status: SiteStatus; lastOperation: string }): Promise<void> {
      await setSiteStatus(galera, input.domain, input.status, input.lastOperation);
    },

    /** A site's record, or null when it is not registered (deleted ones included: the caller decides). */
    async findSite(input: { domain: string }): Promise<SiteRecord | null> {
      return getSite(galera, input.domain);
    },

    async unregisterSite(input: { domain: string }): Promise<{ removed: boolean }> {
      return { removed: await markSiteDeleted(galera, input.domain) };
    },
  };
}

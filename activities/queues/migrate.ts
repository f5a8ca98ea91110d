import type { ActivityDeps } from '../../lib/clients/deps';
import { pick } from './pick';
import { createDigitalOceanDnsActivities } from '../digitalocean';
import { createGaleraRestoreActivities } from '../galera-restore';
import { createMigrationFilesActivities } from '../migration-files';
import { createMigrationSourceActivities } from '../migration-source';
import { createMigrationStagingActivities } from '../migration-staging';
import { createRedisCacheActivities } from '../redis-cache';
import { createSiteRegistryActivities } from '../site-registry';
import { createSiteServiceActivities } from '../site-service';
import { createTemporalActivities } from '../temporal';
import { createVarnishActivities } from '../varnish';

/**
 * drover-migrate: one site's migration from an old host (pre-flight, resumable file copy, dump and staging load,
 * URL rewrite, checks), the input's pre-flight and migration waves. The only queue with the old hosts' SSH key.
 */
export function createMigrateActivities(deps: ActivityDeps) {
  return {
    ...createMigrationSourceActivities(deps),
    ...createMigrationFilesActivities(deps),
    ...createMigrationStagingActivities(deps),
    // The site created through its entity (on drover-infra), the staged database swapped in as a restore swaps it,
    // caches flushed, the page checked through the front, the site marked active.
    ...pick(createTemporalActivities(), ['createSiteForMigration', 'endSiteMigration', 'removeMigratedSite', 'awaitWorkflowClosed']),
    ...pick(createGaleraRestoreActivities(deps), ['swapDatabase', 'undoDatabaseSwap', 'dropDatabase']),
    ...createVarnishActivities(deps),
    ...createRedisCacheActivities(deps),
    ...pick(createSiteServiceActivities(deps), ['checkMigratedPage']),
    ...pick(createSiteRegistryActivities(deps), ['setSiteStatus']),
    // A cutover (--cutover): the domain's A record through DigitalOcean's domains API, the farm's front address.
    ...createDigitalOceanDnsActivities(deps),
  };
}

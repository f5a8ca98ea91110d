import type { ActivityDeps } from '../../lib/clients/deps';
import { pick } from './pick';
import { createContractorAccessActivities } from '../contractor-access';
import { createDigitalOceanActivities } from '../digitalocean';
import { createFrontActivities } from '../front';
import { createGaleraActivities } from '../galera';
import { createLocalNodeActivities } from '../local-nodes';
import { createRedisSentinelActivities } from '../redis-sentinel';
import { createSiteDatabaseActivities } from '../site-database';
import { createSiteFilesActivities } from '../site-files';
import { createSiteRegistryActivities } from '../site-registry';
import { createSiteServiceActivities } from '../site-service';
import { createSpacesActivities } from '../spaces';
import { createSshActivities } from '../ssh';
import { createSwarmActivities } from '../swarm';
import { createSwarmNodeActivities } from '../swarm-nodes';
import { createVarnishStatsActivities } from '../varnish';

/**
 * drover-infra: bring-up, provisioning, scale, health, teardown, smoke checks and site registration. Cloud,
 * node, swarm and cluster-status activities; of the registry only registration, of Spaces only the smoke
 * round trip. No backup or restore activity.
 */
export function createInfraActivities(deps: ActivityDeps) {
  return {
    ...createDigitalOceanActivities(deps),
    ...createLocalNodeActivities(deps),
    ...createSwarmNodeActivities(deps),
    ...createSwarmActivities(deps),
    ...createSshActivities(deps),
    ...createGaleraActivities(deps),
    ...createRedisSentinelActivities(deps),
    ...createVarnishStatsActivities(deps),
    ...createFrontActivities(deps),
    ...pick(createSpacesActivities(deps), ['roundTripObject']),
    ...pick(createSiteRegistryActivities(deps), ['registerSite', 'recordSiteCreating', 'setSiteStatus', 'findSite']),
    ...createSiteDatabaseActivities(deps),
    ...createSiteFilesActivities(deps),
    ...pick(createSiteServiceActivities(deps), ['deploySiteService', 'removeSiteService', 'siteServiceAddress', 'siteServiceTasks', 'installWordPress', 'checkSitePage']),
    // Contractor access grants: the site's database user and SFTP login, and the grant's audit rows.
    ...createContractorAccessActivities(deps),
  };
}

import type { ActivityDeps } from '../../lib/clients/deps';
import { pick } from './pick';
import { createDigitalOceanActivities } from '../digitalocean';
import { createFrontActivities } from '../front';
import { createGaleraDumpActivities } from '../galera-dump';
import { createGaleraRestoreActivities } from '../galera-restore';
import { createLocalNodeActivities } from '../local-nodes';
import { createRedisCacheActivities } from '../redis-cache';
import { createSiteBackupLookupActivities } from '../site-backup-lookup';
import { createSiteDatabaseActivities } from '../site-database';
import { createSiteFilesActivities } from '../site-files';
import { createSiteHttpActivities } from '../site-http';
import { createSiteRegistryActivities } from '../site-registry';
import { createSiteServiceActivities } from '../site-service';
import { createSpacesActivities } from '../spaces';
import { createStorageArchiveActivities } from '../storage-archive';
import { createStorageRestoreActivities } from '../storage-restore';
import { createSwarmNodeActivities } from '../swarm-nodes';
import { createTemporalActivities } from '../temporal';
import { createVarnishActivities } from '../varnish';

/**
 * drover-restore: site restores, drills, farm recovery; the only queue with the restore activities (staging,
 * swaps, undo steps, decryption). It also takes the safety point of a site restored over itself: that
 * siteBackupWorkflow is the restore's child on the restore queue (a restore never waits on a backup worker), so
 * the backup's dump, archive and manifest activities are registered here too.
 */
export function createRestoreActivities(deps: ActivityDeps) {
  return {
    ...createGaleraRestoreActivities(deps),
    ...createStorageRestoreActivities(deps),
    ...createVarnishActivities(deps),
    ...createRedisCacheActivities(deps),
    ...createSiteHttpActivities(deps),
    ...createGaleraDumpActivities(deps),
    ...createStorageArchiveActivities(deps),
    // A created site restored whole: its database user, secret, files, service and front route recreated, and its
    // entity workflow held for the restore.
    ...pick(createSiteDatabaseActivities(deps), ['ensureSiteDatabase']),
    ...pick(createSiteFilesActivities(deps), ['ensureSiteFiles']),
    ...pick(createSiteServiceActivities(deps), ['deploySiteService', 'restartSiteService', 'siteServiceAddress']),
    ...pick(createFrontActivities(deps), ['ensureSiteBackend']),
    ...pick(createTemporalActivities(), ['holdSiteForRestore', 'releaseSiteFromRestore']),
    // …and the farm's manager found to deploy it on (read-only lookups: the farm's nodes, a node's Docker socket).
    ...pick(createSwarmNodeActivities(deps), ['waitForStack', 'nodeDockerSocket']),
    ...pick(createLocalNodeActivities(deps), ['describeLocalFarm']),
    ...pick(createDigitalOceanActivities(deps), ['farmNodes']),
    ...pick(createSpacesActivities(deps), ['listRestorePoints', 'readManifest', 'findRestorePoint', 'writeManifest']),
    ...createSiteBackupLookupActivities(deps),
    ...pick(createSiteRegistryActivities(deps), [
      'lookupSite',
      'registerSite',
      'recordSiteCreating',
      'listSiteDomains',
      'acquireRestoreLock',
      'releaseRestoreLock',
      'placeRetentionHold',
      'releaseRetentionHold',
      'checkRestoreTarget',
      'countDatabaseObjects',
      'recordRestoreDrill',
      'recordFarmSiteDone',
      'listFarmSitesDone',
    ]),
  };
}

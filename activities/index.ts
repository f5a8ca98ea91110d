/**
 * Drover's activities, built from their dependencies (one factory per outside system), and registered per task
 * queue: each worker gets only what its queue's workflows call, so a worker can run only its queue's work (a
 * second wall beside the environment that withholds the private key from all but restore workers).
 */
import type { ActivityDeps } from '../lib/clients/deps';
import type { TaskQueueName } from '../lib/contract/ids';
import { createDigitalOceanActivities, createDigitalOceanDnsActivities } from './digitalocean';
import { createGaleraActivities } from './galera';
import { createGaleraDumpActivities } from './galera-dump';
import { createGaleraRestoreActivities } from './galera-restore';
import { createSiteRegistryActivities } from './site-registry';
import { createSiteBackupLookupActivities } from './site-backup-lookup';
import { createStorageArchiveActivities } from './storage-archive';
import { createStorageRestoreActivities } from './storage-restore';
import { createSpacesActivities } from './spaces';
import { createSshActivities } from './ssh';
import { createSwarmActivities } from './swarm';
import { createSwarmNodeActivities } from './swarm-nodes';
import { createLocalNodeActivities } from './local-nodes';
import { createRedisCacheActivities } from './redis-cache';
import { createSiteHttpActivities } from './site-http';
import { createVarnishActivities, createVarnishStatsActivities } from './varnish';
import { createRedisSentinelActivities } from './redis-sentinel';
import { createTemporalActivities } from './temporal';
import { createMigrationSourceActivities } from './migration-source';
import { createMigrationFilesActivities } from './migration-files';
import { createMigrationStagingActivities } from './migration-staging';
import { createSiteDatabaseActivities } from './site-database';
import { createSiteFilesActivities } from './site-files';
import { createSiteServiceActivities } from './site-service';
import { createFrontActivities } from './front';
import { createContractorAccessActivities } from './contractor-access';

/** Only the named members of a factory's activities (factories that serve more than one queue). */
function pick<T extends object, K extends keyof T>(all: T, names: readonly K[]): Pick<T, K> {
  return Object.fromEntries(names.map((n) => [n, all[n]])) as Pick<T, K>;
}

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

/** drover-backup: the nightly fan-out, each site's backup (dump and archive, encrypted to the public key), retention. */
export function createBackupActivities(deps: ActivityDeps) {
  return {
    ...createGaleraDumpActivities(deps),
    ...createStorageArchiveActivities(deps),
    ...pick(createTemporalActivities(), ['awaitWorkflowClosed']),
    ...pick(createSpacesActivities(deps), ['findRestorePoint', 'writeManifest', 'abortStaleUploads', 'applyRetention']),
    ...pick(createSiteRegistryActivities(deps), ['lookupSite', 'listSiteDomains', 'orderSitesLargestFirst', 'recordBackupOutcomes']),
    ...createSiteBackupLookupActivities(deps),
  };
}

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

/** Each queue's activities: what a production worker of that queue registers. */
export const QUEUE_ACTIVITIES = { infra: createInfraActivities, backup: createBackupActivities, restore: createRestoreActivities, migrate: createMigrateActivities } satisfies Record<TaskQueueName, (deps: ActivityDeps) => object>;

/** Every activity of every queue: the type workflows proxy, and what test workers on their own queues register. */
export function createActivities(deps: ActivityDeps) {
  return { ...createInfraActivities(deps), ...createBackupActivities(deps), ...createRestoreActivities(deps), ...createMigrateActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
export { createActivityDeps, closeActivityDeps, type ActivityDeps } from '../lib/clients/deps';

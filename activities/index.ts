/** All of Drover's activities, built from their dependencies (one factory per outside system). */
import type { ActivityDeps } from './deps';
import { createDigitalOceanActivities } from './digitalocean';
import { createGaleraActivities } from './galera';
import { createGaleraDumpActivities } from './galera-dump';
import { createGaleraRestoreActivities } from './galera-restore';
import { createSiteRegistryActivities } from './site-registry';
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

export function createActivities(deps: ActivityDeps) {
  return {
    ...createSpacesActivities(deps),
    ...createGaleraActivities(deps),
    ...createSshActivities(deps),
    ...createSwarmActivities(deps),
    ...createGaleraDumpActivities(deps),
    ...createGaleraRestoreActivities(deps),
    ...createStorageArchiveActivities(deps),
    ...createStorageRestoreActivities(deps),
    ...createSiteRegistryActivities(deps),
    ...createVarnishActivities(deps),
    ...createVarnishStatsActivities(deps),
    ...createRedisSentinelActivities(deps),
    ...createRedisCacheActivities(deps),
    ...createSiteHttpActivities(deps),
    ...createDigitalOceanActivities(deps),
    ...createLocalNodeActivities(deps),
    ...createSwarmNodeActivities(deps),
  };
}

export type Activities = ReturnType<typeof createActivities>;
export { createActivityDeps, closeActivityDeps, type ActivityDeps } from './deps';

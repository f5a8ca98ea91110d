import type { ActivityDeps } from '../../lib/clients/deps';
import { pick } from './pick';
import { createGaleraDumpActivities } from '../galera-dump';
import { createSiteBackupLookupActivities } from '../site-backup-lookup';
import { createSiteRegistryActivities } from '../site-registry';
import { createSpacesActivities } from '../spaces';
import { createStorageArchiveActivities } from '../storage-archive';
import { createTemporalActivities } from '../temporal';

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

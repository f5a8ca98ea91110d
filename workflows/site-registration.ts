/** Registers (or updates) a site in the registry, through Temporal so every change has an audit trail. */
import type { Site, SiteRecord } from '../lib/site-registry';
import { api } from './lib/proxies';

/** Adds a site to the registry the nightly backup reads. */
export async function registerSiteWorkflow(site: Site): Promise<SiteRecord> {
  return api.registerSite(site);
}

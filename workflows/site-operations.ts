/**
 * The two operations that make and unmake a site, run by its entity workflow (workflows/site.ts) as children so
 * each has its own history, steps and search attributes in the Web UI. Every step is get-or-create (or
 * remove-if-there), so a retried step, a re-run after a failure and a worker killed between two steps all end in
 * the same place: created exactly once, or gone.
 */
import { ApplicationFailure, executeChild } from '@temporalio/workflow';
import { LOCAL_SITE_SERVICE } from '../lib/local-services';
import { domainProblem, siteNames } from '../lib/site-names';
import { siteSearchAttributes } from '../lib/contract/search-attributes';
import { TASK_QUEUES, workflowIds } from '../lib/contract/ids';
import { findManager } from './lib/find-manager';
import { api, remoteExec, remoteExecWith, checkStepTimeouts } from './lib/proxies';
import { siteBackupWorkflow } from './site-backup';
import type { CreateSiteRequest, CreateSiteResult, DeleteSiteResult } from '../lib/contract/site-entity';

export type { CreateSiteRequest, CreateSiteResult, DeleteSiteResult } from '../lib/contract/site-entity';

const invalid = (message: string) => ApplicationFailure.create({ type: 'InvalidInput', message, nonRetryable: true });

function checkedNames(domain: string) {
  const problem = domainProblem(domain);
  if (problem) throw invalid(`domain: ${domain}: ${problem}`);
  return siteNames(domain);
}

/** Creates a site (idempotent); see the module comment. */
export async function createSiteWorkflow(req: CreateSiteRequest): Promise<CreateSiteResult> {
  // Every refusal this workflow throws itself comes before its first change (the entity forgets such a create).
  checkStepTimeouts(req.timeouts);
  const n = checkedNames(req.domain);
  const { manager } = await findManager({ provider: req.provider, farm: req.farm });
  await api.recordSiteCreating({
    domain: req.domain, database: n.database, dbUser: n.dbUser, filesPath: n.docroot, storageHost: req.storageHost,
    phpVersion: req.phpVersion, farm: req.farm, title: req.title, adminEmail: req.adminEmail, ...(req.tablePrefix ? { tablePrefix: req.tablePrefix } : {}),
  });
  await api.ensureSiteDatabase({ domain: req.domain, database: n.database, dbUser: n.dbUser, dbSecret: n.dbSecret, manager });
  await api.ensureSiteFiles({ storageHost: req.storageHost, siteRoot: n.siteRoot, docroot: n.docroot });
  const long = remoteExecWith(req.timeouts);
  const deployed = await long.deploySiteService({
    manager, domain: req.domain, id: n.id, stack: n.stack, database: n.database, dbUser: n.dbUser, dbSecret: n.dbSecret, docroot: n.docroot, phpVersion: req.phpVersion,
    resolveImage: req.provider === 'local' ? 'never' : 'always', ...(req.image ? { image: req.image } : {}), ...(req.provider === 'local' ? LOCAL_SITE_SERVICE : {}),
    ...(req.tablePrefix ? { tablePrefix: req.tablePrefix } : {}),
  });
  await long.waitForStack({ manager, name: n.stack, timeoutMs: 600_000 });
  // The cache rules: the front learns the site's backend (locally the varnishd; on the farm Traefik's labels do it).
  const at = await long.siteServiceAddress({ manager, stack: n.stack });
  await api.ensureSiteBackend({ domain: req.domain, address: at.address, port: at.port });
  // A migration brings its own database and files: nothing to install, and the page is its to check.
  if (req.migration) return { domain: req.domain, database: n.database, dbUser: n.dbUser, stack: n.stack, filesPath: n.docroot, services: deployed.services, installed: false };
  const { installed } = await long.installWordPress({ domain: req.domain, title: req.title, adminEmail: req.adminEmail });
  await api.checkSitePage({ domain: req.domain, title: req.title });
  await api.setSiteStatus({ domain: req.domain, status: 'active', lastOperation: 'created' });
  return { domain: req.domain, database: n.database, dbUser: n.dbUser, stack: n.stack, filesPath: n.docroot, services: deployed.services, installed };
}

/**
 * Deletes a site Drover created: a final restore point first (a safety point, never pruned, that `drover
 * restore <domain> --at <point>` brings back), then everything create made, in reverse. Sites only registered
 * (`site add`) are refused: Drover did not make their files or user and will not guess what to remove.
 */
export async function deleteSiteWorkflow(input: { domain: string; provider: 'local' | 'digitalocean'; stamp: string }): Promise<DeleteSiteResult> {
  const n = checkedNames(input.domain);
  const site = await api.findSite({ domain: input.domain });
  if (!site || site.status === 'deleted') return { domain: input.domain, finalPoint: null, removed: [] };
  if (!site.dbUser || !site.farm) throw invalid(`domain: ${input.domain} was registered (drover site add), not created by Drover; remove it by hand`);
  const removed: string[] = [];
  let finalPoint: string | null = null;
  if (site.status !== 'creating') {
    // Marked first: the nightly backup no longer takes it, and a retry of this delete still takes the same point.
    await api.setSiteStatus({ domain: input.domain, status: 'deleting', lastOperation: 'delete' });
    finalPoint = `safety/${input.stamp}`;
    // On the backup queue: the infra worker registers no backup step (a backup worker is always running).
    await executeChild(siteBackupWorkflow, {
      taskQueue: TASK_QUEUES.backup,
      workflowId: workflowIds.siteBackup(input.domain, finalPoint),
      args: [{ site: input.domain, point: finalPoint }],
      typedSearchAttributes: siteSearchAttributes(input.domain, 'backup'),
    });
  } else {
    await api.setSiteStatus({ domain: input.domain, status: 'deleting', lastOperation: 'delete (never finished creating: no final point)' });
  }
  const { manager } = await findManager({ provider: input.provider, farm: site.farm });
  if ((await api.removeSiteBackend({ domain: input.domain })).removed) removed.push('front backend');
  const service = await remoteExec.removeSiteService({ manager, stack: n.stack });
  removed.push(...service.removed.map((s) => `service ${s}`));
  const user = await api.removeSiteDatabaseUser({ domain: input.domain, dbUser: site.dbUser, dbSecret: n.dbSecret, manager });
  if (user.removedUser) removed.push(`database user ${site.dbUser}`);
  if (user.removedSecret) removed.push(`secret ${n.dbSecret}`);
  if ((await api.dropSiteDatabase({ domain: input.domain, database: site.database })).dropped) removed.push(`database ${site.database}`);
  if ((await api.removeSiteFiles({ storageHost: site.storageHost, siteRoot: n.siteRoot })).removed) removed.push(`files ${n.siteRoot}`);
  await api.setSiteStatus({ domain: input.domain, status: 'deleted', lastOperation: finalPoint ? `deleted (final point ${finalPoint})` : 'deleted' });
  return { domain: input.domain, finalPoint, removed };
}

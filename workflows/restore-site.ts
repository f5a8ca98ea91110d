/**
 * Restores one site to a chosen point (`latest`, a date, or a timestamp: the newest complete point at or before
 * it), over itself or side by side under a new name. A saga: retention is held, a safety point of the live site
 * is taken first, database and files are staged and verified before anything live changes, then swapped in
 * atomically; any failure undoes what was done, in reverse, and names the step. Every step is timed (RTO).
 */
import { ApplicationFailure, CancellationScope, executeChild, isCancellation, workflowInfo } from '@temporalio/workflow';
import { chooseRestorePoint, parseRestoreAt } from '../lib/restore-point-choice';
import { api, longApi, remoteExec } from './lib/proxies';
import { workflowIds } from './lib/ids';
import { siteBackupWorkflow } from './site-backup';

export interface RestoreSiteInput {
  site: string;
  /** `latest` (default), YYYY-MM-DD, or an ISO timestamp. */
  at?: string;
  /** Restore side by side under this domain instead of over the live site. */
  to?: string;
  /** Skip the safety point of the live site (drills restoring to scratch names need none). */
  skipSafetyPoint?: boolean;
  /**
   * Disaster recovery onto a fresh cluster: the registry is gone with the old one, so the site is registered again
   * from its backup's manifest (database name, docroot), on `storageHost` (null: the worker's default storage).
   */
  rebuild?: { storageHost: string | null };
}

export interface RestoreSiteResult {
  site: string;
  target: string;
  point: string;
  safetyPoint: string | null;
  database: string;
  filesPath: string;
  storageHost: string | null;
  steps: { name: string; ms: number; detail?: unknown }[];
  rtoMs: number;
}

/** 32-bit FNV-1a as 8 hex digits: a short stable tag (workflow code has no crypto module). */
function fnv1a(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16).padStart(8, '0');
}

/** The database name and docroot a restore writes for `target` (the site itself, or a side-by-side copy). */
export function restoreTargetNames(live: { domain: string; database: string; filesPath: string }, to?: string): { database: string; filesPath: string } {
  if (!to || to === live.domain) return { database: live.database, filesPath: live.filesPath };
  const flat = `wp_${to.replace(/[^a-z0-9]/g, '_')}`;
  // Long names are cut and given a hash of the whole name, so two long copies never share a database.
  const database = flat.length <= 48 ? flat : `${flat.slice(0, 39)}_${fnv1a(to)}`;
  const parent = live.filesPath.slice(0, live.filesPath.lastIndexOf('/'));
  return { database, filesPath: `${parent}/${to}` };
}

/** Restores a site; see the module comment for the steps. */
export async function restoreSiteWorkflow(input: RestoreSiteInput): Promise<RestoreSiteResult> {
  const started = Date.now();
  const steps: RestoreSiteResult['steps'] = [];
  const compensations: { name: string; undo: () => Promise<unknown> }[] = [];
  let current = 'start';
  // Steps may run side by side (database and files): the first one to fail is the one reported.
  let failedStep: string | null = null;
  const step = async <T>(name: string, fn: () => Promise<T>, withDetail = false): Promise<T> => {
    current = name;
    const t = Date.now();
    try {
      const value = await fn();
      steps.push({ name, ms: Date.now() - t, ...(withDetail ? { detail: value } : {}) });
      return value;
    } catch (err) {
      failedStep ??= name;
      throw err;
    }
  };

  const holder = workflowInfo().workflowId;
  const target = input.to ?? input.site;
  let safetyPoint: string | null = null;
  let point = '';
  let names = { database: '', filesPath: '' };
  let storageHost: string | null = null;
  let held = false;

  try {
    const known = input.rebuild ? null : await step('look up site', () => api.lookupSite({ domain: input.site }));
    const points = await step('choose restore point', () => api.listRestorePoints({ site: input.site }));
    let at: ReturnType<typeof parseRestoreAt>;
    try {
      at = parseRestoreAt(input.at);
    } catch (err) {
      throw ApplicationFailure.create({ type: 'InvalidInput', message: `at: ${(err as Error).message}`, nonRetryable: true });
    }
    const chosen = chooseRestorePoint(points, at);
    if (!chosen) throw ApplicationFailure.create({ type: 'InvalidInput', message: `site ${input.site} has no complete restore point at or before ${input.at ?? 'latest'}`, nonRetryable: true });
    point = chosen;
    held = true;
    await step('hold retention', () => api.placeRetentionHold({ site: input.site, holder }));
    const manifest = await step('read manifest', () => api.readManifest({ site: input.site, date: point }));
    const live =
      known ??
      (await step('register the site again from its backup', () =>
        api.registerSite({ domain: input.site, database: manifest.database.name, filesPath: manifest.files.path, storageHost: input.rebuild?.storageHost ?? null }),
      ));
    names = restoreTargetNames(live, input.to);
    storageHost = live.storageHost;
    if (target !== input.site) await step('check the new name is free', () => api.checkRestoreTarget({ to: target, ...names }));
    const staging = { db: `${names.database}_drover_stg`.slice(0, 64), prev: `${names.database}_drover_prev`.slice(0, 64) };
    if (target === input.site && !input.skipSafetyPoint && !input.rebuild) {
      safetyPoint = `safety/${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
      await step('safety point of the live site', () =>
        executeChild(siteBackupWorkflow, { workflowId: `${workflowIds.siteBackup(input.site, safetyPoint!)}`, args: [{ site: input.site, date: point, point: safetyPoint! }] }),
      );
    }
    // Database and files are staged side by side (different machines do the work); both must be staged and
    // verified before anything live changes. allSettled, not all: a failure waits for the other branch to stop,
    // so its undo never races a running extract.
    compensations.push({ name: 'drop staging database', undo: () => api.dropDatabase({ name: staging.db }) });
    compensations.push({ name: 'remove staging files', undo: () => api.removeRestoreLeftovers({ storageHost: live.storageHost, livePath: names.filesPath, which: 'staging' }) });
    const staged = await Promise.allSettled([
      step('download, verify, decrypt, load database into staging', () => remoteExec.loadDatabaseIntoStaging({ key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: staging.db })).then(() =>
        step('verify staging tables and row counts', () => longApi.verifyStagingDatabase({ stagingDb: staging.db, tables: manifest.database.tables })),
      ),
      step('download, verify, decrypt, extract files into staging', () => remoteExec.extractFilesToStaging({ key: manifest.files.key, sha256: manifest.files.sha256, storageHost: live.storageHost, livePath: names.filesPath })),
    ]);
    const stagingFailure = staged.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (stagingFailure) throw stagingFailure.reason;
    compensations.push({ name: 'undo database swap', undo: () => api.undoDatabaseSwap({ liveDb: names.database, previousDb: staging.prev }) });
    await step('swap database in', () => api.swapDatabase({ liveDb: names.database, stagingDb: staging.db, previousDb: staging.prev }));
    compensations.push({ name: 'undo files swap', undo: () => api.undoFilesSwap({ storageHost: live.storageHost, livePath: names.filesPath }) });
    await step('swap files in', () => api.swapFiles({ storageHost: live.storageHost, livePath: names.filesPath }));
    await step('check the site', async () => {
      const [db, files] = await Promise.all([api.checkWordPressDatabase({ database: names.database }), api.checkSiteFiles({ storageHost: live.storageHost, livePath: names.filesPath })]);
      return { db, files };
    });
    // A live site: no visitor may get pre-restore pages, and it must answer through the farm's front before the
    // restore commits (a failed check rolls back). Copies are served by nothing yet, so neither applies to them.
    if (target === input.site) {
      await step('purge Varnish and the object cache', () => Promise.all([api.banSiteFromVarnish({ domain: target }), api.purgeObjectCache({ domain: target })]), true);
      await step('check the site answers', () => api.checkSiteAnswers({ domain: target }), true);
    }
    // Committed: the replaced database and files are no longer needed.
    compensations.length = 0;
    await step('clean up', () =>
      Promise.all([api.dropDatabase({ name: staging.prev }), api.removeRestoreLeftovers({ storageHost: live.storageHost, livePath: names.filesPath, which: 'previous' })]),
    );
  } catch (err) {
    const failedAt = failedStep ?? current;
    const undone = compensations.length;
    await CancellationScope.nonCancellable(async () => {
      for (const c of compensations.reverse()) await c.undo();
    });
    // A cancelled restore ends Cancelled (after undoing), so a parent can tell "stopped" from "broken".
    if (isCancellation(err)) throw err;
    let root: Error & { type?: string } = err as Error;
    while (root.cause instanceof Error) root = root.cause;
    throw ApplicationFailure.create({
      type: root.type ?? 'RestoreVerificationFailed',
      message: `restore of ${input.site} failed at "${failedAt}"${undone ? ' and was rolled back' : ''}: ${root.message}`,
      nonRetryable: true,
      details: [{ failedStep: failedAt, rootType: root.type ?? root.name }],
    });
  } finally {
    if (held) await CancellationScope.nonCancellable(() => api.releaseRetentionHold({ site: input.site, holder }));
  }
  return { site: input.site, target, point, safetyPoint, database: names.database, filesPath: names.filesPath, storageHost, steps, rtoMs: Date.now() - started };
}

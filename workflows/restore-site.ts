/**
 * Restores one site to a restore point its caller chose (`drover restore` resolves `--at`, a drill takes each
 * site's latest, a farm recovery gets every site's point from the CLI), over itself or side by side under a new
 * name. A saga: the target's restore lock is taken first (one restore per site at a time), retention is held, a
 * safety point of the live site is taken, database and files are staged and verified before anything live
 * changes, then swapped in atomically; any failure undoes what was done, in reverse (every undo step, each
 * reported), and names the step. Every step is timed (RTO).
 */
import { ApplicationFailure, CancellationScope, defineQuery, executeChild, isCancellation, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import { SAFETY_POINT } from '../lib/restore-point-choice';
import { scratchDatabaseNames, scratchNamesProblem } from '../lib/scratch-names';
import { rootCause, rootMessage } from '../lib/contract/failures';
import { restoreTargetNames } from '../lib/restore-targets';
import { api, compensation, compensationWith, longApiWith, remoteExec as remoteExecAlways, undoableApiWith, undoableLongApi, undoableLongApiWith, undoableRemoteExecWith, checkStepTimeouts, type StepTimeouts } from './lib/proxies';
import { workflowIds } from '../lib/contract/ids';
import { siteBackupWorkflow } from './site-backup';
import { LOCAL_SITE_SERVICE } from '../lib/local-services';
import { LOCAL_WORDPRESS_IMAGE, siteNames } from '../lib/site-names';
import { findManager } from './lib/find-manager';
import { siteSearchAttributes } from '../lib/contract/search-attributes';
import { requalifyFrom } from '../lib/backup-layout';

export interface RestoreSiteInput {
  site: string;
  /**
   * The restore point, already chosen: a dated point YYYY-MM-DD or a safety point `safety/<YYYYMMDDTHHMMSSZ>`
   * (`lib/restore-point-choice.ts` resolves `latest`, a date or a timestamp to one, once, in the caller).
   */
  point: string;
  /** Restore side by side under this domain instead of over the live site. */
  to?: string;
  /** Skip the safety point of the live site (drills restoring to scratch names need none). */
  skipSafetyPoint?: boolean;
  /**
   * Disaster recovery onto a fresh cluster: the registry is gone with the old one, so the site is registered again
   * from its backup's manifest (database name, docroot), on `storageHost` (null: the worker's default storage).
   */
  rebuild?: {
    storageHost: string | null;
    /** Restore even when the database or docroot is not empty (a safety point of what is there is taken first). */
    force?: boolean;
  };
  /**
   * Timeouts of the long steps: database load and files extraction (defaults heartbeat 30 s, 30 minutes), staging
   * verification and the live-equals-staged check (defaults 1 minute, 15 minutes), and the safety point's backup.
   */
  timeouts?: StepTimeouts;
  /** The cluster provider of a created site's farm (default local), to recreate its service when missing. */
  provider?: 'local' | 'digitalocean';
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
  /**
   * What could not be released after the restore had succeeded (the restore lock stays until `drover restore
   * unlock`, a retention hold until it expires); absent when everything was released.
   */
  notReleased?: string[];
}

/** What each undo step did when a restore failed or was cancelled (in the failure's details, and logged). */
export interface RestoreUndoReport {
  name: string;
  ok: boolean;
  error?: string;
}

/** Every undo step's outcome so far (empty until a failure or cancel undoes): readable after a cancelled restore ends. */
export const restoreUndoReportQuery = defineQuery<RestoreUndoReport[]>('restoreUndoReport');

/** Restores a site; see the module comment for the steps. */
export async function restoreSiteWorkflow(input: RestoreSiteInput): Promise<RestoreSiteResult> {
  checkStepTimeouts(input.timeouts);
  const started = Date.now();
  const steps: RestoreSiteResult['steps'] = [];
  const compensations: { name: string; undo: () => Promise<unknown> }[] = [];
  let current = 'start';
  // Steps may run side by side (database and files): the first one to fail is the one reported, with its error.
  let failedStep: string | null = null;
  let firstError: unknown = null;
  const step = async <T>(name: string, fn: () => Promise<T>, withDetail = false): Promise<T> => {
    current = name;
    const t = Date.now();
    try {
      const value = await fn();
      steps.push({ name, ms: Date.now() - t, ...(withDetail ? { detail: value } : {}) });
      return value;
    } catch (err) {
      if (failedStep === null) [failedStep, firstError] = [name, err];
      throw err;
    }
  };
  /**
   * Steps side by side, each to its end: allSettled, not all, so a failure waits for the others to stop (an undo
   * never races a running step); then the first step to fail fails the restore with its own error.
   */
  const sideBySide = async (branches: Promise<unknown>[]): Promise<void> => {
    const settled = await Promise.allSettled(branches);
    const failed = settled.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw firstError ?? failed.reason;
  };

  const holder = workflowInfo().workflowId;
  const target = input.to ?? input.site;
  let safetyPoint: string | null = null;
  let point = '';
  let names = { database: '', filesPath: '' };
  let storageHost: string | null = null;
  let held = false;
  let locked = false;
  let entityHeld = false;
  let restoreError: string | undefined;
  const undo: RestoreUndoReport[] = [];
  setHandler(restoreUndoReportQuery, () => undo);
  const notReleased: string[] = [];

  try {
    // First of all: one restore per site at a time, whoever started it (by hand, a drill, a farm recovery).
    if (patched('restore-site-lock')) {
      // Marked before the call: a cancel while it is in flight must still release (release only ever deletes
      // this restore's own row, so releasing a lock never taken is harmless).
      locked = true;
      await step("take the site's restore lock", () => api.acquireRestoreLock({ site: target, holder }));
    }
    const known = input.rebuild ? null : await step('look up site', () => api.lookupSite({ domain: input.site }));
    if (!/^\d{4}-\d{2}-\d{2}$/.test(input.point) && !SAFETY_POINT.test(input.point)) {
      throw ApplicationFailure.create({ type: 'InvalidInput', message: `point: "${input.point}" is not a restore point (YYYY-MM-DD or safety/<YYYYMMDDTHHMMSSZ>)`, nonRetryable: true });
    }
    // Chosen by the caller; only checked here (its manifest is written last: present means complete).
    const { complete } = await step('check the restore point', () => api.findRestorePoint({ site: input.site, date: input.point }));
    if (!complete) throw ApplicationFailure.create({ type: 'InvalidInput', message: `site ${input.site} has no complete restore point ${input.point}`, nonRetryable: true });
    point = input.point;
    // The site's entity workflow is held too, so no delete or create runs on the site during the restore (it
    // refuses a second restore and a delete). Only once the site is known to have a point: it starts here for a
    // site that has no entity yet, never for a typo.
    if (target === input.site && patched('restore-site-entity-hold')) {
      entityHeld = true;
      await step("hold the site's entity", () => api.holdSiteForRestore({ site: target, holder }));
    }
    held = true;
    await step('hold retention', () => api.placeRetentionHold({ site: input.site, holder }));
    const manifest = await step('read manifest', () => api.readManifest({ site: input.site, date: point }));
    // A farm recovery expects empty targets: anything there is a live site it must not overwrite unasked.
    let occupied = false;
    if (input.rebuild && patched('restore-site-empty-target')) {
      const rebuild = input.rebuild;
      const found = await step(
        'check the target is empty',
        async () => {
          const [db, files] = await Promise.all([
            api.countDatabaseObjects({ database: manifest.database.name }),
            api.countDocrootEntries({ storageHost: rebuild.storageHost, livePath: manifest.files.path }),
          ]);
          return { databaseObjects: db.objects, docrootEntries: files.entries };
        },
        true,
      );
      occupied = found.databaseObjects > 0 || found.docrootEntries > 0;
      if (occupied && !rebuild.force) {
        throw ApplicationFailure.create({
          type: 'InvalidInput',
          message: `target of ${input.site} is not empty (database ${manifest.database.name}: ${found.databaseObjects} objects, docroot ${manifest.files.path}: ${found.docrootEntries} entries); a farm recovery restores onto empty targets: use --force to overwrite (after a safety point)`,
          nonRetryable: true,
        });
      }
    }
    const live =
      known ??
      (await step('register the site again from its backup', () =>
        // With the prefix the backup recorded (the files are not there yet to read it from); older points: wp_.
        api.registerSite({ domain: input.site, database: manifest.database.name, filesPath: manifest.files.path, storageHost: input.rebuild?.storageHost ?? null, tablePrefix: manifest.database.tablePrefix ?? 'wp_' }),
      ));
    names = restoreTargetNames(live, input.to);
    storageHost = live.storageHost;
    if (target !== input.site) await step('check the new name is free', () => api.checkRestoreTarget({ to: target, ...names }));
    // Scratch names with a hash suffix: the old cut-to-64 suffixes collided at 56-64 characters.
    const scratch = patched('hash-suffixed-scratch-names') ? scratchDatabaseNames(names.database) : { staging: `${names.database}_drover_stg`.slice(0, 64), previous: `${names.database}_drover_prev`.slice(0, 64) };
    const staging = { db: scratch.staging, prev: scratch.previous };
    const clash = scratchNamesProblem({ live: names.database, staging: staging.db, previous: staging.prev });
    if (clash) throw ApplicationFailure.create({ type: 'InvalidInput', message: clash, nonRetryable: true });
    if (target === input.site && !input.skipSafetyPoint && (!input.rebuild || occupied)) {
      safetyPoint = `safety/${new Date().toISOString().replace(/[-:]/g, '').slice(0, 15)}Z`;
      await step('safety point of the live site', () =>
        executeChild(siteBackupWorkflow, { workflowId: `${workflowIds.siteBackup(input.site, safetyPoint!)}`, args: [{ site: input.site, point: safetyPoint!, ...(input.timeouts ? { timeouts: input.timeouts } : {}) }], typedSearchAttributes: siteSearchAttributes(input.site, 'backup') }),
      );
    }
    // Database and files are staged side by side (different machines do the work); both must be staged and
    // verified before anything live changes (sideBySide: a failure waits for the other branch to stop, so its undo
    // never races a running extract).
    compensations.push({ name: 'drop staging database', undo: () => compensation.dropDatabase({ name: staging.db }) });
    compensations.push({ name: 'remove staging files', undo: () => compensation.removeRestoreLeftovers({ storageHost: live.storageHost, livePath: names.filesPath, which: 'staging' }) });
    const remoteExec = undoableRemoteExecWith(input.timeouts);
    let verified: Awaited<ReturnType<typeof undoableLongApi.verifyStagingDatabase>> | undefined;
    let filesStaged: { liveExisted?: boolean } | undefined;
    await sideBySide([
      step('download, verify, decrypt, load database into staging', () => remoteExec.loadDatabaseIntoStaging({ key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: staging.db, liveDb: names.database, ...requalifyFrom(manifest) })).then(async () => {
        verified = await step('verify staging tables and row counts', () => undoableLongApiWith(input.timeouts).verifyStagingDatabase({ stagingDb: staging.db, tables: manifest.database.tables }));
      }),
      step('download, verify, decrypt, extract files into staging', () => remoteExec.extractFilesToStaging({ key: manifest.files.key, sha256: manifest.files.sha256, storageHost: live.storageHost, livePath: names.filesPath })).then((r) => {
        filesStaged = r;
      }),
    ]);
    compensations.push({ name: 'undo database swap', undo: () => compensation.undoDatabaseSwap({ liveDb: names.database, previousDb: staging.prev }) });
    // The live-equals-staged comparison runs inside the swap, right after its RENAME: checked after both swaps, a
    // busy site's writes in between failed the restore.
    const compareInSwap = verified?.checksums !== undefined && patched('live-equals-staged-in-swap');
    const swapDatabase = () => step('swap database in', () => undoableLongApiWith(input.timeouts).swapDatabase({ liveDb: names.database, stagingDb: staging.db, previousDb: staging.prev, ...(compareInSwap ? { checksums: verified!.checksums } : {}) }), compareInSwap);
    const undoFilesSwap = { name: 'undo files swap', undo: () => compensationWith(input.timeouts).undoFilesSwap({ storageHost: live.storageHost, livePath: names.filesPath }) };
    const swapFiles = () => step('swap files in', () => undoableApiWith(input.timeouts).swapFiles({ storageHost: live.storageHost, livePath: names.filesPath }));
    if (filesStaged?.liveExisted === true && patched('restore-swaps-side-by-side')) {
      // Over a docroot that exists, database and files are swapped side by side (different machines, both staged
      // and verified): the site is half-swapped for as short a time as possible. Both undos are registered before
      // either swap starts (the files' undo brings back the docroot its swap moved aside, and does nothing when the
      // swap never moved it), and a failure waits for the other swap to end before anything is undone. Over no
      // docroot (a copy under a new name, a farm recovery onto an empty target) the files swap only moves staging in,
      // which its undo cannot take back: the files are swapped only once the database swap has succeeded.
      compensations.push(undoFilesSwap);
      await sideBySide([swapDatabase(), swapFiles()]);
    } else {
      await swapDatabase();
      compensations.push(undoFilesSwap);
      await swapFiles();
    }
    // A site Drover created: what the dump does not hold (its database user, the user's secret, its service) is
    // recreated when missing, e.g. after a farm recovery onto an empty cluster; each step finds what is there.
    const created = manifest.created;
    if (created && target === input.site && patched('restore-recreates-created-site')) {
      await step("recreate the site's user, secret and service", async () => {
        const n = siteNames(input.site);
        if (input.rebuild) {
          await api.recordSiteCreating({ domain: input.site, database: names.database, dbUser: created.dbUser, filesPath: names.filesPath, storageHost: live.storageHost, phpVersion: created.phpVersion, farm: created.farm, title: created.title, adminEmail: created.adminEmail, adopt: true });
        }
        const { manager } = await findManager({ provider: input.provider ?? 'local', farm: created.farm });
        await api.ensureSiteDatabase({ domain: input.site, database: names.database, dbUser: created.dbUser, dbSecret: n.dbSecret, manager });
        if (names.filesPath === n.docroot) await api.ensureSiteFiles({ storageHost: live.storageHost, siteRoot: n.siteRoot, docroot: n.docroot });
        await remoteExecAlways.deploySiteService({ manager, domain: input.site, id: n.id, stack: n.stack, database: names.database, dbUser: created.dbUser, dbSecret: n.dbSecret, docroot: names.filesPath, phpVersion: created.phpVersion, resolveImage: (input.provider ?? 'local') === 'local' ? 'never' : 'always', ...((input.provider ?? 'local') === 'local' ? { ...LOCAL_SITE_SERVICE, image: LOCAL_WORDPRESS_IMAGE } : {}) });
        // A running task still mounts the docroot swapped out (a bind mount follows the folder, not the path).
        if (patched('restore-restarts-site-service')) await remoteExecAlways.restartSiteService({ manager, stack: n.stack });
        const stack = await remoteExecAlways.waitForStack({ manager, name: n.stack, timeoutMs: 600_000 });
        const at = await remoteExecAlways.siteServiceAddress({ manager, stack: n.stack });
        await api.ensureSiteBackend({ domain: input.site, address: at.address, port: at.port });
        return stack;
      });
    }
    await step('check the site', async () => {
      const [db, files] = await Promise.all([api.checkWordPressDatabase({ database: names.database, tablePrefix: live.tablePrefix }), api.checkSiteFiles({ storageHost: live.storageHost, livePath: names.filesPath })]);
      // Never a success over data not restored: live must equal the staged copy verified before the swap.
      if (verified?.checksums && !compareInSwap && patched('live-equals-staged-check')) await longApiWith(input.timeouts).checkLiveDatabaseMatchesStaged({ database: names.database, checksums: verified.checksums });
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
    restoreError = `failed at "${failedAt}": ${rootMessage(err as Error)}`;
    // Every undo step runs, in reverse, even when one fails: stopping at the first failure would leave the others'
    // state (a swapped database beside restored files) behind. Each outcome is logged and reported.
    await CancellationScope.nonCancellable(async () => {
      for (const c of compensations.reverse()) {
        try {
          await c.undo();
          undo.push({ name: c.name, ok: true });
        } catch (undoErr) {
          undo.push({ name: c.name, ok: false, error: rootMessage(undoErr as Error) });
        }
      }
    });
    const notUndone = undo.filter((u) => !u.ok);
    for (const u of undo) (u.ok ? log.info : log.error)(`restore of ${input.site}: undo step "${u.name}" ${u.ok ? 'done' : `FAILED: ${u.error}`}`);
    // A cancelled restore ends Cancelled (after undoing), so a parent can tell "stopped" from "broken"; its undo
    // report is logged and answered by restoreUndoReportQuery.
    if (isCancellation(err)) throw err;
    const root = rootCause(err as Error);
    const rolledBack = !undo.length ? '' : notUndone.length ? ` and its rollback is INCOMPLETE (${notUndone.map((u) => `"${u.name}": ${u.error}`).join('; ')})` : ' and was rolled back';
    throw ApplicationFailure.create({
      type: root.type ?? 'RestoreVerificationFailed',
      message: `restore of ${input.site} failed at "${failedAt}"${rolledBack}: ${root.message}`,
      nonRetryable: true,
      details: [{ failedStep: failedAt, rootType: root.type ?? root.name, undo }],
    });
  } finally {
    // Both releases run even when one fails, retried like compensations. A release that still fails never replaces
    // the restore's own outcome (a success stays a success): it is logged, and reported in a successful result.
    const released = await CancellationScope.nonCancellable(() =>
      Promise.allSettled([held ? compensation.releaseRetentionHold({ site: input.site, holder }) : null, locked ? compensation.releaseRestoreLock({ site: target, holder }) : null]),
    );
    if (entityHeld) {
      const r = await CancellationScope.nonCancellable(() => compensation.releaseSiteFromRestore({ site: target, holder, ok: restoreError === undefined, ...(restoreError ? { error: restoreError } : {}) }).then(() => null, (e: Error) => e));
      if (r) {
        notReleased.push(`releasing the site's entity failed: ${rootMessage(r)}`);
        log.error(`restore of ${input.site}: ${notReleased[notReleased.length - 1]}`);
      }
    }
    released.forEach((r, i) => {
      if (r.status === 'fulfilled') return;
      const what = i === 0 ? `its retention hold (it stays: pruning keeps its points until it is removed)` : `the restore lock of ${target} (it stays: remove it with \`drover restore unlock ${target}\`)`;
      notReleased.push(`releasing ${what} failed: ${rootMessage(r.reason as Error)}`);
      log.error(`restore of ${input.site}: ${notReleased[notReleased.length - 1]}`);
    });
  }
  return { site: input.site, target, point, safetyPoint, database: names.database, filesPath: names.filesPath, storageHost, steps, rtoMs: Date.now() - started, ...(notReleased.length ? { notReleased } : {}) };
}

/**
 * Migrating one site from an old host into the farm (issue 15), on the drover-migrate queue, ID
 * `migrate/<wave>/<domain>`. Each step is an activity of its own (visible in the Web UI) and `migrationStepQuery`
 * says where it is. The source is only ever read; everything created on the farm (the copied files, the staging
 * database) has its removal registered before the step that creates it, and a failed or cancelled migration runs
 * those removals in reverse, in a scope that cannot be cancelled. Started by a wave (issue 16), it can be paused
 * between steps (`pauseMigrationSignal`: the step running finishes, the next waits) and reports each step it enters
 * (DroverStep, its current details, and a `siteStep` signal to the wave).
 *
 * Steps: pre-flight, files copied (resumable), database dumped and staged with collations mapped, URLs rewritten,
 * the staged database checked; then, with a `target` farm: the site created through its entity (the source's table
 * prefix, marked as migrating so nothing else deletes or restores it), the staged database swapped in, the files
 * moved into the docroot and wp-config.php adapted, caches flushed, everything verified against the source, and
 * the migration recorded in drover_meta. Without a target it ends `staged` (a dry run leaving the staged copy).
 *
 * With `cutover` (behind `patched('migration-cutover')`): after the pre-flight the farm's front address is found
 * and the domain's A record's TTL lowered (DigitalOcean's domains API); after the first file copy the source is
 * frozen (WordPress's `.maintenance`) and the files synced once more, then the database is dumped (once, frozen);
 * after the verification the A record points at the farm, the source is unfrozen, and the migration recorded. A
 * failure or cancel before the record puts the A record back (address and TTL) and removes the maintenance file.
 */
import { ApplicationFailure, CancellationScope, condition, defineQuery, isCancellation, log, patched, setHandler, workflowInfo } from '@temporalio/workflow';
import type { SourcePreflight } from '../activities/migration-source';
import type { DatabaseCheck, TableReport } from '../activities/migration-staging';
import type { SourceRef } from '../activities/lib/old-host';
import type { FileTotals } from '../activities/migration-files';
import type { DnsBefore } from '../activities/digitalocean';
import { scratchDatabaseNames } from '../lib/scratch-names';
import { siteNames } from '../lib/site-names';
import { digestProblems } from '../lib/table-digest';
import { api, cloud, compensation, longApiWith, remoteExecWith, siteOperation, slowCompensation, undoableLongApiWith, undoableRemoteExecWith, checkStepTimeouts, type StepTimeouts } from './lib/proxies';
import { pauseMigrationSignal, reportSiteStep, resumeMigrationSignal } from './lib/migration-signals';

export type MigrationStep =
  | 'preflight' | 'copy files' | 'load database' | 'rewrite urls' | 'check staged database' | 'staged'
  | 'create site' | 'swap database' | 'move files' | 'flush caches' | 'verify' | 'record' | 'migrated'
  | 'undo' | 'failed'
  // A cutover's own steps (input.cutover).
  | 'lower ttl' | 'freeze source' | 'final sync' | 'switch dns' | 'unfreeze source';

/** The farm the site lands on (its files on the default storage node, where the copy went). */
export interface MigrationTarget {
  farm: string;
  provider: 'local' | 'digitalocean';
  phpVersion: string;
  /** The WordPress image when not the stack file's (the local provider's imported stand-in). */
  image?: string;
}

export interface MigrateSiteInput {
  source: SourceRef;
  /** rsync --bwlimit on the old host's link (KiB/s); none: unlimited. */
  bandwidthLimitKBps?: number;
  /** Long steps' timeout overrides (a slow farm, or a test shortening the heartbeat timeout). */
  timeouts?: StepTimeouts;
  /** Where the site goes; none: the migration stops at `staged`. */
  target?: MigrationTarget;
  /**
   * Switch the domain over to the farm (`--cutover`; needs a target and a worker with a DigitalOcean token): the A
   * record's TTL lowered first, writes frozen on the source for the final sync, the record pointed at the farm.
   */
  cutover?: { ttlSeconds: number };
}

export interface MigrationState {
  step: MigrationStep;
  done: MigrationStep[];
  preflight?: SourcePreflight;
  files?: { source: FileTotals; copied: FileTotals };
  database?: { bytes: number; tables: number; mapped: Record<string, number> };
  rewrite?: TableReport[];
  check?: DatabaseCheck;
  site?: { database: string; stack: string; docroot: string };
  swap?: { swapped: number; compared?: { tables: number; writtenSinceSwap: string[] } };
  moved?: { files: number; bytes: number; wpConfig: { adapted: boolean; removed: string[] } };
  caches?: { varnishInstances: number; objectCacheKeys: number };
  verified?: { tables: number; tablesRewritten: number; programs: number; files: number; administrators: number; page: { status: number; bytes: number } };
  undone?: string[];
  /** A cutover: the A record before it (the rollback's target), the farm's address, the lowered TTL. */
  cutover?: { before: DnsBefore; farmIp: string; farmIpFrom: string; ttlSeconds: number; switched: boolean; sourceFrozen?: { operatorsOwn: boolean }; sourceUnfrozen?: boolean };
}

export interface MigrateSiteResult extends MigrationState {
  domain: string;
  stagingDb: string;
  filesPath: string;
  fromUrl: string;
  toUrl: string;
}

/** Where the migration is and what each finished step reported. */
export const migrationStepQuery = defineQuery<MigrationState>('migrationStep');

/** Migrates one site into the farm (up to a staged, checked copy without a target); undoes what it created on failure. */
export async function migrateSiteWorkflow(input: MigrateSiteInput): Promise<MigrateSiteResult> {
  checkStepTimeouts(input.timeouts);
  const src = input.source;
  const names = siteNames(src.domain);
  const stagingDb = scratchDatabaseNames(names.database).staging;
  const filesPath = `${names.docroot}.migrating`;
  const state: MigrationState = { step: 'preflight', done: [] };
  setHandler(migrationStepQuery, () => state);
  const remote = remoteExecWith(input.timeouts);
  const undoable = undoableRemoteExecWith(input.timeouts);
  const undo: Undo[] = [];
  // A wave pauses its sites in flight (issue 16): the step running finishes, the next waits for resume.
  let paused = false;
  setHandler(pauseMigrationSignal, () => void (paused = true));
  setHandler(resumeMigrationSignal, () => void (paused = false));
  // Step reporting (DroverStep, the wave's progress) adds commands: runs recorded before it replay without them.
  const reporting = patched('migration-step-reporting');
  const report = (name: MigrationStep, waiting?: boolean) => reportSiteStep(reporting, { domain: src.domain, step: name, ...(waiting ? { paused: true } : {}) });
  const step: Step = async <T>(name: MigrationStep, fn: () => Promise<T>): Promise<T> => {
    if (paused) {
      await report(name, true);
      await condition(() => !paused);
    }
    state.step = name;
    await report(name);
    const r = await fn();
    state.done.push(name);
    return r;
  };

  try {
    state.preflight = await step('preflight', () => remote.preflightMigrationSource(src));
    const fromUrl = src.fromUrl || state.preflight.home;
    if (!fromUrl) throw ApplicationFailure.create({ type: 'MigrationSourceInvalid', message: `no from_url given and the source has no home option`, nonRetryable: true });
    const toUrl = src.toUrl || `https://${src.domain}`;

    // A cutover (issue 16) adds its steps only when asked for: runs without one replay as before.
    const cutover = input.cutover && input.target && patched('migration-cutover') ? input.cutover : null;
    if (cutover) {
      // The record as it was is put back on failure (address and TTL), whatever of it had changed.
      undo.push({ what: `DNS of ${src.domain} as it was`, run: async () => state.cutover && compensation.restoreDomainRecord({ domain: src.domain, before: state.cutover.before }) });
      state.cutover = await step('lower ttl', async () => {
        // The farm's address first: a farm with nothing to point at fails before anything is copied.
        const front = await cloud.farmFrontAddress({ farm: input.target!.farm, provider: input.target!.provider });
        const before = await cloud.lowerDnsTtl({ domain: src.domain, ttl: cutover.ttlSeconds });
        return { before, farmIp: front.ip, farmIpFrom: front.from, ttlSeconds: cutover.ttlSeconds, switched: false };
      });
    }

    const copy = () => undoable.copySiteFilesFromSource({ source: src, destPath: filesPath, ...(input.bandwidthLimitKBps ? { bandwidthLimitKBps: input.bandwidthLimitKBps } : {}) });
    undo.push({ what: `remove ${filesPath}`, run: () => compensation.removeMigratedFiles({ destPath: filesPath }) });
    state.files = await step('copy files', copy);
    if (cutover) {
      // Writes frozen on the source (WordPress maintenance mode), then the last changes: the files again (rsync
      // moves only what changed) and the database, dumped once, after the freeze.
      undo.push({ what: `maintenance mode on ${src.ssh.host}`, run: () => compensation.unfreezeMigrationSource(src) });
      state.cutover!.sourceFrozen = await step('freeze source', async () => ({ operatorsOwn: (await api.freezeMigrationSource(src)).operatorsOwn }));
      state.files = await step('final sync', copy);
    }

    undo.push({ what: `drop ${stagingDb}`, run: () => compensation.dropMigrationStaging({ stagingDb }) });
    state.database = await step('load database', () => undoable.loadSourceDatabaseIntoStaging({ source: src, stagingDb }));
    if (fromUrl !== toUrl) state.rewrite = (await step('rewrite urls', () => undoable.rewriteStagingUrls({ stagingDb, fromUrl, toUrl }))).tables;
    state.check = await step('check staged database', () => undoable.checkStagedDatabase({ stagingDb, tablePrefix: state.preflight!.tablePrefix, fromUrl }));
    if (fromUrl !== toUrl && state.check.oldUrlLeft.length) {
      const left = state.check.oldUrlLeft.map((l) => `${l.table}.${l.column} (${l.rows} rows)`).join(', ');
      throw ApplicationFailure.create({ type: 'MigrationVerificationFailed', message: `the old URL ${fromUrl} is still in ${left} after the rewrite`, nonRetryable: true });
    }
    if (!input.target || !patched('migrate-into-farm')) {
      state.step = 'staged';
      await report('staged');
      return { ...state, domain: src.domain, stagingDb, filesPath, fromUrl, toUrl };
    }
    await intoFarm(input, input.target, state, step, undo, { fromUrl, toUrl, stagingDb, filesPath }, cutover !== null);
    state.step = 'migrated';
    await report('migrated');
    return { ...state, domain: src.domain, stagingDb, filesPath, fromUrl, toUrl };
  } catch (err) {
    const failedStep = state.step;
    state.step = 'undo';
    state.undone = [];
    await report('undo');
    await CancellationScope.nonCancellable(async () => {
      for (const u of [...undo].reverse()) {
        try {
          await u.run();
          state.undone!.push(u.what);
        } catch (e) {
          log.error('migration undo step failed', { what: u.what, error: (e as Error).message });
        }
      }
    });
    state.step = 'failed';
    await report('failed');
    if (isCancellation(err)) throw err;
    throw ApplicationFailure.create({
      type: (err as { cause?: { type?: string } }).cause?.type ?? (err as { type?: string }).type ?? 'MigrationVerificationFailed',
      message: `migration of ${src.domain} failed at ${failedStep}: ${(err as { cause?: Error }).cause?.message ?? (err as Error).message}; removed from the farm: ${state.undone.join(', ') || 'nothing'}`,
      nonRetryable: true,
      cause: err as Error,
      details: [{ failedStep, undone: state.undone }],
    });
  }
}

type Undo = { what: string; run: () => Promise<unknown> };
type Step = <T>(name: MigrationStep, fn: () => Promise<T>) => Promise<T>;
const failVerification = (message: string) => ApplicationFailure.create({ type: 'MigrationVerificationFailed', message, nonRetryable: true });

/**
 * The staged copy becomes the site on the farm. Each removal is registered before the step that creates what it
 * removes: the site (through its entity: service, user, database, files, front route), the database swap.
 */
async function intoFarm(input: MigrateSiteInput, target: MigrationTarget, state: MigrationState, step: Step, undo: Undo[], m: { fromUrl: string; toUrl: string; stagingDb: string; filesPath: string }, cutover: boolean): Promise<void> {
  const src = input.source;
  const domain = src.domain;
  const names = siteNames(domain);
  const prefix = state.preflight!.tablePrefix;
  const migration = workflowInfo().workflowId;
  const check = state.check!;

  undo.push({ what: `site ${domain} (through its entity)`, run: () => slowCompensation.removeMigratedSite({ domain, migration, provider: target.provider }) });
  const created = await step('create site', () =>
    siteOperation.createSiteForMigration({
      migration,
      request: {
        domain, phpVersion: target.phpVersion, provider: target.provider, farm: target.farm, storageHost: null, tablePrefix: prefix,
        title: (check.site?.title || domain).slice(0, 200), adminEmail: (check.site?.adminEmail || `admin@${domain}`).slice(0, 100), ...(target.image ? { image: target.image } : {}),
      },
    }),
  );
  state.site = { database: created.database || names.database, stack: created.stack || names.stack, docroot: created.filesPath || names.docroot };

  const previousDb = scratchDatabaseNames(names.database).previous;
  undo.push({ what: `database swap of ${names.database}`, run: () => compensation.undoDatabaseSwap({ liveDb: names.database, previousDb }) });
  state.swap = await step('swap database', async () => {
    const { checksums } = await undoableLongApiWith(input.timeouts).stagedChecksums({ stagingDb: m.stagingDb });
    // The RENAME and the live-equals-staged check, triggers, views and routines moved (the restore's swap).
    const r = await undoableLongApiWith(input.timeouts).swapDatabase({ liveDb: names.database, stagingDb: m.stagingDb, previousDb, checksums });
    // The site's empty database from its creation is all the previous side holds: nothing to keep.
    await api.dropDatabase({ name: previousDb });
    return r;
  });

  state.moved = await step('move files', () => undoableRemoteExecWith(input.timeouts).moveMigratedFilesIn({ stagedPath: m.filesPath, docroot: names.docroot, tablePrefix: prefix, expect: state.files!.copied }));

  state.caches = await step('flush caches', async () => {
    const [varnish, objects] = await Promise.all([api.banSiteFromVarnish({ domain }), api.purgeObjectCache({ domain })]);
    return { varnishInstances: varnish.instances, objectCacheKeys: objects.deleted };
  });

  state.verified = await step('verify', async () => {
    const rewritten = new Set((state.rewrite ?? []).filter((t) => t.status === 'rewritten' && t.rowsChanged > 0).map((t) => t.table));
    const [source, live, db, files] = await Promise.all([
      remoteExecWith(input.timeouts).sourceDatabaseDigests(src),
      longApiWith(input.timeouts).migratedDatabaseDigests({ database: names.database }),
      longApiWith(input.timeouts).checkMigratedDatabase({ database: names.database, tablePrefix: prefix, fromUrl: m.fromUrl }),
      api.migratedFileTotals({ docroot: names.docroot }),
    ]);
    const problems = digestProblems(source, live, rewritten);
    if (m.fromUrl !== m.toUrl && db.oldUrlLeft.length) problems.push(`the old URL is still in ${db.oldUrlLeft.map((l) => `${l.table}.${l.column} (${l.rows} rows)`).join(', ')}`);
    if (files.files !== state.files!.source.files) problems.push(`the docroot holds ${files.files} files, the source ${state.files!.source.files}`);
    if (problems.length) throw failVerification(`${domain} does not match its source: ${problems.join('; ')}`);
    const page = await api.checkMigratedPage({ domain, title: db.site.title || domain, fromUrl: m.fromUrl });
    return { tables: Object.keys(live.digests).length, tablesRewritten: rewritten.size, programs: live.programs.length, files: files.files, administrators: db.administrators, page: { status: page.status, bytes: page.bytes } };
  });

  if (cutover) {
    const c = state.cutover!;
    // Verified: the domain now points at the farm (the read-back included); a failure from here puts it back first.
    undo.push({ what: `DNS of ${domain} back to ${c.before.ip ?? 'no A record'}`, run: () => compensation.restoreDomainRecord({ domain, before: c.before }) });
    await step('switch dns', async () => {
      await cloud.pointDomainAt({ domain, ip: c.farmIp, ttl: c.ttlSeconds });
      c.switched = true;
    });
    await step('unfreeze source', async () => void (c.sourceUnfrozen = (await api.unfreezeMigrationSource(src)).removed));
  }

  await step('record', async () => {
    await api.recordMigration({
      workflowId: migration, domain, wave: src.wave, sourceSsh: `${src.ssh.user}@${src.ssh.host}:${src.ssh.port}`, sourcePath: src.sourcePath, sourceDb: src.sourceDb,
      fromUrl: m.fromUrl, toUrl: m.toUrl, tablePrefix: prefix, startedAt: workflowInfo().startTime.toISOString(), finishedAt: new Date().toISOString(),
      rewriteReport: state.rewrite ?? [], verification: state.verified,
    });
    await api.setSiteStatus({ domain, status: 'active', lastOperation: `migrated from ${src.ssh.host} (${migration})` });
    // Committed: from here a failure must not remove the site.
    undo.length = 0;
    await siteOperation.endSiteMigration({ domain, migration, ok: true });
  });
}

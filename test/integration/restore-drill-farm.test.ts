/**
 * Restore drills and whole-farm recovery on the real services. A drill restores sites under scratch names,
 * verifies and times them, removes the copies and records results the metrics endpoint reports; a drill meeting
 * a corrupted backup fails as RestoreDrillFailed and still cleans up. A farm recovery after losing databases,
 * files and registry entries brings every site back exactly, answers progress by query, and when cancelled
 * midway and started again resumes without repeating finished sites.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { WorkflowFailedError, type ApplicationFailure } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createSpacesActivities } from '../../activities/spaces';
import { scratchDatabaseNames } from '../../lib/scratch-names';
import { markSiteDeleted, getSite, type SiteRecord } from '../../lib/site-registry';
import { backupMetricsRegistry } from '../../workers/backup-metrics';
import { drillScratchName, restoreDrillWorkflow, type RestoreDrillResult } from '../../workflows/restore-drill';
import { restoreFarmProgressQuery, restoreFarmWorkflow } from '../../workflows/restore-farm';
import { restoreTargetNames } from '../../lib/restore-targets';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { objectBytes, pointObjectKey, treeHashes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { deleteExecution, useRunningWorker, replayOptions } from '../helpers/temporal';

const ctx = useRunningWorker('restore-dr');

/** Each activity type's scheduled heartbeat and start-to-close timeouts (seconds) in a workflow's history. */
async function scheduledTimeouts(workflowId: string): Promise<Record<string, { heartbeat: number; startToClose: number }>> {
  const { events } = await ctx.tw.client.workflow.getHandle(workflowId).fetchHistory();
  const secs = (d?: { seconds?: unknown } | null) => Number(d?.seconds ?? 0);
  return Object.fromEntries(
    (events ?? []).flatMap((e) => {
      const a = e.activityTaskScheduledEventAttributes;
      return a ? [[a.activityType!.name!, { heartbeat: secs(a.heartbeatTimeout), startToClose: secs(a.startToCloseTimeout) }]] : [];
    }),
  );
}

/** Each site's point as `drover restore farm` resolves `--at latest` for it: the one night backedUpSites made. */
const latestPoints = (sites: SiteRecord[]) => Object.fromEntries(sites.map((s) => [s.domain, '2026-11-10']));

async function backedUpSites(prefix: string, n: number): Promise<SiteRecord[]> {
  const tag = ctx.taskQueue.slice(-6);
  const out: SiteRecord[] = [];
  for (let i = 1; i <= n; i++) {
    const site = await createTestSite(ctx.deps, `${prefix}${i}-${tag}.example.com`, { posts: 10, uploadBytes: 32 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    out.push(site);
  }
  return out;
}

async function databaseExists(name: string): Promise<boolean> {
  const rows = (await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name])) as unknown as { n: number }[];
  return Number(rows[0].n) > 0;
}

async function metric(name: string): Promise<string> {
  const { registry, refresh } = backupMetricsRegistry(ctx.deps.galera);
  await refresh();
  return (await registry.metrics()).split('\n').filter((l) => l.startsWith(name)).join('\n');
}

describe('restoreDrillWorkflow', () => {
  it('restores, verifies and times each site under a scratch name, removes the copies and records the results', async () => {
    const sites = await backedUpSites('drill', 2);
    const before = await Promise.all(sites.map((s) => tableChecksums(ctx.deps, s.database)));
    // Timeouts of the long steps reach every restore the drill starts (defaults unchanged when not given).
    const timeouts = { heartbeat: '47 seconds', startToClose: '53 minutes' };
    const handle = await ctx.tw.client.workflow.start(restoreDrillWorkflow, {
      workflowId: `restore-drill/2026-11-15/${ctx.taskQueue}`,
      taskQueue: ctx.taskQueue,
      args: [{ date: '2026-11-15', sites: sites.map((s) => s.domain), timeouts }],
    });
    const r = await handle.result();
    await Worker.runReplayHistory(replayOptions(), await handle.fetchHistory(), handle.workflowId);
    expect(r.passed).toBe(true);
    expect(r.results.map((x) => [x.site, x.point, x.passed])).toEqual(sites.map((s) => [s.domain, '2026-11-10', true]));
    expect(Math.min(...r.results.map((x) => x.rtoMs))).toBeGreaterThan(0);
    for (const s of sites) {
      const copy = restoreTargetNames(s, drillScratchName(s.domain));
      expect(await databaseExists(copy.database)).toBe(false);
      expect(existsSync(copy.filesPath)).toBe(false);
    }
    // The live sites were never touched.
    expect(await Promise.all(sites.map((s) => tableChecksums(ctx.deps, s.database)))).toEqual(before);
    expect(await metric('drover_restore_drill_last_passed')).toMatch(/ 1$/);
    expect(await metric('drover_restore_drill_last_rto_seconds')).toContain(`site="${sites[0].domain}"`);
    const restored = await scheduledTimeouts(`${handle.workflowId}/${sites[0].domain}`);
    for (const long of ['loadDatabaseIntoStaging', 'extractFilesToStaging', 'verifyStagingDatabase', 'swapDatabase']) {
      expect(restored[long], long).toEqual({ heartbeat: 47, startToClose: 53 * 60 });
    }
    // The backup's dump and archive take them too; without them, the defaults (30 s, 30 minutes).
    const backup = (date: string, extra: object) =>
      ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${sites[0].domain}/${date}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site: sites[0].domain, point: date, ...extra }] });
    await backup('2026-11-16', { timeouts });
    await backup('2026-11-17', {});
    const [given, defaults] = [await scheduledTimeouts(`backup/${sites[0].domain}/2026-11-16/${ctx.taskQueue}`), await scheduledTimeouts(`backup/${sites[0].domain}/2026-11-17/${ctx.taskQueue}`)];
    for (const long of ['dumpDatabaseToSpaces', 'archiveSiteFilesToSpaces']) {
      expect(given[long], long).toEqual({ heartbeat: 47, startToClose: 53 * 60 });
      expect(defaults[long], long).toEqual({ heartbeat: 30, startToClose: 30 * 60 });
    }
  });

  it('a corrupted backup fails the drill as RestoreDrillFailed, still removes the copies, and the metrics say so', async () => {
    const [good, bad] = await backedUpSites('drillbad', 2);
    const key = await pointObjectKey(ctx.deps, bad.domain, '2026-11-10', 'database');
    const bytes = await objectBytes(ctx.deps, key);
    bytes[bytes.length - 10] ^= 0x01;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: key, Body: bytes }));

    const e = await ctx.tw.client.workflow
      .execute(restoreDrillWorkflow, { workflowId: `restore-drill/2026-11-22/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ date: '2026-11-22', sites: [good.domain, bad.domain] }] })
      .then(() => null, (err: unknown) => err);
    expect(e).toBeInstanceOf(WorkflowFailedError);
    const f = (e as WorkflowFailedError).cause as ApplicationFailure;
    expect(f.type).toBe('RestoreDrillFailed');
    const out = f.details?.[0] as RestoreDrillResult;
    expect(out.results.find((x) => x.site === good.domain)?.passed).toBe(true);
    expect(out.results.find((x) => x.site === bad.domain)).toMatchObject({ passed: false, error: expect.stringMatching(/^BackupCorrupted: .*SHA-256/) });
    for (const s of [good, bad]) expect(await databaseExists(restoreTargetNames(s, drillScratchName(s.domain)).database)).toBe(false);
    expect(await metric('drover_restore_drill_last_passed')).toMatch(/ 0$/);
    expect(await metric('drover_restore_drill_last_failed_sites')).toMatch(/ 1$/);
  });
});

describe('restoreFarmWorkflow', () => {
  it('brings lost sites back exactly, reports progress, and resumes after being cancelled midway', async () => {
    const sites = await backedUpSites('farm', 3);
    const db = await Promise.all(sites.map((s) => tableChecksums(ctx.deps, s.database)));
    const files = sites.map((s) => treeHashes(s.filesPath));
    // The disaster: databases, files and registry entries gone.
    for (const s of sites) {
      await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), `DROP DATABASE \`${s.database}\``);
      rmSync(s.filesPath, { recursive: true, force: true });
      await markSiteDeleted(ctx.deps.galera, s.domain);
    }

    const workflowId = `restore-farm/${ctx.taskQueue}`;
    const start = () => ctx.tw.client.workflow.start(restoreFarmWorkflow, { workflowId, taskQueue: ctx.taskQueue, args: [{ points: latestPoints(sites), concurrency: 1 }] });
    const first = await start();
    let progress = await first.query(restoreFarmProgressQuery);
    const deadline = Date.now() + 120_000;
    while (progress.done < 1 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
      progress = await first.query(restoreFarmProgressQuery);
    }
    expect(progress.total).toBe(3);
    expect(progress.done).toBeGreaterThanOrEqual(1);
    await first.cancel();
    await expect(first.result()).rejects.toThrow();
    expect((await first.describe()).status.name).toBe('CANCELLED');

    const second = await start();
    const r = await second.result();
    await Worker.runReplayHistory(replayOptions(), await second.fetchHistory(), second.workflowId);
    await Worker.runReplayHistory(replayOptions(), await first.fetchHistory(), first.workflowId);
    expect(r.failed).toEqual([]);
    expect(r.done.map((d) => d.site).sort()).toEqual(sites.map((s) => s.domain).sort());
    expect(r.done.filter((d) => d.resumed).length).toBeGreaterThanOrEqual(1);
    for (const [i, s] of sites.entries()) {
      expect(await tableChecksums(ctx.deps, s.database)).toEqual(db[i]);
      expect(treeHashes(s.filesPath)).toEqual(files[i]);
      expect(await getSite(ctx.deps.galera, s.domain)).toMatchObject({ status: 'active', database: s.database, filesPath: s.filesPath });
      expect(existsSync(`${s.filesPath}.drover-staging`) || existsSync(`${s.filesPath}.drover-previous`)).toBe(false);
      const scratch = scratchDatabaseNames(s.database);
      expect(await databaseExists(scratch.staging)).toBe(false);
      expect(await databaseExists(scratch.previous)).toBe(false);
    }
    expect(path.isAbsolute(sites[0].filesPath)).toBe(true);
  });

  it('refuses targets that are not empty unless forced (after a safety point), and resumes from its drover_meta record when Temporal no longer holds the finished runs', async () => {
    const [lost, live] = await backedUpSites('farmx', 2);
    const backedUp = { db: await tableChecksums(ctx.deps, live.database), files: treeHashes(live.filesPath) };
    await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), `DROP DATABASE \`${lost.database}\``);
    rmSync(lost.filesPath, { recursive: true, force: true });
    await markSiteDeleted(ctx.deps.galera, lost.domain);
    // The other site is still serving (changed since its backup): a recovery must not overwrite it unasked.
    writeFileSync(path.join(live.filesPath, 'wp-content/uploads/new-since-backup.txt'), 'a customer upload');
    const current = { db: await tableChecksums(ctx.deps, live.database), files: treeHashes(live.filesPath) };

    const workflowId = `restore-farm/x-${ctx.taskQueue}`;
    const recover = (force?: boolean) =>
      ctx.tw.client.workflow.execute(restoreFarmWorkflow, { workflowId, taskQueue: ctx.taskQueue, args: [{ points: latestPoints([lost, live]), concurrency: 1, ...(force ? { force } : {}) }] });
    const first = await recover();
    expect(first.done.map((d) => d.site)).toEqual([lost.domain]);
    expect(first.failed.map((f) => f.site)).toEqual([live.domain]);
    expect(first.failed[0].error).toMatch(/not empty.*--force/);
    expect(await tableChecksums(ctx.deps, live.database)).toEqual(current.db);
    expect(treeHashes(live.filesPath)).toEqual(current.files);

    // The namespace's retention drops the finished child run; the restored site is then changed by its owner.
    const child = `${workflowId}/${lost.domain}`;
    await deleteExecution(ctx.tw.client, child);
    writeFileSync(path.join(lost.filesPath, 'wp-content/uploads/after-recovery.txt'), 'written after the recovery');
    const afterRecovery = treeHashes(lost.filesPath);

    const second = await recover(true);
    expect(second.failed).toEqual([]);
    expect(second.done.find((d) => d.site === lost.domain)).toMatchObject({ resumed: true });
    expect(treeHashes(lost.filesPath)).toEqual(afterRecovery);
    expect(await tableChecksums(ctx.deps, live.database)).toEqual(backedUp.db);
    expect(treeHashes(live.filesPath)).toEqual(backedUp.files);
    const points = await createSpacesActivities(ctx.deps).listRestorePoints({ site: live.domain });
    expect(points.filter((p) => p.date.startsWith('safety/') && p.complete)).toHaveLength(1);
  }, 420_000);
});

/**
 * The nightly fan-out on the real services: a bounded window of children, continue-as-new, a broken site that
 * does not fail the night, retention applied afterwards, the largest sites (by last recorded size) started first.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { createSpacesActivities } from '../../activities/spaces';
import { objectKey } from '../../lib/backup-layout';
import { upsertSite } from '../../lib/site-registry';
import { recordOutcomes } from '../../lib/backup-runs';
import { nightlyBackupWorkflow } from '../../workflows/nightly-backup';
import { createTestSite } from '../helpers/sites';
import { useRunningWorker, replayOptions } from '../helpers/temporal';

const ctx = useRunningWorker('nightly');

describe('nightlyBackupWorkflow', () => {
  it('backs up every site in a bounded window, continues as new, survives a broken site, and prunes', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const good = [`alpha-${tag}.example.com`, `bravo-${tag}.example.com`, `charlie-${tag}.example.com`];
    for (const d of good) await createTestSite(ctx.deps, d, { posts: 10, uploadBytes: 32 * 1024 });
    const broken = `broken-${tag}.example.com`;
    await upsertSite(ctx.deps.galera, { domain: broken, database: `wp_missing_${tag}`, filesPath: '/nonexistent/site', storageHost: null });

    // Five year-old restore points for one site: retention must delete the three oldest (the newest 3 complete
    // points are always kept) once tonight's point exists.
    for (const day of ['01', '02', '03', '04', '05']) {
      await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: objectKey(good[0], `2025-01-${day}`, 'manifest'), Body: 'x' }));
    }

    // Last night's sizes: charlie the largest, alpha the smallest; the broken site has none (never backed up).
    await recordOutcomes(ctx.deps.galera, [
      { site: good[0], date: '2026-11-20', status: 'created', bytes: 1_000 },
      { site: good[1], date: '2026-11-20', status: 'created', bytes: 2_000_000 },
      { site: good[2], date: '2026-11-20', status: 'created', bytes: 3_000_000_000 },
    ]);

    const date = '2026-11-21';
    const sites = [...good, broken];
    const handle = await ctx.tw.client.workflow.start(nightlyBackupWorkflow, {
      workflowId: `nightly-backup/${date}/${ctx.taskQueue}`,
      taskQueue: ctx.taskQueue,
      args: [{ date, sites, concurrency: 2, childrenPerRun: 2 }],
    });
    const result = await handle.result();
    expect(result.sites).toBe(4);
    expect(result.created).toBe(3);
    expect(result.failed.map((f) => f.site)).toEqual([broken]);
    expect(result.failed[0].error).toMatch(/does not exist|not found/);
    expect(result.pruned).toBe(3);
    expect(result.outcomes.map((o) => [o.site, o.status])).toEqual([...sites].sort().map((s) => [s, s === broken ? 'failed' : 'created']));

    const spaces = createSpacesActivities(ctx.deps);
    for (const d of good) {
      const points = await spaces.listRestorePoints({ site: d });
      expect(points.filter((p) => p.date === date && p.complete)).toHaveLength(1);
    }
    expect((await spaces.listRestorePoints({ site: good[0] })).map((p) => p.date)).toEqual([date, '2025-01-05', '2025-01-04']);

    // It continued as new at least once (4 children, 2 per run), and each run's history stayed small.
    const runs: number[] = [];
    for await (const wf of ctx.tw.client.workflow.list({ query: `WorkflowId = '${handle.workflowId}'` })) runs.push(wf.historyLength);
    expect(runs.length).toBeGreaterThanOrEqual(2);
    for (const len of runs) expect(len).toBeLessThan(200);

    // Largest first: the first run (2 children) started the unknown-size site and charlie; bravo and alpha later.
    const startedAt = async (site: string) => (await ctx.tw.client.workflow.getHandle(`backup/${site}/${date}`).describe()).startTime.getTime();
    expect(await startedAt(good[2])).toBeLessThan(await startedAt(good[1]));
    expect(await startedAt(good[2])).toBeLessThan(await startedAt(good[0]));

    const history = await ctx.tw.client.workflow.getHandle(handle.workflowId).fetchHistory();
    await Worker.runReplayHistory(replayOptions(), history, handle.workflowId);
  });
});

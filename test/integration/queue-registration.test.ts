/**
 * Per-queue registration with real production workers (workers/run-worker.ts createDroverWorker, the same code
 * as `drover worker backup`): the backup worker runs its own activity, fails a restore activity as not registered
 * on it, and cannot run a restore workflow; the restore worker has the restore activity. The unit test
 * test/unit/queue-registration.test.ts checks every queue's names against what its workflows call.
 */
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDroverWorker, SHUTDOWN_FORCE_AFTER_GRACE_MS } from '../../workers/run-worker';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { activityOnQueue } from '../fixtures/workflows/activity-on-queue';
import { ROOT } from '../helpers/paths';
import { connectTestServer, testEnv, testWorker, uniqueQueue } from '../helpers/temporal';

let tw: TestWorkflowEnvironment;
beforeAll(async () => {
  tw = await connectTestServer();
});
afterAll(() => tw?.teardown());

describe('a production worker registers only its own queue\'s workflows and activities', () => {
  it('the backup worker: its own activity runs; a restore activity fails as not registered; a restore workflow does not run', async () => {
    const backupQueue = uniqueQueue('backup-only');
    const restoreQueue = uniqueQueue('restore-only');
    const callerQueue = uniqueQueue('activity-on-queue');
    const backup = await createDroverWorker('backup', testEnv(), { taskQueue: backupQueue });
    const restore = await createDroverWorker('restore', testEnv(), { taskQueue: restoreQueue });
    const caller = await testWorker(tw, { taskQueue: callerQueue, worker: { workflowBundle: undefined, workflowsPath: path.join(__dirname, '..', 'fixtures', 'workflows', 'activity-on-queue.ts') } });
    const call = (name: string, taskQueue: string, input: unknown) =>
      tw.client.workflow.execute(activityOnQueue, { workflowId: `${callerQueue}/${name}/${taskQueue}`, taskQueue: callerQueue, args: [{ name, taskQueue, input }] });
    try {
      await backup.worker.runUntil(
        restore.worker.runUntil(
          caller.worker.runUntil(async () => {
            const point = { site: 'never-backed-up.example', date: '2026-11-30' };
            expect(await call('findRestorePoint', backupQueue, point)).toEqual({ ok: true, result: { complete: false } });
            expect(await call('readManifest', backupQueue, point)).toEqual({ ok: false, type: 'NotFoundError', message: expect.stringContaining('readManifest is not registered') });
            expect(await call('loadDatabaseIntoStaging', backupQueue, {})).toMatchObject({ ok: false, type: 'NotFoundError' });
            // The restore worker has it: it runs and fails on its own terms (no such restore point), not as unknown.
            const onRestore = await call('readManifest', restoreQueue, point);
            expect(onRestore.ok).toBe(false);
            expect(onRestore).not.toMatchObject({ type: 'NotFoundError' });

            // A restore workflow on the backup worker's queue: its workflow task fails (no such workflow type).
            const handle = await tw.client.workflow.start(restoreSiteWorkflow, { workflowId: `${backupQueue}/restore`, taskQueue: backupQueue, args: [{ site: point.site, point: point.date }] });
            try {
              let failure: string | undefined;
              for (let i = 0; i < 60 && !failure; i++) {
                const events = (await handle.fetchHistory()).events ?? [];
                // Failure messages are encoded (payload codec): read through the client's converter.
                const raw = events.find((e) => e.workflowTaskFailedEventAttributes)?.workflowTaskFailedEventAttributes?.failure;
                failure = (await decodeOptionalFailureToOptionalError(tw.client.options.loadedDataConverter, raw))?.message;
                if (!failure) await new Promise((r) => setTimeout(r, 500));
              }
              expect(failure).toMatch(/'restoreSiteWorkflow': no such function is exported/);
              expect((await handle.describe()).status.name).toBe('RUNNING');
            } finally {
              await handle.terminate('test: the backup worker cannot run it');
            }
          }),
        ),
      );
    } finally {
      await Promise.all([backup.close(), restore.close(), caller.close()]);
    }
  }, 180_000);

  it("a worker loads only its queue's modules: the backup worker no Redis or Docker client, the infra worker both", async () => {
    // The built worker's own modules (dist/workers/<queue>.js is run-worker.js and its queue's factory), in a fresh
    // node: what it has loaded once its activities are, counted from require's cache.
    const loaded = async (queue: string) => {
      const script = [
        `require(${JSON.stringify(path.join(ROOT, 'dist/workers/run-worker.js'))});`,
        `require(${JSON.stringify(path.join(ROOT, 'dist/activities/queues/index.js'))}).loadQueueActivities(${JSON.stringify(queue)}).then(() => {`,
        "  const of = (re) => Object.keys(require.cache).filter((k) => re.test(k)).length;",
        "  console.log(JSON.stringify({ redis: of(/node_modules\\/(redis|@redis\\/[^/]+)\\//), docker: of(/node_modules\\/dockerode\\//), s3: of(/node_modules\\/@aws-sdk\\/client-s3\\//) }));",
        '});',
      ].join('\n');
      const { stdout } = await promisify(execFile)(process.execPath, ['-e', script], { cwd: ROOT });
      return JSON.parse(stdout) as { redis: number; docker: number; s3: number };
    };
    const backup = await loaded('backup');
    expect(backup).toMatchObject({ redis: 0, docker: 0 });
    expect(backup.s3).toBeGreaterThan(0);
    const infra = await loaded('infra');
    expect(infra.redis).toBeGreaterThan(0);
    expect(infra.docker).toBeGreaterThan(0);
  }, 60_000);

  it('a stopping worker gives up on an activity that ignores its cancellation after the grace time, naming it', async () => {
    const queue = uniqueQueue('stubborn');
    const callerQueue = uniqueQueue('stubborn-caller');
    // A step that never looks at its cancellation (as a call with no timeout on a hung peer would).
    let release: () => void = () => undefined;
    const stubborn = () => new Promise<string>((r) => (release = () => r('finished')));
    const w = await createDroverWorker('infra', { ...testEnv(), DROVER_SHUTDOWN_GRACE_MS: 500 }, { taskQueue: queue, activities: { stubborn } });
    const caller = await testWorker(tw, { taskQueue: callerQueue, worker: { workflowBundle: undefined, workflowsPath: path.join(__dirname, '..', 'fixtures', 'workflows', 'activity-on-queue.ts') } });
    const callerRun = caller.worker.run();
    const running = w.worker.run();
    try {
      const call = tw.client.workflow.start(activityOnQueue, { workflowId: `${callerQueue}/stubborn`, taskQueue: callerQueue, args: [{ name: 'stubborn', taskQueue: queue, input: {} }] });
      for (let i = 0; i < 100 && !w.inFlight.list().length; i++) await new Promise((r) => setTimeout(r, 200));
      expect(w.inFlight.list()).toEqual([`stubborn (${callerQueue}/stubborn)`]);
      const t0 = Date.now();
      w.worker.shutdown();
      // Without a force time the worker waited on it for good: here it gives up 0.5 s + the margin after the signal.
      const outcome = await Promise.race([running.then(() => 'stopped', (e: Error) => e), new Promise((r) => setTimeout(() => r('still running'), 30_000))]);
      // The SDK's GracefulShutdownPeriodExpiredError, masked by the core's "Worker still in use" as it finalizes.
      expect(outcome).toBeInstanceOf(Error);
      expect(Date.now() - t0).toBeLessThan(500 + SHUTDOWN_FORCE_AFTER_GRACE_MS + 5_000);
      expect(w.inFlight.list()).toEqual([`stubborn (${callerQueue}/stubborn)`]);
      await (await call).terminate('test: its activity was abandoned');
    } finally {
      release();
      caller.worker.shutdown();
      await callerRun;
      await Promise.all([w.close(), caller.close()]);
    }
  }, 60_000);
});

/**
 * Remote commands heartbeat on a timer while they run (issue 11 item 1): a command several times longer than a
 * shortened heartbeat timeout completes in its first and only attempt, through a real worker and real sshd.
 */
import path from 'node:path';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectTestServer, testWorker, uniqueQueue } from '../helpers/temporal';
import { remoteCommandUnderShortHeartbeat, remoteCommandWithUncheckedTimeouts } from '../fixtures/workflows/short-heartbeat';
import { WorkflowFailedError } from '@temporalio/client';

let tw: TestWorkflowEnvironment;
beforeAll(async () => {
  tw = await connectTestServer();
});
afterAll(async () => {
  await tw?.teardown();
});

describe('remote commands under a short heartbeat timeout', () => {
  it('runRemoteCommand running `sleep 6` under a 2 s heartbeat timeout completes in one attempt', async () => {
    const taskQueue = uniqueQueue('remote-heartbeat');
    const { worker, close } = await testWorker(tw, { taskQueue, worker: { workflowBundle: undefined, workflowsPath: path.join(__dirname, '..', 'fixtures', 'workflows', 'short-heartbeat.ts') } });
    try {
      const handle = await tw.client.workflow.start(remoteCommandUnderShortHeartbeat, { workflowId: taskQueue, taskQueue, args: [{ command: 'sleep 6 && echo done' }] });
      const r = await worker.runUntil(handle.result());
      expect(r).toEqual({ code: 0, stdout: 'done\n' });
      const started = (await handle.fetchHistory()).events?.filter((e) => e.activityTaskStartedEventAttributes) ?? [];
      expect(started.map((e) => e.activityTaskStartedEventAttributes?.attempt)).toEqual([1]);
    } finally {
      await close();
    }
  });

  it('a workflow that hands bad step timeouts to an overridden proxy without checking them fails at once with InvalidInput (not a workflow task failing at every retry)', async () => {
    const taskQueue = uniqueQueue('unchecked-timeouts');
    const { worker, close } = await testWorker(tw, { taskQueue, worker: { workflowBundle: undefined, workflowsPath: path.join(__dirname, '..', 'fixtures', 'workflows', 'short-heartbeat.ts') } });
    try {
      const handle = await tw.client.workflow.start(remoteCommandWithUncheckedTimeouts, { workflowId: taskQueue, taskQueue, args: [{ command: 'true', timeouts: { heartbeat: 'soon' } }] });
      const outcome = await worker.runUntil(Promise.race([
        handle.result().then(() => 'completed', (err: unknown) => err),
        new Promise((res) => setTimeout(() => res('still running after 20 s'), 20_000)),
      ]));
      expect(outcome).toBeInstanceOf(WorkflowFailedError);
      const cause = (outcome as WorkflowFailedError).cause as { type?: string; message?: string };
      expect(cause.type).toBe('InvalidInput');
      expect(cause.message).toMatch(/^timeouts\.heartbeat: "soon" is not a duration/);
    } finally {
      await close();
    }
  });
});

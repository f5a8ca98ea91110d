/**
 * The waiting command's progress line names a retrying step's last failure in words, and what a running step
 * heartbeats (what it waits on). Both travel encoded (the payload codec encrypts them, the server sees "Encoded
 * failure" and ciphertext): the line decodes them with the client's converter. Here an activity's object store is
 * unreachable, so it retries with a connection error; and a remote command heartbeats its target while it runs.
 */
import { randomUUID } from 'node:crypto';
import path from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { currentStep, settledStep } from '../../client/worker-option';
import { smokeWorkflow } from '../../workflows/smoke';
import { remoteCommandAfterPause, remoteCommandInChild } from '../fixtures/workflows/short-heartbeat';
import { testWorker, uniqueQueue, useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('progress-line', (d) => ({ ...d, s3: new S3Client({ endpoint: 'http://127.0.0.1:9', region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'x', secretAccessKey: 'y' } }) }));

it("a retrying step's last failure is shown decoded, not as 'Encoded failure'", async () => {
  const id = `progress-line/${randomUUID()}`;
  const handle = await ctx.tw.client.workflow.start(smokeWorkflow, { taskQueue: ctx.taskQueue, workflowId: id, args: [{ label: 'progress' }] });
  try {
    let line = '';
    for (let i = 0; i < 60 && !/attempt [2-9]/.test(line); i++) {
      await new Promise((r) => setTimeout(r, 500));
      line = await currentStep(ctx.tw.client, id);
    }
    expect(line).toMatch(/roundTripObject \(attempt \d+, last failure: /);
    expect(line).not.toContain('Encoded failure');
    expect(line).toMatch(/ECONNREFUSED|connect/i);
  } finally {
    await handle.terminate('test done');
  }
});

it("a running step's latest heartbeat is shown decoded, in words, and a child's step through its parent", async () => {
  const taskQueue = uniqueQueue('progress-heartbeat');
  const { worker, close } = await testWorker(ctx.tw, { taskQueue, worker: { workflowBundle: undefined, workflowsPath: path.join(__dirname, '..', 'fixtures', 'workflows', 'short-heartbeat.ts') } });
  try {
    const handle = await ctx.tw.client.workflow.start(remoteCommandInChild, { workflowId: taskQueue, taskQueue, args: [{ command: 'sleep 4' }] });
    const lines: string[] = [];
    let child = '';
    await worker.runUntil(async () => {
      for (let i = 0; i < 30 && !/\[target: /.test(lines.at(-1) ?? ''); i++) {
        await new Promise((r) => setTimeout(r, 300));
        lines.push(await currentStep(ctx.tw.client, taskQueue));
      }
      child = await currentStep(ctx.tw.client, `${taskQueue}/child`);
      await handle.result();
    });
    // runRemoteCommand heartbeats { target } on its timer: the line says where the command runs, also the parent's.
    expect(child).toMatch(/^step runRemoteCommand \[target: root@[\d.]+:\d+\]$/);
    expect(lines.at(-1)).toBe(`1 child workflow(s) running: ${taskQueue}/child (${child})`);
  } finally {
    await close();
  }
});

it('a look that finds the workflow between two steps waits for the next one instead of showing a bare "running"', async () => {
  const taskQueue = uniqueQueue('progress-between');
  const { worker, close } = await testWorker(ctx.tw, { taskQueue, worker: { workflowBundle: undefined, workflowsPath: path.join(__dirname, '..', 'fixtures', 'workflows', 'short-heartbeat.ts') } });
  try {
    await worker.runUntil(async () => {
      const handle = await ctx.tw.client.workflow.start(remoteCommandAfterPause, { workflowId: taskQueue, taskQueue, args: [{ command: 'sleep 3', pauseMs: 400 }] });
      // Nothing pending during the pause: one look alone says only that it runs (the readme test's flake, once).
      expect(await currentStep(ctx.tw.client, taskQueue)).toBe('running');
      expect((await settledStep(ctx.tw.client, taskQueue)).line).toMatch(/^step runRemoteCommand/);
      await handle.result();
    });
  } finally {
    await close();
  }
});

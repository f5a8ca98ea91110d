/** The smoke workflow through the real Temporal server against real S3, Galera, sshd and dockerd. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { WorkflowFailedError, ActivityFailure, ApplicationFailure } from '@temporalio/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { smokeWorkflow } from '../../workflows/smoke';
import { connectTestServer, testWorker, uniqueQueue, replayOptions } from '../helpers/temporal';

let tw: TestWorkflowEnvironment;

beforeAll(async () => {
  tw = await connectTestServer();
});
afterAll(async () => {
  await tw?.teardown();
});

describe('smokeWorkflow', () => {
  it('proves every part of the environment and replays its own history', async () => {
    const taskQueue = uniqueQueue('smoke');
    const label = taskQueue;
    const { worker, deps, close } = await testWorker(tw, { taskQueue });
    try {
      const handle = await tw.client.workflow.start(smokeWorkflow, { workflowId: `smoke/${label}`, taskQueue, args: [{ label }] });
      const result = await worker.runUntil(handle.result());

      expect(result.s3.key).toBe(`smoke/${label}.txt`);
      expect(result.s3.bytes).toBe(Buffer.byteLength(`drover smoke ${label}`));
      // The round trip deletes its object: it must be gone from the real bucket.
      await expect(deps.s3.send(new HeadObjectCommand({ Bucket: deps.bucket, Key: result.s3.key }))).rejects.toMatchObject({ name: 'NotFound' });

      expect(result.galera.nodes.map((n) => n.node)).toEqual(['node1', 'node2', 'node3']);
      expect(result.galera.nodes.every((n) => n.state === 'Synced' && n.clusterSize === 3)).toBe(true);
      expect(result.galera.replication.readBack).toEqual([
        { node: 'node1', seen: true },
        { node: 'node2', seen: true },
        { node: 'node3', seen: true },
      ]);

      expect(result.ssh.code).toBe(0);
      expect(result.ssh.stdout).toMatch(/^Linux \S+\nroot\n$/);
      expect(result.docker.serverVersion).toMatch(/^\d+\.\d+/);
      expect(result.docker.swarmState).toMatch(/inactive|active|pending/);

      const history = await handle.fetchHistory();
      await Worker.runReplayHistory(replayOptions(), history, handle.workflowId);
    } finally {
      await close();
    }
  });

  it('surfaces a permanent failure as ApplicationFailure type SshAuthFailed, without retrying', async () => {
    const taskQueue = uniqueQueue('smoke-badkey');
    const wrongKey = readFileSync(path.join(__dirname, '..', 'fixtures', 'unauthorized_ed25519'));
    const { worker, close } = await testWorker(tw, {
      taskQueue,
      deps: (d) => ({ ...d, ssh: { ...d.ssh, options: { ...d.ssh.options, privateKey: wrongKey } } }),
    });
    try {
      const err = await worker
        .runUntil(tw.client.workflow.execute(smokeWorkflow, { workflowId: `smoke/${taskQueue}`, taskQueue, args: [{ label: taskQueue }] }))
        .then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(WorkflowFailedError);
      const activityFailure = (err as WorkflowFailedError).cause;
      expect(activityFailure).toBeInstanceOf(ActivityFailure);
      expect((activityFailure as ActivityFailure).activityType).toBe('runRemoteCommand');
      const app = (activityFailure as ActivityFailure).cause;
      expect(app).toBeInstanceOf(ApplicationFailure);
      expect((app as ApplicationFailure).type).toBe('SshAuthFailed');
      expect((app as ApplicationFailure).nonRetryable).toBe(true);
    } finally {
      await close();
    }
  });

  it('rejects a host key that does not match the pinned one (SshHostKeyMismatch)', async () => {
    const taskQueue = uniqueQueue('smoke-hostkey');
    const { worker, close } = await testWorker(tw, {
      taskQueue,
      deps: (d) => ({ ...d, ssh: { ...d.ssh, options: { ...d.ssh.options, pinnedHostKeys: ['SHA256:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA'] } } }),
    });
    try {
      const err = (await worker
        .runUntil(tw.client.workflow.execute(smokeWorkflow, { workflowId: `smoke/${taskQueue}`, taskQueue, args: [{ label: taskQueue }] }))
        .then(() => null, (e: unknown) => e)) as WorkflowFailedError;
      expect(((err.cause as ActivityFailure).cause as ApplicationFailure).type).toBe('SshHostKeyMismatch');
    } finally {
      await close();
    }
  });
});

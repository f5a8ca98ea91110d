/**
 * The history secret check (test/helpers/history-secrets.ts) on a real history: secrets planted in a workflow's
 * input (a payload, stored as JSON bytes) and in a termination reason (plain text) are found, each in its event;
 * a history without them comes out clean; a secret that only a child workflow's history holds is found by the
 * tree walk (secretsInWorkflowTree), which the bring-up tests use. Shown on histories written without the payload
 * codec (a plain client and worker): what the check would catch were encryption ever off. Encrypted histories
 * hide payloads from it altogether (payload-encryption.test.ts).
 */
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Client } from '@temporalio/client';
import { smokeWorkflow } from '../../workflows/smoke';
import { parentOfSecretChild } from '../fixtures/workflows/child-secret';
import { secretsInHistory, secretsInWorkflowTree } from '../helpers/history-secrets';
import { connectTestServer, testWorker, uniqueQueue } from '../helpers/temporal';

let tw: TestWorkflowEnvironment;
/** Writes plain payloads: no codec. */
let plain: Client;
beforeAll(async () => {
  tw = await connectTestServer();
  plain = new Client({ connection: tw.client.connection });
});
afterAll(() => tw?.teardown());

describe('secretsInHistory', () => {
  it('finds secrets planted in a real history: in a payload and in plain text, with their events', async () => {
    const token = 'SWMTKN-1-3pu6hszjas19xyp7ghgosyx9k8atbfcr8p2is99znpy26u2lkl-ßecret-ünïcode';
    const pem = '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----\n';
    const reason = 'db-password-Zq7!"quoted"';
    // No worker polls this queue: the workflow just records its input, then is terminated.
    const taskQueue = uniqueQueue('history-secrets');
    const handle = await plain.workflow.start(smokeWorkflow, { workflowId: taskQueue, taskQueue, args: [{ label: `${token} ${pem}` }] });
    await handle.terminate(`operator note: ${reason}`);
    const history = await handle.fetchHistory();

    expect(
      secretsInHistory(history, [
        { name: 'join token', value: token },
        { name: 'host private key', value: /PRIVATE KEY/ },
        { name: 'private key body', value: pem },
        { name: 'password', value: reason },
        { name: 'absent', value: 'never-planted' },
      ]),
    ).toEqual([
      'join token in event 1 (WorkflowExecutionStarted)',
      'host private key in event 1 (WorkflowExecutionStarted)',
      'private key body in event 1 (WorkflowExecutionStarted)',
      'password in event 3 (WorkflowExecutionTerminated)',
    ]);
    expect(secretsInHistory(history, [{ name: 'absent', value: 'never-planted' }])).toEqual([]);
  });

  it('finds a secret that sits only in a child workflow\'s history, naming that child', async () => {
    const taskQueue = uniqueQueue('history-secrets-child');
    const { worker, close } = await testWorker(tw, { taskQueue, worker: { workflowBundle: undefined, workflowsPath: path.join(__dirname, '..', 'fixtures', 'workflows', 'child-secret.ts'), dataConverter: {} } });
    try {
      const handle = await plain.workflow.start(parentOfSecretChild, { workflowId: taskQueue, taskQueue, args: [{ head: taskQueue, tail: '-pässword-tail' }] });
      await worker.runUntil(handle.result());
      const secret = { name: 'joined secret', value: `${taskQueue}-pässword-tail` };
      expect(secretsInHistory(await handle.fetchHistory(), [secret])).toEqual([]);
      expect(await secretsInWorkflowTree(plain.workflow, handle.workflowId, [secret])).toEqual([`joined secret in event 5 (ActivityTaskScheduled) of ${taskQueue}-child`]);
    } finally {
      await close();
    }
  });
});

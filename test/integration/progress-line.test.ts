/**
 * The waiting command's progress line names a retrying step's last failure in words. Failure messages travel
 * encoded (the payload codec encrypts them, the server sees "Encoded failure"): the line decodes them with the
 * client's converter. Here an activity's object store is unreachable, so it retries with a connection error.
 */
import { randomUUID } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { expect, it } from 'vitest';
import { currentStep } from '../../client/worker-option';
import { smokeWorkflow } from '../../workflows/smoke';
import { useRunningWorker } from '../helpers/temporal';

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

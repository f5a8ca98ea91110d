/** Prebuilds the workflow bundles for production workers (`npm run build` writes dist/workflow-bundle.<queue>.js). */
import { statSync, writeFileSync } from 'node:fs';
import { bundleWorkflowCode, DefaultLogger } from '@temporalio/worker';
import { bundlePath, workflowsEntry } from './workflows-entry';
import { TASK_QUEUES, type TaskQueueName } from '../lib/contract/ids';
import { failureConverterPath } from '../lib/data-converter';
import { AUDIT_INTERCEPTORS_MODULE } from './audit-sink';
import { exitWhenFlushed } from '../lib/exit';

/**
 * Bundles the workflows and writes them to `out`: a queue's own (what its production workers load: only that
 * queue's workflows are registered), or with no queue every workflow (the tests' workers). Drover's failure
 * converter is inside (workflow failures are converted in the sandbox, so their messages are encoded there), and
 * so are the audit interceptors (workflows/lib/audit.ts).
 */
export async function buildWorkflowBundle(out: string, queue?: TaskQueueName): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsEntry(queue), failureConverterPath: failureConverterPath(), workflowInterceptorModules: [AUDIT_INTERCEPTORS_MODULE], logger: new DefaultLogger('WARN') });
  writeFileSync(out, code);
  return out;
}

async function build(): Promise<void> {
  for (const queue of Object.keys(TASK_QUEUES) as TaskQueueName[]) {
    const out = await buildWorkflowBundle(bundlePath(queue), queue);
    console.log(`workflow bundle of ${TASK_QUEUES[queue]} written to ${out} (${statSync(out).size} bytes)`);
  }
}

if (require.main === module) {
  build().catch((err) => {
    console.error(err);
    void exitWhenFlushed(1);
  });
}

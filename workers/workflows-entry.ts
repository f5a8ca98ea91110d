import { existsSync } from 'node:fs';
import path from 'node:path';
import type { TaskQueueName } from '../lib/contract/ids';

/**
 * A workflowsPath: with a queue, that queue's entry (workflows/queues/<queue>, only its workflows are registered);
 * without, workflows/index (every workflow: the tests' workers on their own queues). The .ts source when running
 * from sources (tests), the compiled .js when built.
 */
export function workflowsEntry(queue?: TaskQueueName): string {
  const dir = path.resolve(__dirname, '..', 'workflows');
  const base = queue ? path.join(dir, 'queues', queue) : path.join(dir, 'index');
  return existsSync(`${base}.ts`) ? `${base}.ts` : `${base}.js`;
}

/** The prebuilt bundle of a queue's workflows (`npm run build` writes dist/workflow-bundle.<queue>.js). */
export function bundlePath(queue: TaskQueueName): string {
  return path.resolve(__dirname, '..', `workflow-bundle.${queue}.js`);
}

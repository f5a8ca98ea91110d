/**
 * A command's workflow run to its result: on the queue named (its task queue from TASK_QUEUES), started, or attached
 * to when a run of the same ID is going (the same request twice at once is one run), once a worker polls the queue
 * (waitOnWorker: this process's own with `worker`, else one polling, or NoWorkerError naming the worker to start).
 * Used by the commands that only run their workflow to its result (up, down, provision, scale, status, site add,
 * smoke, migrate check, backup prune, the demo's steps), each stating its search attributes (null: none, for a
 * workflow that concerns no site, farm or wave, such as the smoke test). The commands that may also start without
 * waiting, or read a failed run's details (backup run, restore site and drill, migrate site) call startOrAttach and
 * waitOnWorker themselves.
 */
import type { Client, WorkflowStartOptions } from '@temporalio/client';
import type { SearchAttributePair, Workflow, WorkflowResultType } from '@temporalio/common';
import { TASK_QUEUES, type TaskQueueName } from '../lib/contract/ids';
import { startOrAttach } from './temporal';
import { waitOnWorker } from './worker-option';

export interface RunWorkflowOptions<W extends Workflow> {
  stateDir: string;
  queue: TaskQueueName;
  /** Run a worker for the queue in this process meanwhile (`--worker`). */
  worker: boolean;
  /** No progress lines (a worker run around another wait that prints them already). */
  quiet?: boolean;
  workflow: W;
  workflowId: string;
  searchAttributes: SearchAttributePair[] | null;
  args: Parameters<W>;
  /** A bound on the whole run (read-only workflows whose caller may be gone: health, smoke). */
  executionTimeoutMs?: number;
}

export async function runWorkflow<W extends Workflow>(client: Client, o: RunWorkflowOptions<W>): Promise<WorkflowResultType<W>> {
  const start = {
    workflowId: o.workflowId,
    taskQueue: TASK_QUEUES[o.queue],
    args: o.args,
    ...(o.searchAttributes ? { typedSearchAttributes: o.searchAttributes } : {}),
    ...(o.executionTimeoutMs ? { workflowExecutionTimeout: o.executionTimeoutMs } : {}),
  } as unknown as WorkflowStartOptions<W>;
  return waitOnWorker(client, { stateDir: o.stateDir, queue: o.queue, worker: o.worker, workflowId: o.workflowId, ...(o.quiet ? { quiet: true } : {}) }, async () =>
    (await startOrAttach(client, o.workflow, start)).handle.result(),
  );
}

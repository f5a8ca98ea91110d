/** `drover worker <queue>`: runs one worker in the foreground (the same code as workers/<queue>.ts). */
import { Command } from 'commander';
import { mergedEnv, parseEnv, workerEnvSchema } from '../../lib/env';
import { TASK_QUEUES, type TaskQueueName } from '../../lib/contract/ids';
import { action, globals, UsageError } from '../output';

export function workerCommand(): Command {
  return new Command('worker')
    .description(`run a worker in the foreground (queues: ${Object.keys(TASK_QUEUES).join(', ')}); stops cleanly on SIGINT/SIGTERM`)
    .argument('<queue>', 'task queue: infra, backup, restore or migrate')
    .action(
      action(async (_opts, cmd, [queue]) => {
        const g = globals(cmd);
        if (!(queue in TASK_QUEUES)) throw new UsageError('queue', `unknown queue "${queue}" (known: ${Object.keys(TASK_QUEUES).join(', ')})`);
        const { runWorker } = await import('../../workers/run-worker');
        await runWorker(queue as TaskQueueName, parseEnv(workerEnvSchema, mergedEnv(g.stateDir)));
        return { ok: true, data: { queue: TASK_QUEUES[queue as TaskQueueName], stopped: true }, text: 'worker stopped' };
      }),
    );
}

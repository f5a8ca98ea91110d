/**
 * One queue's activity factory, loaded on its own: a worker imports only the modules its queue's activities use
 * (the backup worker loads no Redis or Docker client: its idle process 9 to 14 MiB smaller). The
 * factories are activities/queues/<queue>.ts; activities/index.ts gathers all four for tests and workflow types.
 */
import type { ActivityDeps } from '../../lib/clients/deps';
import type { TaskQueueName } from '../../lib/contract/ids';

export async function loadQueueActivities(queue: TaskQueueName): Promise<(deps: ActivityDeps) => object> {
  switch (queue) {
    case 'infra':
      return (await import('./infra')).createInfraActivities;
    case 'backup':
      return (await import('./backup')).createBackupActivities;
    case 'restore':
      return (await import('./restore')).createRestoreActivities;
    case 'migrate':
      return (await import('./migrate')).createMigrateActivities;
  }
}

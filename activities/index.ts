/**
 * Drover's activities, built from their dependencies (one factory per outside system), and registered per task
 * queue: each worker gets only what its queue's workflows call, so a worker can run only its queue's work (a
 * second wall beside the environment that withholds the private key from all but restore workers). Each queue's
 * factory is its own file (activities/queues/): a production worker loads only its own (loadQueueActivities).
 */
import type { ActivityDeps } from '../lib/clients/deps';
import type { TaskQueueName } from '../lib/contract/ids';
import { createInfraActivities } from './queues/infra';
import { createBackupActivities } from './queues/backup';
import { createRestoreActivities } from './queues/restore';
import { createMigrateActivities } from './queues/migrate';

export { createInfraActivities, createBackupActivities, createRestoreActivities, createMigrateActivities };
export { loadQueueActivities } from './queues';

/** Each queue's activities: what a production worker of that queue registers. */
export const QUEUE_ACTIVITIES = { infra: createInfraActivities, backup: createBackupActivities, restore: createRestoreActivities, migrate: createMigrateActivities } satisfies Record<TaskQueueName, (deps: ActivityDeps) => object>;

/** Every activity of every queue: the type workflows proxy, and what test workers on their own queues register. */
export function createActivities(deps: ActivityDeps) {
  return { ...createInfraActivities(deps), ...createBackupActivities(deps), ...createRestoreActivities(deps), ...createMigrateActivities(deps) };
}

export type Activities = ReturnType<typeof createActivities>;
export { createActivityDeps, closeActivityDeps, type ActivityDeps } from '../lib/clients/deps';

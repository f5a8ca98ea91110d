/**
 * Runs one Drover worker: environment parsed once (missing variables named), Prometheus metrics from the SDK
 * runtime, the prebuilt workflow bundle when there is one (production) or the workflow sources (development),
 * and a graceful shutdown on SIGINT/SIGTERM that lets running activities finish within the grace time.
 */
import '../lib/node-notices';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { createActivities, createActivityDeps, closeActivityDeps, type ActivityDeps } from '../activities';
import { serveBackupMetrics } from './backup-metrics';
import { EnvError, parseEnv, workerEnvSchema, type WorkerEnv } from '../lib/env';
import { connectionSettings } from '../lib/temporal-connection';
import { TASK_QUEUES, type TaskQueueName } from '../workflows/lib/ids';
import { workflowsEntry } from './workflows-entry';

/** Per-queue tuning: backups are I/O-heavy and run wider; infra steps are few and long. */
const QUEUE_TUNING: Record<TaskQueueName, Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions'>> = {
  infra: { maxConcurrentActivityTaskExecutions: 64, maxConcurrentWorkflowTaskExecutions: 40 },
  backup: { maxConcurrentActivityTaskExecutions: 32, maxConcurrentWorkflowTaskExecutions: 40 },
  // A restore streams gigabytes through age and zstd; a few at a time keep a farm recovery inside the box's CPUs.
  restore: { maxConcurrentActivityTaskExecutions: 16, maxConcurrentWorkflowTaskExecutions: 40 },
};

/**
 * The private key goes to restore workers only: they refuse to start without it, and every other queue's worker
 * drops it even when the environment carries it (the local environment writes one env file for all).
 */
export function envForQueue(queue: TaskQueueName, env: WorkerEnv): WorkerEnv {
  if (queue === 'restore') {
    if (!env.DROVER_BACKUP_AGE_IDENTITY_FILE) throw new EnvError([{ field: 'DROVER_BACKUP_AGE_IDENTITY_FILE', message: 'is not set (restore workers decrypt backups with it)' }]);
    return env;
  }
  return Object.freeze({ ...env, DROVER_BACKUP_AGE_IDENTITY_FILE: undefined });
}

export const BUNDLE_PATH = path.resolve(__dirname, '..', 'workflow-bundle.js');

/** The prebuilt bundle (dist/workflow-bundle.js) if present, else bundle the sources at start-up. */
export function workflowSource(): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath'> {
  if (existsSync(BUNDLE_PATH)) return { workflowBundle: { codePath: BUNDLE_PATH } };
  return { workflowsPath: workflowsEntry() };
}

export async function runWorker(queue: TaskQueueName, env: WorkerEnv = parseEnv(workerEnvSchema)): Promise<void> {
  Runtime.install({
    logger: new DefaultLogger('INFO'),
    telemetryOptions: { metrics: { prometheus: { bindAddress: `${env.DROVER_METRICS_HOST}:${env.DROVER_METRICS_PORT}` } } },
    shutdownSignals: ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR2'],
  });
  const { worker, deps, close } = await createDroverWorker(queue, env);
  // Backup workers also serve per-site backup metrics (read from the backup record, not from memory).
  const backupMetrics = queue === 'backup' ? await serveBackupMetrics(deps.galera, env.DROVER_METRICS_HOST, env.DROVER_BACKUP_METRICS_PORT) : null;
  try {
    Runtime.instance().logger.info(`worker for ${TASK_QUEUES[queue]} running; SDK metrics on http://${env.DROVER_METRICS_HOST}:${env.DROVER_METRICS_PORT}/metrics`);
    await worker.run();
  } finally {
    backupMetrics?.close();
    await close();
  }
}

/** For workers embedded in a CLI command: only warnings from the SDK, so the command's own output stays readable. */
export function installQuietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    /* a runtime is already installed in this process */
  }
}

/** A worker for one queue with its own connection and activity dependencies; `close` releases both. */
export async function createDroverWorker(
  queue: TaskQueueName,
  env: WorkerEnv,
  overrides: Partial<WorkerOptions> = {},
): Promise<{ worker: Worker; deps: ActivityDeps; close: () => Promise<void> }> {
  env = envForQueue(queue, env);
  const s = connectionSettings(env);
  const connection = await NativeConnection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey });
  const deps = createActivityDeps(env);
  const worker = await Worker.create({
    connection,
    namespace: s.namespace,
    taskQueue: TASK_QUEUES[queue],
    ...workflowSource(),
    activities: createActivities(deps),
    shutdownGraceTime: env.DROVER_SHUTDOWN_GRACE_MS,
    ...QUEUE_TUNING[queue],
    ...overrides,
  });
  return {
    worker,
    deps,
    close: async () => {
      await connection.close();
      await closeActivityDeps(deps);
    },
  };
}

/** Entry-point helper: exits 2 on a bad environment (naming the variables), 1 on any other failure. */
export function main(queue: TaskQueueName): void {
  runWorker(queue).then(
    () => process.exit(0),
    (err: Error) => {
      console.error(`drover worker ${queue}: ${err.message}`);
      process.exit(err.name === 'EnvError' ? 2 : 1);
    },
  );
}

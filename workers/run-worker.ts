/**
 * Runs one Drover worker: environment parsed once (missing variables named), Prometheus metrics from the SDK
 * runtime, the prebuilt workflow bundle when there is one (production) or the workflow sources (development),
 * and a graceful shutdown on SIGINT/SIGTERM that lets running activities finish within the grace time.
 */
import '../lib/node-notices';
import { existsSync } from 'node:fs';
import { DefaultLogger, GracefulShutdownPeriodExpiredError, makeTelemetryFilterString, NativeConnection, Runtime, Worker, type WorkerOptions } from '@temporalio/worker';
import { loadQueueActivities } from '../activities/queues';
import { removeStaleWorkerFolders } from '../activities/lib/worker-folders';
import { createActivityDeps, closeActivityDeps, type ActivityDeps } from '../lib/clients/deps';
import { serveBackupMetrics } from './backup-metrics';
import { EnvError, parseEnv, workerEnvSchema, type WorkerEnv } from '../lib/env';
import { connectionSettings } from '../lib/temporal-connection';
import { droverDataConverter } from '../lib/data-converter';
import { AUDIT_INTERCEPTORS_MODULE, auditSinks } from './audit-sink';
import { TASK_QUEUES, type TaskQueueName } from '../lib/contract/ids';
import { bundlePath, workflowsEntry } from './workflows-entry';
import { trackInFlightActivities } from './in-flight-activities';
import { exitWhenFlushed, ignoreClosedPipes } from '../lib/exit';

/** Per-queue tuning: backups are I/O-heavy and run wider; infra steps are few and long. */
const QUEUE_TUNING: Record<TaskQueueName, Pick<WorkerOptions, 'maxConcurrentActivityTaskExecutions' | 'maxConcurrentWorkflowTaskExecutions'>> = {
  infra: { maxConcurrentActivityTaskExecutions: 64, maxConcurrentWorkflowTaskExecutions: 40 },
  backup: { maxConcurrentActivityTaskExecutions: 32, maxConcurrentWorkflowTaskExecutions: 40 },
  // A restore streams gigabytes through age and zstd; a few at a time keep a farm recovery inside the box's CPUs.
  restore: { maxConcurrentActivityTaskExecutions: 16, maxConcurrentWorkflowTaskExecutions: 40 },
  // A migration copies a site's files and streams its dump from an old host: bounded like restores.
  migrate: { maxConcurrentActivityTaskExecutions: 16, maxConcurrentWorkflowTaskExecutions: 40 },
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

/**
 * How long after the grace time a stopping worker still waits for activities that ignore their cancellation before
 * it gives up on them and exits 1, naming them (their attempts then time out on the server and are retried).
 */
export const SHUTDOWN_FORCE_AFTER_GRACE_MS = 5_000;

/** Each queue's default SDK metrics port: distinct, so the three workers share a host (9465: backup metrics). */
export const DEFAULT_METRICS_PORTS: Record<TaskQueueName, number> = { infra: 9464, backup: 9466, restore: 9467, migrate: 9468 };

/**
 * The worker's SDK metrics port: DROVER_METRICS_PORT when set (this process's port, as in a container per
 * worker), else the queue's own variable (what the local environment writes), else the queue's default.
 */
export function metricsPort(queue: TaskQueueName, env: WorkerEnv): number {
  const own = { infra: env.DROVER_METRICS_PORT_INFRA, backup: env.DROVER_METRICS_PORT_BACKUP, restore: env.DROVER_METRICS_PORT_RESTORE, migrate: env.DROVER_METRICS_PORT_MIGRATE }[queue];
  return env.DROVER_METRICS_PORT ?? own ?? DEFAULT_METRICS_PORTS[queue];
}

/**
 * The queue's prebuilt bundle (dist/workflow-bundle.<queue>.js) if present, else its entry's sources bundled at
 * start-up (with the audit interceptors). Either way only the queue's own workflows are registered
 * (workflows/queues/<queue>).
 */
export function workflowSource(queue: TaskQueueName): Pick<WorkerOptions, 'workflowBundle' | 'workflowsPath' | 'interceptors'> {
  if (existsSync(bundlePath(queue))) return { workflowBundle: { codePath: bundlePath(queue) } };
  return { workflowsPath: workflowsEntry(queue), interceptors: { workflowModules: [AUDIT_INTERCEPTORS_MODULE] } };
}

/**
 * The SDK core's own log lines go through the logger (stderr), filtered at WARN. Left to the core they are written
 * to stdout, where they broke a `--worker --json` command's JSON (a late activity's "Activity not found on
 * completion" warning ahead of the document).
 */
const CORE_LOGS_TO_LOGGER = { forward: {}, filter: makeTelemetryFilterString({ core: 'WARN', other: 'ERROR' }) };

export async function runWorker(queue: TaskQueueName, env: WorkerEnv = parseEnv(workerEnvSchema)): Promise<void> {
  const port = metricsPort(queue, env);
  Runtime.install({
    logger: new DefaultLogger('INFO'),
    telemetryOptions: { logging: CORE_LOGS_TO_LOGGER, metrics: { prometheus: { bindAddress: `${env.DROVER_METRICS_HOST}:${port}` } } },
    shutdownSignals: ['SIGINT', 'SIGTERM', 'SIGQUIT', 'SIGUSR2'],
  });
  const { worker, deps, close, inFlight } = await createDroverWorker(queue, env);
  // Backup workers also serve per-site backup metrics (read from the backup record, not from memory).
  const backupMetrics = queue === 'backup' ? await serveBackupMetrics(deps.galera, env.DROVER_METRICS_HOST, env.DROVER_BACKUP_METRICS_PORT) : null;
  try {
    Runtime.instance().logger.info(`worker for ${TASK_QUEUES[queue]} running; SDK metrics on http://${env.DROVER_METRICS_HOST}:${port}/metrics`);
    await worker.run();
  } catch (err) {
    // Past the force time the SDK gives up on them (its GracefulShutdownPeriodExpiredError, or the core's "Worker
    // still in use" once it finalizes): name what was abandoned.
    const left = inFlight.list();
    if (!left.length || !(err instanceof GracefulShutdownPeriodExpiredError || (err as Error).name === 'IllegalStateError')) throw err;
    const waited = (env.DROVER_SHUTDOWN_GRACE_MS + SHUTDOWN_FORCE_AFTER_GRACE_MS) / 1000;
    throw new Error(`stopped without ${left.length} activit${left.length === 1 ? 'y' : 'ies'} still running ${waited} s after the signal (cancelled, not stopping; the server retries them): ${left.join(', ')} (${(err as Error).message})`);
  } finally {
    backupMetrics?.close();
    // An abandoned activity may hold a pooled connection: the close is bounded, the process exits anyway.
    await Promise.race([close(), new Promise((r) => setTimeout(r, 5_000).unref())]);
  }
}

/**
 * For workers embedded in a CLI command: only errors from the SDK, so the command's own output stays readable (a
 * failed workflow is reported by the command itself, with its cause chain, not as the SDK's warning and stack).
 */
export function installQuietRuntime(): void {
  try {
    Runtime.install({ logger: new DefaultLogger('ERROR'), telemetryOptions: { logging: CORE_LOGS_TO_LOGGER } });
  } catch {
    /* a runtime is already installed in this process */
  }
}

/**
 * A worker for one queue with its own connection and activity dependencies; `close` releases both. It registers
 * only that queue's workflows and activities (activities/queues/), and loads only their modules, so it can run
 * nothing of another queue.
 */
export async function createDroverWorker(
  queue: TaskQueueName,
  env: WorkerEnv,
  overrides: Partial<WorkerOptions> = {},
): Promise<{ worker: Worker; deps: ActivityDeps; close: () => Promise<void>; inFlight: ReturnType<typeof trackInFlightActivities> }> {
  env = envForQueue(queue, env);
  // Keys first: a worker without them refuses to start (EnvError naming the variable) before connecting.
  const dataConverter = droverDataConverter(env);
  const s = connectionSettings(env);
  const connection = await NativeConnection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey });
  const activities = await loadQueueActivities(queue);
  const deps = createActivityDeps(env);
  // What a worker of this host killed mid-step kept on this disk (nothing else would ever remove it): a restore's
  // spool, a MariaDB client's options file with the database password.
  removeStaleWorkerFolders();
  const inFlight = trackInFlightActivities();
  const source = workflowSource(queue);
  const worker = await Worker.create({
    connection,
    namespace: s.namespace,
    taskQueue: TASK_QUEUES[queue],
    ...source,
    interceptors: { ...source.interceptors, activity: [inFlight.interceptor] },
    dataConverter,
    sinks: auditSinks(deps.galera),
    activities: activities(deps),
    shutdownGraceTime: env.DROVER_SHUTDOWN_GRACE_MS,
    // Bounded: an activity that ignores its cancellation cannot keep a stopping worker (and its pollers) alive.
    shutdownForceTime: env.DROVER_SHUTDOWN_GRACE_MS + SHUTDOWN_FORCE_AFTER_GRACE_MS,
    stickyQueueScheduleToStartTimeout: env.DROVER_STICKY_TIMEOUT_MS,
    ...QUEUE_TUNING[queue],
    ...overrides,
  });
  return {
    worker,
    deps,
    inFlight,
    close: async () => {
      await connection.close();
      await closeActivityDeps(deps);
    },
  };
}

/** Entry-point helper: exits 2 on a bad environment (naming the variables), 1 on any other failure. */
export function main(queue: TaskQueueName): void {
  ignoreClosedPipes();
  runWorker(queue).then(
    () => exitWhenFlushed(0),
    (err: Error) => {
      process.stderr.write(`drover worker ${queue}: ${err.message}\n`);
      return exitWhenFlushed(err.name === 'EnvError' ? 2 : 1);
    },
  );
}

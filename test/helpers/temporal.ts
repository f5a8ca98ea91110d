/**
 * Per-test Temporal helpers: the run's one real server (createFromExistingServer), and a fresh Worker on a
 * unique task queue for each test, loading the prebuilt workflow bundle. Clients, workers and replays all use
 * Drover's data converter (payloads encrypted with the test environment's codec key), as production does.
 */
import { randomUUID } from 'node:crypto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import type { DataConverter } from '@temporalio/common';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { DefaultLogger, Runtime, Worker, type ReplayWorkerOptions, type WorkerOptions } from '@temporalio/worker';
import { afterAll, beforeAll } from 'vitest';
import { msToTs } from '@temporalio/common/lib/time';
import { temporal } from '@temporalio/proto';
import { DROVER_SEARCH_ATTRIBUTES } from '../../lib/contract/search-attributes';
import { createActivities, createActivityDeps, closeActivityDeps, type ActivityDeps } from '../../activities';
import { mergedEnv, parseEnv, workerEnvSchema, type WorkerEnv } from '../../lib/env';
import { droverDataConverter } from '../../lib/data-converter';
import { auditSinks } from '../../workers/audit-sink';
import { TEST_BUNDLE, TEST_STATE_DIR } from './paths';

let runtimeInstalled = false;

export function testEnv(): WorkerEnv {
  return parseEnv(workerEnvSchema, mergedEnv(TEST_STATE_DIR));
}

/** The data converter production uses, with the test environment's codec keys. */
export function testDataConverter(): DataConverter {
  return droverDataConverter(testEnv());
}

/** Options for Worker.runReplayHistory: the test bundle, and the codec to read the recorded payloads. */
export function replayOptions(): ReplayWorkerOptions {
  return { workflowBundle: { codePath: TEST_BUNDLE }, dataConverter: testDataConverter() };
}

export async function connectTestServer(): Promise<TestWorkflowEnvironment> {
  if (!runtimeInstalled) {
    Runtime.install({ logger: new DefaultLogger('WARN') });
    runtimeInstalled = true;
  }
  const env = testEnv();
  return TestWorkflowEnvironment.createFromExistingServer({ address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE, client: { dataConverter: droverDataConverter(env) } });
}

/**
 * Deletes a run (what the namespace's retention does later) and waits until it is gone: the server deletes
 * asynchronously, and on a loaded 2-core machine the dev server took more than 30 s once (a full suite run), so
 * up to 2 minutes (tests that call it allow for that in their timeout). Throws when the run is still there, so a
 * test never goes on against a run it thinks gone.
 */
export async function deleteExecution(client: Client, workflowId: string, runId?: string): Promise<void> {
  await client.workflowService.deleteWorkflowExecution({ namespace: client.options.namespace, workflowExecution: { workflowId, ...(runId ? { runId } : {}) } });
  // Only "not found" is gone: another error (the server busy, a deadline) is asked again, never taken for gone.
  const exists = () =>
    client.workflow
      .getHandle(workflowId, runId)
      .describe()
      .then(
        () => true,
        (err: unknown) => !(err instanceof WorkflowNotFoundError),
      );
  const deadline = Date.now() + 120_000;
  while (await exists()) {
    if (Date.now() > deadline) throw new Error(`workflow ${workflowId} still there 2 minutes after it was deleted`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

export function uniqueQueue(prefix = 'test'): string {
  return `${prefix}-${randomUUID()}`;
}

/** A worker with the real activities (or ones built from tweaked deps) on its own task queue. */
export async function testWorker(
  tw: TestWorkflowEnvironment,
  opts: { taskQueue: string; deps?: (d: ActivityDeps) => ActivityDeps; worker?: Partial<WorkerOptions> },
): Promise<{ worker: Worker; deps: ActivityDeps; close: () => Promise<void> }> {
  const base = createActivityDeps(testEnv());
  const deps = opts.deps ? opts.deps(base) : base;
  const worker = await Worker.create({
    connection: tw.nativeConnection,
    namespace: tw.namespace ?? 'default',
    taskQueue: opts.taskQueue,
    workflowBundle: { codePath: TEST_BUNDLE },
    dataConverter: testDataConverter(),
    sinks: auditSinks(deps.galera),
    activities: createActivities(deps),
    // Tests shorten heartbeat timeouts to 2–3 s; the SDK sends heartbeats at most every 0.8 × the timeout, which
    // leaves a loaded machine 0.4 s of margin. Every 0.5 s leaves it 1.5 s (production timeouts are 30 s and more).
    maxHeartbeatThrottleInterval: '500ms',
    ...opts.worker,
  });
  return { worker, deps, close: () => closeActivityDeps(deps) };
}

/**
 * For a test file whose tests share one worker: connects to the server and runs a worker on a unique queue
 * for the whole file (beforeAll/afterAll). Read the fields inside tests, after the hooks have run. `tweak` adjusts
 * the activities' dependencies; it runs inside beforeAll, after hooks registered before this call.
 */
export function useRunningWorker(prefix: string, tweak?: (d: ActivityDeps) => ActivityDeps): { tw: TestWorkflowEnvironment; deps: ActivityDeps; taskQueue: string } {
  const ctx = { taskQueue: uniqueQueue(prefix) } as { tw: TestWorkflowEnvironment; deps: ActivityDeps; taskQueue: string };
  let worker: Worker | undefined;
  let running: Promise<void> | undefined;
  let close: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ctx.tw = await connectTestServer();
    ({ worker, deps: ctx.deps, close } = await testWorker(ctx.tw, { taskQueue: ctx.taskQueue, deps: tweak }));
    running = worker.run();
  });
  afterAll(async () => {
    worker?.shutdown();
    await running;
    await close?.();
    await ctx.tw?.teardown();
  });
  return ctx;
}

/** A namespace of its own (no worker polls any of its queues), with Drover's search attributes, as a farm's has them. */
export async function freshNamespace(): Promise<string> {
  const env = await connectTestServer();
  const namespace = `test-${process.pid}-${Date.now()}`;
  try {
    await env.client.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
    for (let i = 0; i < 50; i++) {
      const ok = await env.client.workflowService.describeNamespace({ namespace }).then(() => true, () => false);
      if (ok) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    // Drover's search attributes, as `dev up` and the compose job register them in a farm's namespace (a start
    // naming one a namespace lacks is refused).
    const keyword = temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
    await env.client.connection.operatorService.addSearchAttributes({ namespace, searchAttributes: Object.fromEntries(DROVER_SEARCH_ATTRIBUTES.map((a) => [a.name, keyword])) });
  } finally {
    await env.teardown();
  }
  return namespace;
}

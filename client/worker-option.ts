/**
 * Waiting on a workflow, the one way every command does it. A workflow only moves while a worker polls its task
 * queue; with none, a command would wait silently forever. So before waiting the queue's pollers are checked
 * (DescribeTaskQueue) and, with none, the command says which worker to start and fails; while it waits, the
 * workflow's current step is shown on stderr (stdout stays the result). `--worker` runs a worker for the queue
 * in this process instead.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { decodeFromPayloadsAtIndex, decodeOptionalFailureToOptionalError } from '@temporalio/common/lib/internal-non-workflow';
import { mergedEnv, parseEnv, workerEnvSchema } from '../lib/env';
import { TASK_QUEUES, taskQueueName, workflowIds, type TaskQueueName } from '../lib/contract/ids';
import type { CommandResult } from './output';
import { webUiLink } from './temporal';

/** No worker polls the queue a command would wait on. Exit 1: the input was fine, the farm is not running it. */
export class NoWorkerError extends Error {
  override readonly name = 'NoWorker';
  /** `why`: what needs that queue when it is not the command's own (its --worker runs another queue's worker). */
  constructor(readonly queue: TaskQueueName, why?: string) {
    super(why
      ? `no worker polls task queue ${TASK_QUEUES[queue]}, which ${why}: start one with \`drover worker ${queue}\` (in another terminal, with the same --state-dir and --port-offset)`
      : `no worker polls task queue ${TASK_QUEUES[queue]}: start one with \`drover worker ${queue}\` (in another terminal, with the same --state-dir and --port-offset) or add --worker to run one inside this command`);
  }
}

/**
 * A worker polls with a long poll of about a minute and the server remembers pollers for a few minutes after
 * they stop: a poller counts as alive when it was last seen within this window.
 */
const POLLER_ALIVE_MS = 2 * 60_000;
/** How often the waiting line is repeated when nothing changes. */
const PROGRESS_EVERY_MS = 30_000;
/** How often the workflow's current step is looked at: soon after the start (a short restore still shows its step), then every 5 s. */
const FIRST_LOOKS_MS = [1_000, 2_000];
const LOOK_EVERY_MS = 5_000;

/** How many workers poll the queue now (for workflow tasks: every Drover worker polls both kinds). */
export async function livePollers(client: Client, queue: TaskQueueName): Promise<number> {
  const r = await client.workflowService.describeTaskQueue({
    namespace: client.options.namespace,
    taskQueue: { name: TASK_QUEUES[queue], kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  const now = Date.now();
  return (r.pollers ?? []).filter((p) => {
    const seconds = Number(p.lastAccessTime?.seconds ?? 0);
    return now - seconds * 1000 < POLLER_ALIVE_MS;
  }).length;
}

/**
 * The queue of the site's entity (`site/<domain>`) when no worker polls it, else null (no entity, or a worker there):
 * a query of the entity, and an update a restore sends it, wait on that queue's worker.
 */
export async function siteEntityQueueUnpolled(client: Client, domain: string): Promise<{ queue: TaskQueueName; name: string } | null> {
  const found = await siteEntitiesUnpolled(client, [domain]);
  return found && { queue: found.queue, name: found.name };
}

/**
 * The first queue no worker polls that the entities of some of `domains` run on, with those sites (a farm
 * recovery's restores each hold their site's entity first). Only when some queue has no worker are the entities looked
 * up, 16 at a time; null when every entity's queue is polled (or none of the sites has one).
 */
export async function siteEntitiesUnpolled(client: Client, domains: string[]): Promise<{ queue: TaskQueueName; name: string; sites: string[] } | null> {
  // Every queue polled (the usual case): nothing to look up, however many sites.
  const queues = Object.keys(TASK_QUEUES) as TaskQueueName[];
  const counts = await Promise.all(queues.map((q) => livePollers(client, q)));
  const idle = new Set(queues.filter((_q, i) => counts[i] === 0));
  if (!idle.size) return null;
  const unpolled = new Map<TaskQueueName, string[]>();
  for (let i = 0; i < domains.length; i += 16) {
    await Promise.all(
      domains.slice(i, i + 16).map(async (domain) => {
        let on: string;
        try {
          on = (await client.workflow.getHandle(workflowIds.site(domain)).describe()).taskQueue;
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return;
          throw err;
        }
        const queue = taskQueueName(on);
        if (queue && idle.has(queue)) unpolled.set(queue, [...(unpolled.get(queue) ?? []), domain]);
      }),
    );
  }
  const [first] = unpolled;
  return first ? { queue: first[0], name: TASK_QUEUES[first[0]], sites: first[1].sort() } : null;
}

/** Throws NoWorkerError unless a worker polls the queue. */
export async function requireWorker(client: Client, queue: TaskQueueName): Promise<number> {
  const n = await livePollers(client, queue);
  if (n === 0) throw new NoWorkerError(queue);
  return n;
}

/** Says, on stderr, that a started workflow has no worker yet (commands that start without waiting). */
export async function warnWithoutWorker(client: Client, queue: TaskQueueName): Promise<void> {
  if ((await livePollers(client, queue)) === 0) process.stderr.write(`• no worker polls ${TASK_QUEUES[queue]} yet: the workflow starts when one does (\`drover worker ${queue}\`)\n`);
}

/**
 * The answer of a command that started (or attached to) a workflow and does not wait on it: warns first when no
 * worker polls its queue, then says `started`/`already running`, the workflow ID, any extra lines and the Web UI link.
 */
export async function startedNotWaited(
  client: Client,
  o: { stateDir: string; queue: TaskQueueName; workflowId: string; attached: boolean; data?: Record<string, unknown>; idSuffix?: string; lines?: string[] },
): Promise<CommandResult> {
  await warnWithoutWorker(client, o.queue);
  const webUi = webUiLink(o.stateDir, o.workflowId);
  const text = [`${o.attached ? 'already running' : 'started'} ${o.workflowId}${o.idSuffix ?? ''}`, ...(o.lines ?? []), webUi ?? ''].join('\n');
  return { ok: true, data: { workflowId: o.workflowId, attached: o.attached, ...o.data, webUi }, text };
}

export interface WaitOptions {
  stateDir: string;
  queue: TaskQueueName;
  /** Run a worker for the queue in this process while waiting (`--worker`). */
  worker: boolean;
  /** The workflow waited on, for the progress lines. */
  workflowId: string;
  /** No progress lines (a worker run around another wait that prints them already). */
  quiet?: boolean;
}

/** How much of a step's latest heartbeat the progress line shows. */
const HEARTBEAT_SHOWN_CHARS = 160;

/** A step's latest heartbeat details in words: `key: value; …`, lists joined with commas, cut to one line. */
export function heartbeatWords(details: unknown): string {
  // A long list (a retention step's every site done) is said only as far as the line shows.
  const enough = <T>(parts: T[], say: (p: T) => string, sep: string) => {
    let out = '';
    for (const p of parts) {
      out += (out ? sep : '') + say(p);
      if (out.length > HEARTBEAT_SHOWN_CHARS) break;
    }
    return out;
  };
  const value = (v: unknown): string => (Array.isArray(v) ? (v.length ? enough(v, value, ', ') : 'none') : typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v));
  const words = typeof details === 'object' && details !== null && !Array.isArray(details) ? enough(Object.entries(details), ([k, v]) => `${k}: ${value(v)}`, '; ') : value(details);
  // Cut by characters, not UTF-16 units (a domain in another script stays whole up to the cut).
  const chars = [...words];
  return chars.length > HEARTBEAT_SHOWN_CHARS ? `${chars.slice(0, HEARTBEAT_SHOWN_CHARS - 1).join('')}…` : words;
}

/**
 * What the workflow is doing now, in one line: its running steps with their latest heartbeat (what a waiting step
 * waits on, e.g. `services: wordpress_web 2/3 (no suitable node …)`), their attempts and last failures.
 */
export async function currentStep(client: Client, workflowId: string): Promise<string> {
  return (await stepNow(client, workflowId)).line;
}

/** How many of a workflow's running children the progress line follows into, and how deep (a wave's site's step). */
const CHILDREN_SHOWN = 2;
const CHILD_DEPTH = 2;

/**
 * The current step's line, and the same without heartbeats (what counts as a change worth a new line). A workflow
 * that waits on child workflows shows the first of them with their own steps: `2 child workflow(s) running:
 * site/a.example (step copySiteFiles [bytes: …]), …`.
 */
async function stepNow(client: Client, workflowId: string, depth = 0): Promise<{ line: string; key: string; idle: boolean }> {
  const d = await client.workflow.getHandle(workflowId).describe();
  // Failures and heartbeats travel encoded (the payload codec encrypts them): decoded with the client's converter.
  const converter = client.options.loadedDataConverter;
  const steps = await Promise.all(
    (d.raw.pendingActivities ?? []).map(async (a) => {
      const message = (await decodeOptionalFailureToOptionalError(converter, a.lastFailure).catch(() => undefined))?.message;
      const failure = message ? `, last failure: ${message.slice(0, 160)}` : '';
      const beat = a.heartbeatDetails?.payloads?.length ? await decodeFromPayloadsAtIndex<unknown>(converter, 0, a.heartbeatDetails.payloads).catch(() => undefined) : undefined;
      const now = beat === undefined || beat === null ? '' : heartbeatWords(beat);
      const attempt = (a.attempt ?? 1) > 1 ? ` (attempt ${a.attempt}${failure})` : '';
      return { line: `${a.activityType?.name ?? '?'}${now ? ` [${now}]` : ''}${attempt}`, key: `${a.activityType?.name ?? '?'}${attempt}` };
    }),
  );
  const pending = d.raw.pendingChildren ?? [];
  const followed = depth < CHILD_DEPTH ? pending.slice(0, CHILDREN_SHOWN).map((c) => c.workflowId ?? '').filter(Boolean) : [];
  const inner = (await Promise.all(followed.map(async (id) => ({ id, now: await stepNow(client, id, depth + 1).catch(() => undefined) })))).filter((c) => c.now);
  const childWords = (k: 'line' | 'key') =>
    pending.length ? `${pending.length} child workflow(s) running${inner.length ? `: ${inner.map((c) => `${c.id} (${c.now![k]})`).join(', ')}${pending.length > inner.length ? ', …' : ''}` : ''}` : '';
  const join = (k: 'line' | 'key') => [steps.length ? `step ${steps.map((x) => x[k]).join(', ')}` : '', childWords(k)].filter(Boolean).join('; ') || d.status.name.toLowerCase();
  return { line: join('line'), key: join('key'), idle: !steps.length && !pending.length };
}

/** How long a look waits for a step when it finds the workflow between two (a workflow task in flight), and how often. */
const BETWEEN_STEPS_MS = 250;
const BETWEEN_STEPS_LOOKS = 12;

/**
 * The current step as the progress line shows it: a look that finds the workflow between two steps (nothing pending
 * for a moment) looks again every BETWEEN_STEPS_MS, up to BETWEEN_STEPS_LOOKS times (or until `stop`), rather than
 * print a bare "running"; a workflow still idle then (a timer, a wait for a signal) is shown as it is.
 */
export async function settledStep(client: Client, workflowId: string, stop: () => boolean = () => false): Promise<{ line: string; key: string }> {
  let now = await stepNow(client, workflowId);
  for (let i = 0; now.idle && !stop() && i < BETWEEN_STEPS_LOOKS; i++) {
    await new Promise((r) => setTimeout(r, BETWEEN_STEPS_MS).unref());
    now = await stepNow(client, workflowId);
  }
  return { line: now.line, key: now.key };
}

/** Prints progress on stderr until `done` settles. */
async function showProgress(client: Client, o: WaitOptions, done: Promise<unknown>): Promise<void> {
  let finished = false;
  void done.then(
    () => (finished = true),
    () => (finished = true),
  );
  const started = Date.now();
  let last = '';
  let lastAt = 0;
  const say = (line: string) => process.stderr.write(`• ${o.workflowId}: ${line} (${Math.round((Date.now() - started) / 1000)} s)\n`);
  // The process stays alive while it waits: the waits below are unref'd (a settled result must not wait out a
  // timer), and in such a wait a CLI once exited 0 in silence, its result's call not holding the event loop then.
  const alive = setInterval(() => undefined, 60_000);
  try {
    for (let look = 0; !finished; look++) {
      const wait = FIRST_LOOKS_MS[look] ?? LOOK_EVERY_MS;
      await Promise.race([done.catch(() => undefined), new Promise((r) => setTimeout(r, wait).unref())]);
      if (finished) break;
      try {
        let { line, key } = await settledStep(client, o.workflowId, () => finished);
        if (finished) break;
        if (!o.worker && (await livePollers(client, o.queue)) === 0) {
          const none = `; no worker polls ${TASK_QUEUES[o.queue]} any more: start \`drover worker ${o.queue}\``;
          line += none;
          key += none;
        }
        // A new step (or attempt) is said at once; a step's changing heartbeat alone (bytes so far) every 30 s.
        if (key !== last || Date.now() - lastAt >= PROGRESS_EVERY_MS) {
          if (!finished) say(line);
          last = key;
          lastAt = Date.now();
        }
      } catch {
        /* progress is best effort: the result decides */
      }
    }
  } finally {
    clearInterval(alive);
  }
}

/**
 * Runs `fn` (which starts or attaches to the workflow and returns its result) once a worker is there to run it:
 * in this process with `worker`, else one polling the queue (refused with NoWorkerError when there is none).
 */
export async function waitOnWorker<T>(client: Client, o: WaitOptions, fn: () => Promise<T>): Promise<T> {
  if (!o.worker) {
    const n = await requireWorker(client, o.queue);
    process.stderr.write(`• waiting on ${o.workflowId} (${n} worker(s) poll ${TASK_QUEUES[o.queue]})\n`);
    const result = fn();
    await showProgress(client, o, result);
    return result;
  }
  // The Temporal worker's SDK (its native core) is loaded only by the commands that run one (half a second).
  const { createDroverWorker, installQuietRuntime } = await import('../workers/run-worker');
  installQuietRuntime();
  const { worker, close } = await createDroverWorker(o.queue, parseEnv(workerEnvSchema, mergedEnv(o.stateDir)));
  try {
    return await worker.runUntil(async () => {
      const result = fn();
      if (!o.quiet) await showProgress(client, o, result);
      return result;
    });
  } finally {
    await close();
  }
}

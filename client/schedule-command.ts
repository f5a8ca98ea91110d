/**
 * `… schedule create | describe | pause | unpause | trigger | delete`: one Temporal Schedule that starts one
 * workflow (the nightly backup, the weekly restore drill). Overlap BufferOne: a run that overruns delays the next
 * instead of racing it; a 6-hour catch-up window covers a Temporal outage without replaying a week of runs.
 */
import { Command } from 'commander';
import { ScheduleAlreadyRunning, ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { SearchAttributePair, Workflow } from '@temporalio/common';
import { z } from 'zod';
import { action, globals, parseOptions, UsageError } from './output';
import { withTemporal } from './temporal';
import { warnWithoutWorker } from './worker-option';
import { taskQueueName } from '../lib/contract/ids';

export interface ScheduleSpec<V, W extends Workflow> {
  scheduleId: string;
  /** What the schedule runs, for help texts ("the nightly backup"). */
  what: string;
  defaultCron: string;
  cronHelp: string;
  /** The workflow the schedule starts, by reference (its input typed by it). */
  workflow: W;
  taskQueue: string;
  /** What every run carries from its start (DroverOperation, …), so the Web UI filters them. */
  searchAttributes: SearchAttributePair[];
  /** The one tunable the scheduled workflow takes (concurrency, sample size), and how it becomes its input. */
  option: { flags: string; description: string; default: string; schema: z.ZodType<V>; arg: (v: V) => Parameters<W>[0] };
}

const cron = z.string().regex(/^\S+( \S+){4,6}$/, 'a cron expression of 5 to 7 fields, e.g. "0 2 * * *"');

export function scheduleCommand<V, W extends Workflow>(spec: ScheduleSpec<V, W>): Command {
  const schedule = new Command('schedule').description(`the Temporal Schedule that runs ${spec.what}`);
  const key = /--([a-z-]+)/.exec(spec.option.flags)![1].replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
  const withHandle = <T>(cmd: Command, fn: (h: ReturnType<Client['schedule']['getHandle']>, client: Client) => Promise<T>) =>
    withTemporal(globals(cmd).stateDir, (client) => fn(client.schedule.getHandle(spec.scheduleId), client));
  const queue = taskQueueName(spec.taskQueue);

  schedule
    .command('create')
    .description(`create the schedule (${spec.cronHelp}; overlap BufferOne; 6 h catch-up window)`)
    .option('--cron <expr>', 'cron expression in UTC', spec.defaultCron)
    .option(spec.option.flags, spec.option.description, spec.option.default)
    .action(
      action(async (raw, cmd) => {
        const o = parseOptions(z.object({ cron, [key]: spec.option.schema }), raw) as { cron: string } & Record<string, V>;
        const g = globals(cmd);
        await withTemporal(g.stateDir, async (client) => {
          try {
            await client.schedule.create({
              scheduleId: spec.scheduleId,
              spec: { cronExpressions: [o.cron] },
              // Typed where the spec is written (`arg` returns the workflow's input); here any workflow will do.
              action: { type: 'startWorkflow', workflowType: spec.workflow as Workflow, workflowId: spec.scheduleId, taskQueue: spec.taskQueue, typedSearchAttributes: spec.searchAttributes, args: [spec.option.arg(o[key])] },
              policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: '6 hours', pauseOnFailure: false },
              // The server keeps the spec as calendars; the memo keeps the expression the operator wrote.
              memo: { cron: o.cron },
            });
          } catch (err) {
            // The SDK's own types: a schedule of that ID already there, and the server's "Invalid schedule spec" (or a
            // spec the client refuses before sending it) as a TypeError.
            if (err instanceof ScheduleAlreadyRunning) throw new UsageError('schedule', `schedule ${spec.scheduleId} already exists (delete it first, or pause/unpause it)`);
            if (err instanceof TypeError) throw new UsageError('--cron', `the schedule rejected "${o.cron}": ${err.message}`);
            throw err;
          }
        });
        return { ok: true, data: { scheduleId: spec.scheduleId, cron: o.cron, [key]: o[key] }, text: `schedule ${spec.scheduleId} created: "${o.cron}" UTC, ${key} ${String(o[key])}` };
      }),
    );
  schedule.command('describe').description('show the schedule, its state and recent runs').action(
    action(async (_o, cmd) =>
      withHandle(cmd, async (h) => {
        const d = await h.describe();
        const data = {
          scheduleId: d.scheduleId,
          paused: d.state.paused,
          note: d.state.note,
          cron: typeof d.memo?.cron === 'string' ? [d.memo.cron] : [],
          nextActionTimes: d.info.nextActionTimes.slice(0, 3).map((t) => t.toISOString()),
          recentActions: d.info.recentActions.map((a) => ({ scheduledAt: a.scheduledAt.toISOString(), workflowId: a.action.workflow.workflowId })),
          numActionsTaken: d.info.numActionsTaken,
        };
        return { ok: true, data, text: `${data.scheduleId}: ${data.paused ? 'PAUSED' : 'active'}; next ${data.nextActionTimes[0] ?? '-'}; ${data.numActionsTaken} runs so far` };
      }),
    ),
  );
  for (const [name, desc] of [
    ['pause', 'pause the schedule (runs are skipped until unpaused)'],
    ['unpause', 'resume the schedule'],
    ['trigger', 'start a run now (the overlap policy still applies)'],
    ['delete', 'delete the schedule (running workflows continue)'],
  ] as const) {
    schedule
      .command(name)
      .description(desc)
      .option('--note <text>', 'why (kept with the schedule, shown in the Web UI)')
      .action(
        action(async (opts, cmd) =>
          withHandle(cmd, async (h, client) => {
            const note = (opts.note as string | undefined) ?? `drover schedule ${name}`;
            if (name === 'pause') await h.pause(note);
            else if (name === 'unpause') await h.unpause(note);
            else if (name === 'trigger') {
              await h.trigger(ScheduleOverlapPolicy.BUFFER_ONE);
              // The run it started waits for a worker like any other start: say so when none polls.
              if (queue) await warnWithoutWorker(client, queue);
            } else await h.delete();
            return { ok: true, data: { scheduleId: spec.scheduleId, done: name }, text: `schedule ${spec.scheduleId}: ${name} done` };
          }),
        ),
      );
  }
  return schedule;
}

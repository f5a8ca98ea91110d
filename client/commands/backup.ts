/** `drover backup run | list | prune | schedule …`: nightly backups of every site. */
import { Command } from 'commander';
import { ScheduleOverlapPolicy, WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { z } from 'zod';
import { createSpacesActivities } from '../../activities/spaces';
import { dayNumber, planRetention } from '../../lib/retention';
import { listSites } from '../../lib/site-registry';
import { TASK_QUEUES, workflowIds } from '../../workflows/lib/ids';
import type { NightlyBackupResult } from '../../workflows/nightly-backup';
import { action, globals, parseOptions, UsageError } from '../output';
import { withServices } from '../services';
import { webUiLink, withTemporal } from '../temporal';
import { withOptionalWorker } from '../worker-option';
import { formatPlan } from './retention';
import { requireSites } from './site';

const date = z.string().refine((d) => {
  try {
    dayNumber(d);
    return true;
  } catch {
    return false;
  }
}, 'a calendar date YYYY-MM-DD');
const today = () => new Date().toISOString().slice(0, 10);
const collect = (v: string, prev: string[] = []) => [...prev, v];

function formatNight(r: NightlyBackupResult): string {
  const lines = [`backup night ${r.date}: ${r.created} created, ${r.alreadyComplete} already complete, ${r.failed.length} failed of ${r.sites} sites; ${r.pruned} old points pruned`];
  for (const f of r.failed) lines.push(`  FAILED ${f.site}: ${f.error}`);
  return lines.join('\n');
}

function scheduleCommand(): Command {
  const schedule = new Command('schedule').description('the Temporal Schedule that runs the nightly backup');
  const withHandle = async <T>(cmd: Command, fn: (h: ReturnType<import('@temporalio/client').Client['schedule']['getHandle']>) => Promise<T>) =>
    withTemporal(globals(cmd).stateDir, (client) => fn(client.schedule.getHandle(workflowIds.backupSchedule)));

  schedule
    .command('create')
    .description('create the schedule (default 02:00 UTC daily; overlap BufferOne; 6 h catch-up window)')
    .option('--cron <expr>', 'cron expression in UTC', '0 2 * * *')
    .option('--concurrency <n>', 'site backups running at once', '16')
    .action(
      action(async (raw, cmd) => {
        const o = parseOptions(z.object({ cron: z.string().regex(/^\S+( \S+){4,6}$/, 'a cron expression of 5 to 7 fields, e.g. "0 2 * * *"'), concurrency: z.coerce.number().int().min(1).max(200) }), raw);
        const g = globals(cmd);
        await withTemporal(g.stateDir, async (client) => {
          try {
            await client.schedule.create({
              scheduleId: workflowIds.backupSchedule,
              spec: { cronExpressions: [o.cron] },
              action: { type: 'startWorkflow', workflowType: 'nightlyBackupWorkflow', workflowId: workflowIds.backupSchedule, taskQueue: TASK_QUEUES.backup, args: [{ concurrency: o.concurrency }] },
              policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: '6 hours', pauseOnFailure: false },
            });
          } catch (err) {
            const msg = (err as Error).message;
            if (/already (exists|registered)/i.test(msg)) throw new UsageError('schedule', `schedule ${workflowIds.backupSchedule} already exists (delete it first, or pause/unpause it)`);
            if (err instanceof TypeError || /cron|invalid|spec|range/i.test(msg)) throw new UsageError('--cron', `the schedule rejected "${o.cron}": ${msg}`);
            throw err;
          }
        });
        return { ok: true, data: { scheduleId: workflowIds.backupSchedule, cron: o.cron, concurrency: o.concurrency }, text: `schedule ${workflowIds.backupSchedule} created: "${o.cron}" UTC, ${o.concurrency} sites at a time` };
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
          cron: (d.spec as { cronExpressions?: string[] }).cronExpressions ?? [],
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
    ['delete', 'delete the schedule (running backups continue)'],
  ] as const) {
    schedule
      .command(name)
      .description(desc)
      .option('--note <text>', 'why (kept with the schedule, shown in the Web UI)')
      .action(
        action(async (opts, cmd) =>
          withHandle(cmd, async (h) => {
            const note = (opts.note as string | undefined) ?? `drover backup schedule ${name}`;
            if (name === 'pause') await h.pause(note);
            else if (name === 'unpause') await h.unpause(note);
            else if (name === 'trigger') await h.trigger(ScheduleOverlapPolicy.BUFFER_ONE);
            else await h.delete();
            return { ok: true, data: { scheduleId: workflowIds.backupSchedule, done: name }, text: `schedule ${workflowIds.backupSchedule}: ${name} done` };
          }),
        ),
      );
  }
  return schedule;
}

export function backupCommand(): Command {
  const backup = new Command('backup').description('nightly backups: restore points of every site in Spaces');
  backup
    .command('run')
    .description('run a backup night now (all sites, or --site …)')
    .option('--site <domain>', 'only this site (repeatable)', collect)
    .option('--date <date>', 'nominal date of the night (YYYY-MM-DD, default today UTC)')
    .option('--concurrency <n>', 'site backups running at once', '16')
    .option('--wait', 'wait for the night to finish and print its outcome')
    .option('--worker', 'run a drover-backup worker in this process meanwhile (implies --wait)')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(z.object({ site: z.array(z.string()).optional(), date: date.optional(), concurrency: z.coerce.number().int().min(1).max(200), wait: z.boolean().optional(), worker: z.boolean().optional() }), raw);
        await requireSites(g.stateDir, o.site ?? []);
        const night = o.date ?? today();
        const workflowId = workflowIds.nightlyBackup(night) + (o.site?.length ? `/${o.site.join(',')}`.slice(0, 200) : '');
        return withTemporal(g.stateDir, async (client) => {
          const start = () => client.workflow.start('nightlyBackupWorkflow', { workflowId, taskQueue: TASK_QUEUES.backup, args: [{ date: night, sites: o.site, concurrency: o.concurrency }] });
          let handle;
          try {
            handle = await start();
          } catch (err) {
            if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
            handle = client.workflow.getHandle(workflowId);
          }
          if (!o.wait && !o.worker) return { ok: true, data: { workflowId, webUi: webUiLink(g.stateDir, workflowId) }, text: `started ${workflowId}\n${webUiLink(g.stateDir, workflowId) ?? ''}` };
          const r = (await withOptionalWorker(g.stateDir, 'backup', Boolean(o.worker), () => handle.result())) as NightlyBackupResult;
          return { ok: r.failed.length === 0, data: { workflowId, result: r }, text: formatNight(r) };
        });
      }),
    );
  backup
    .command('list')
    .description('list a site\'s restore points')
    .requiredOption('--site <domain>', 'the site')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        await requireSites(g.stateDir, [opts.site as string]);
        const points = await withServices(g.stateDir, (deps) => createSpacesActivities(deps).listRestorePoints({ site: opts.site as string }));
        const text = points.length ? points.map((p) => `${p.date}  ${p.complete ? 'complete  ' : 'INCOMPLETE'}  ${(p.bytes / 1024).toFixed(1)} KiB`).join('\n') : `no restore points for ${opts.site}`;
        return { ok: true, data: { site: opts.site, points }, text };
      }),
    );
  backup
    .command('prune')
    .description('apply the retention policy to the bucket (always computes and shows the plan first)')
    .option('--site <domain>', 'only this site (repeatable)', collect)
    .option('--now <date>', 'the date ages count from (default today UTC)')
    .option('--dry-run', 'show the plan, delete nothing')
    .option('--worker', 'run a drover-backup worker in this process meanwhile')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(z.object({ site: z.array(z.string()).optional(), now: date.optional(), dryRun: z.boolean().optional(), worker: z.boolean().optional() }), raw);
        await requireSites(g.stateDir, o.site ?? []);
        const now = o.now ?? today();
        const plans = await withServices(g.stateDir, async (deps) => {
          const sites = o.site ?? (await listSites(deps.galera)).map((s) => s.domain);
          const spaces = createSpacesActivities(deps);
          return Promise.all(sites.map(async (site) => ({ site, plan: planRetention((await spaces.listRestorePoints({ site })).map((p) => ({ date: p.date, complete: p.complete })), now) })));
        });
        const text = plans.map((p) => `${p.site}\n${formatPlan(p.plan)}`).join('\n');
        if (o.dryRun) return { ok: true, data: { dryRun: true, now, plans }, text };
        const result = await withTemporal(g.stateDir, (client) =>
          withOptionalWorker(g.stateDir, 'backup', Boolean(o.worker), () =>
            client.workflow.execute('pruneRestorePointsWorkflow', { workflowId: workflowIds.prune(now), taskQueue: TASK_QUEUES.backup, args: [{ sites: plans.map((p) => p.site), now }] }),
          ),
        );
        return { ok: true, data: { dryRun: false, now, plans, result }, text: `${text}\npruned: ${JSON.stringify(result)}` };
      }),
    );
  backup.addCommand(scheduleCommand());
  return backup;
}

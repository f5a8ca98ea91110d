/** `drover backup run | list | prune | schedule …`: nightly backups of every site. */
import { runWorkflow } from '../run-workflow';
import { Command } from 'commander';
import { z } from 'zod';
import { listSiteRestorePoints } from '../../lib/restore-points';
import { planRetention } from '../../lib/retention';
import { calendarDate, siteDomain, todayUtc } from '../option-schemas';
import { listSites } from '../../lib/site-registry';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { nightlyBackupWorkflow, type NightlyBackupResult } from '../../workflows/nightly-backup';
import { pruneRestorePointsWorkflow } from '../../workflows/prune-restore-points';
import { action, globals, parseOptions, UsageError } from '../output';
import { withServices } from '../services';
import { startOrAttach, withTemporal } from '../temporal';
import { startedNotWaited, waitOnWorker } from '../worker-option';
import { formatPlan } from './retention';
import { scheduleCommand } from '../schedule-command';
import { requireSites } from './site';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';

/** A night's date no later than today (UTC): a point dated in the future would outlive every retention tier. */
const nightDate = calendarDate.refine((v) => v <= todayUtc(), { message: 'no later than today (UTC)' });
const collect = (v: string, prev: string[] = []) => [...prev, v];

function formatNight(r: NightlyBackupResult): string {
  const lines = [`backup night ${r.date}: ${r.created} created, ${r.alreadyComplete} already complete, ${r.failed.length} failed of ${r.sites} sites; ${r.pruned} old points pruned`];
  for (const f of r.failed) lines.push(`  FAILED ${f.site}: ${f.error}`);
  return lines.join('\n');
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
        const o = parseOptions(z.object({ site: z.array(siteDomain).optional(), date: nightDate.optional(), concurrency: z.coerce.number().int().min(1).max(200), wait: z.boolean().optional(), worker: z.boolean().optional() }), raw);
        await requireSites(g.stateDir, o.site ?? []);
        const night = o.date ?? todayUtc();
        // One night, one workflow (the Schedule's run joins the same ID): a night already running is attached to.
        const workflowId = workflowIds.nightlyBackup(night);
        return withTemporal(g.stateDir, async (client) => {
          let attached = false;
          const startNight = async () => {
            const r = await startOrAttach(client, nightlyBackupWorkflow, { workflowId, taskQueue: TASK_QUEUES.backup, typedSearchAttributes: siteSearchAttributes(null, 'backup'), args: [{ date: night, sites: o.site, concurrency: o.concurrency }] });
            attached = r.attached;
            if (attached) process.stderr.write(`• the night ${night} is already running (started by the Schedule or another operator): attached to it\n`);
            return r.handle;
          };
          if (!o.wait && !o.worker) {
            await startNight();
            return startedNotWaited(client, { stateDir: g.stateDir, queue: 'backup', workflowId, attached });
          }
          const r = await waitOnWorker(client, { stateDir: g.stateDir, queue: 'backup', worker: Boolean(o.worker), workflowId }, async () => (await startNight()).result());
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
        const { site } = parseOptions(z.object({ site: siteDomain }), opts);
        await requireSites(g.stateDir, [site]);
        const points = await withServices(g.stateDir, (deps) => listSiteRestorePoints(deps.s3, deps.bucket, { site }));
        const text = points.length ? points.map((p) => `${p.date}  ${p.complete ? 'complete  ' : 'INCOMPLETE'}  ${(p.bytes / 1024).toFixed(1)} KiB`).join('\n') : `no restore points for ${site}`;
        return { ok: true, data: { site, points }, text };
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
        // A --now in the future would age every point past its tier and delete them: only a dry run may look ahead.
        const o = parseOptions(z.object({ site: z.array(siteDomain).optional(), now: calendarDate.optional(), dryRun: z.boolean().optional(), worker: z.boolean().optional() }), raw);
        if (!o.dryRun && o.now && o.now > todayUtc()) throw new UsageError('--now', `${o.now} is after today (${todayUtc()} UTC): retention would delete points by ages they do not have yet; look ahead with --dry-run only`);
        await requireSites(g.stateDir, o.site ?? []);
        const now = o.now ?? todayUtc();
        const plans = await withServices(g.stateDir, async (deps) => {
          const sites = o.site ?? (await listSites(deps.galera)).map((s) => s.domain);
          return Promise.all(sites.map(async (site) => ({ site, plan: planRetention((await listSiteRestorePoints(deps.s3, deps.bucket, { site })).map((p) => ({ date: p.date, complete: p.complete })), now) })));
        });
        const text = plans.map((p) => `${p.site}\n${formatPlan(p.plan)}`).join('\n');
        if (o.dryRun) return { ok: true, data: { dryRun: true, now, plans }, text };
        const result = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'backup', worker: Boolean(o.worker), workflow: pruneRestorePointsWorkflow, workflowId: workflowIds.prune(now), searchAttributes: siteSearchAttributes(null, 'prune'), args: [{ sites: plans.map((p) => p.site), now }] }),
        );
        return { ok: true, data: { dryRun: false, now, plans, result }, text: `${text}\npruned: ${JSON.stringify(result)}` };
      }),
    );
  backup.addCommand(
    scheduleCommand({
      scheduleId: workflowIds.backupSchedule,
      what: 'the nightly backup',
      defaultCron: '0 2 * * *',
      cronHelp: 'default 02:00 UTC daily',
      workflow: nightlyBackupWorkflow,
      taskQueue: TASK_QUEUES.backup,
      searchAttributes: siteSearchAttributes(null, 'backup'),
      option: { flags: '--concurrency <n>', description: 'site backups running at once', default: '16', schema: z.coerce.number().int().min(1).max(200), arg: (v) => ({ concurrency: v }) },
    }),
  );
  return backup;
}

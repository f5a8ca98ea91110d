/**
 * `drover restore site | drill | farm`: disaster recovery. Everything the operator could get wrong is checked
 * here first (the site, the point in time, the new name, the sites file), so bad input exits 2 and starts nothing.
 */
import { readFileSync } from 'node:fs';
import { Command } from 'commander';
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { z } from 'zod';
import { listBackedUpSites, listSiteRestorePoints } from '../../lib/restore-points';
import { chooseRestorePoint, parseRestoreAt } from '../../lib/restore-point-choice';
import { releaseRestoreLock, restoreLocks } from '../../lib/restore-locks';
import { getSite, siteSchema } from '../../lib/site-registry';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { restoreDrillWorkflow, type RestoreDrillResult } from '../../workflows/restore-drill';
import { restoreFarmProgressQuery, restoreFarmWorkflow, type RestoreFarmProgress, type RestoreFarmResult } from '../../workflows/restore-farm';
import { restoreTargetNames } from '../../lib/restore-targets';
import { restoreSiteWorkflow, type RestoreSiteResult } from '../../workflows/restore-site';
import { endRestoreUpdate, siteStateQuery } from '../../workflows/site';
import { action, describeFailure, errorReport, globals, parseOptions, UsageError } from '../output';
import { calendarDate, todayUtc } from '../option-schemas';
import { scheduleCommand } from '../schedule-command';
import { withServices } from '../services';
import { startOrAttach, withTemporal } from '../temporal';
import { NoWorkerError, requireWorker, siteEntitiesUnpolled, siteEntityQueueUnpolled, startedNotWaited, waitOnWorker } from '../worker-option';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const domain = siteSchema.shape.domain;
const atSchema = z.string().refine((v) => {
  try {
    parseRestoreAt(v);
    return true;
  } catch {
    return false;
  }
}, '"latest", a date YYYY-MM-DD, an ISO timestamp with a time zone (e.g. 2026-11-20T14:00:00Z) or a safety point safety/<YYYYMMDDTHHMMSSZ>');

/** The point `--at` resolves to for a site, or exit 2 naming why there is none. */
async function resolvePoint(stateDir: string, site: string, at: string): Promise<{ point: string; bytes: number }> {
  const target = parseRestoreAt(at);
  const points = await withServices(stateDir, (deps) => listSiteRestorePoints(deps.s3, deps.bucket, { site, withTakenAt: target.kind === 'time' }));
  const point = chooseRestorePoint(points, target);
  if (!point) {
    const oldest = points.filter((p) => p.complete).map((p) => p.date).sort()[0];
    throw new UsageError('--at', `site ${site} has no complete restore point at or before ${at}${oldest ? ` (the oldest is ${oldest})` : ' (it has never been backed up)'}`);
  }
  return { point, bytes: points.find((p) => p.date === point)!.bytes };
}

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function formatRestore(r: RestoreSiteResult): string {
  return [
    `restored ${r.site} to ${r.point}${r.target !== r.site ? ` as ${r.target}` : ''} (database ${r.database}, files ${r.filesPath})`,
    r.safetyPoint ? `  safety point of the replaced state: ${r.safetyPoint}` : null,
    ...r.steps.map((s) => `  ${seconds(s.ms).padStart(9)}  ${s.name}`),
    `  RTO ${seconds(r.rtoMs)}`,
  ]
    .filter((l): l is string => l !== null)
    .join('\n');
}

function siteCommand(): Command {
  return new Command('site')
    .description('restore one site to a point in time, over itself or side by side under a new name')
    .argument('<site>', 'the site\'s domain')
    .option('--at <when>', 'latest; a date YYYY-MM-DD (the newest complete point of that night or before); an ISO timestamp (the newest complete point taken at or before it); or a safety point safety/<YYYYMMDDTHHMMSSZ> (drover backup list shows them)', 'latest')
    .option('--to <name>', 'restore side by side as this new domain; the live site is not touched')
    .option('--dry-run', 'name the restore point and what would change; change nothing')
    .option('--wait', 'wait for the restore and print each step\'s time and the RTO')
    .option('--worker', 'run a drover-restore worker in this process meanwhile (implies --wait)')
    .action(
      action(async (raw, cmd, [siteArg]) => {
        const g = globals(cmd);
        const site = parseOptions(z.object({ site: domain }), { site: siteArg }, () => 'site').site;
        const o = parseOptions(z.object({ at: atSchema, to: domain.optional(), dryRun: z.boolean().optional(), wait: z.boolean().optional(), worker: z.boolean().optional() }), raw);
        const live = await withServices(g.stateDir, (deps) => getSite(deps.galera, site));
        // A site Drover created and deleted comes back from its final point like a farm recovery: onto empty targets,
        // registered again from the point, its user, secret and service recreated.
        const deletedCreated = live?.status === 'deleted' && Boolean(live.dbUser) && !o.to;
        if (!live || (live.status === 'deleted' && !deletedCreated)) throw new UsageError('site', `unknown site ${site}`);
        const names = restoreTargetNames(live, o.to);
        if (o.to && o.to !== site) {
          const taken = await withServices(g.stateDir, (deps) => getSite(deps.galera, o.to!));
          if (taken && taken.status !== 'deleted') throw new UsageError('--to', `${o.to} is a registered site; pick a new name (or restore it with: drover restore site ${o.to})`);
        }
        const { point, bytes } = await resolvePoint(g.stateDir, site, o.at);
        const overLive = !o.to || o.to === site;
        const plan = {
          site,
          at: o.at,
          point,
          pointBytes: bytes,
          target: o.to ?? site,
          database: names.database,
          filesPath: names.filesPath,
          storageHost: live.storageHost,
          safetyPoint: overLive,
          changes: overLive
            ? [`a safety restore point of the current ${site} is taken first`, `database ${names.database} is replaced by the ${point} point (atomic rename; the old tables are kept until the restore is verified)`, `files in ${names.filesPath} are replaced (directory swap)`]
            : [`database ${names.database} and files ${names.filesPath} are created from the ${point} point`, `${site} itself is not touched`],
        };
        if (o.dryRun) return { ok: true, data: { dryRun: true, plan }, text: [`would restore ${site} to ${point} (${(bytes / 1024 / 1024).toFixed(1)} MiB stored)`, ...plan.changes.map((c) => `  - ${c}`)].join('\n') };

        const workflowId = workflowIds.restore(site, point, o.to);
        return withTemporal(g.stateDir, async (client) => {
          if (o.wait && !o.worker) await requireWorker(client, 'restore');
          // A restore over the site holds its entity first (an update its entity's worker answers, on drover-infra
          // for a site made by `site create`): with no worker there the restore would wait at its first step.
          const entity = overLive ? await siteEntityQueueUnpolled(client, site) : null;
          const why = `the site's entity runs on (a restore holds it first)`;
          if (entity && (o.wait || o.worker)) throw new NoWorkerError(entity.queue, why);
          if (entity) process.stderr.write(`• no worker polls ${entity.name}, ${why}: the restore waits for one (\`drover worker ${entity.queue}\`)\n`);
          const { handle, attached } = await startOrAttach(client, restoreSiteWorkflow, { workflowId, taskQueue: TASK_QUEUES.restore, typedSearchAttributes: siteSearchAttributes(site, 'restore'), args: [{ site, point, to: o.to, ...(deletedCreated ? { rebuild: { storageHost: live.storageHost } } : {}) }] });
          if (!o.wait && !o.worker) return startedNotWaited(client, { stateDir: g.stateDir, queue: 'restore', workflowId, attached, data: { plan } });
          try {
            const r = await waitOnWorker(client, { stateDir: g.stateDir, queue: 'restore', worker: Boolean(o.worker), workflowId }, () => handle.result());
            return { ok: true, data: { workflowId, result: r }, text: formatRestore(r) };
          } catch (err) {
            return { ok: false, data: { workflowId, error: errorReport(err) }, text: `restore ${workflowId}: ${describeFailure(err).message}` };
          }
        });
      }),
    );
}

function formatDrill(r: RestoreDrillResult): string {
  return [`restore drill ${r.date}: ${r.passed ? 'PASSED' : 'FAILED'}, slowest ${seconds(r.maxRtoMs)}`, ...r.results.map((x) => `  ${x.passed ? 'ok  ' : 'FAIL'}  ${x.site.padEnd(36)} ${x.point || '-'}  RTO ${seconds(x.rtoMs)}${x.error ? `  ${x.error}` : ''}`)].join('\n');
}

function drillCommand(): Command {
  const drill = new Command('drill')
    .description('restore a sample of sites under scratch names, verify and time them, delete the copies')
    .option('--site <domain>', 'drill this site (repeatable; default: this week\'s rotating sample)', collect)
    .option('--sample <n>', 'sites in the rotating sample', '3')
    .option('--date <date>', 'nominal date (picks the week, so the sample; default today UTC)')
    .option('--wait', 'wait for the drill and print its results')
    .option('--worker', 'run a drover-restore worker in this process meanwhile (implies --wait)')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(
          z.object({ site: z.array(domain).optional(), sample: z.coerce.number().int().min(1).max(100), date: calendarDate.optional(), wait: z.boolean().optional(), worker: z.boolean().optional() }),
          raw,
        );
        await withServices(g.stateDir, async (deps) => {
          for (const s of o.site ?? []) {
            const rec = await getSite(deps.galera, s);
            if (!rec || rec.status === 'deleted') throw new UsageError('--site', `unknown site ${s}`);
          }
        });
        const date = o.date ?? todayUtc();
        const workflowId = workflowIds.restoreDrill(date, o.site);
        return withTemporal(g.stateDir, async (client) => {
          if (o.wait && !o.worker) await requireWorker(client, 'restore');
          const { handle, attached } = await startOrAttach(client, restoreDrillWorkflow, { workflowId, taskQueue: TASK_QUEUES.restore, typedSearchAttributes: siteSearchAttributes(null, 'restore-drill'), args: [{ date, sites: o.site, sampleSize: o.sample }] });
          if (!o.wait && !o.worker) return startedNotWaited(client, { stateDir: g.stateDir, queue: 'restore', workflowId, attached });
          try {
            const r = await waitOnWorker(client, { stateDir: g.stateDir, queue: 'restore', worker: Boolean(o.worker), workflowId }, () => handle.result());
            return { ok: true, data: { workflowId, result: r }, text: formatDrill(r) };
          } catch (err) {
            const details = err instanceof WorkflowFailedError ? ((err.cause as { details?: unknown[] } | undefined)?.details?.[0] as RestoreDrillResult | undefined) : undefined;
            return { ok: false, data: { workflowId, result: details, error: errorReport(err) }, text: details ? formatDrill(details) : `drill ${workflowId}: ${describeFailure(err).message}` };
          }
        });
      }),
    );
  drill.addCommand(
    scheduleCommand({
      scheduleId: workflowIds.drillSchedule,
      what: 'the weekly restore drill',
      defaultCron: '0 5 * * 0',
      cronHelp: 'default Sundays 05:00 UTC, after the night\'s backups',
      workflow: restoreDrillWorkflow,
      taskQueue: TASK_QUEUES.restore,
      searchAttributes: siteSearchAttributes(null, 'restore-drill'),
      option: { flags: '--sample <n>', description: 'sites restored per drill', default: '3', schema: z.coerce.number().int().min(1).max(100), arg: (v) => ({ sampleSize: v }) },
    }),
  );
  return drill;
}

/** Reads a sites file: one domain per line, `#` comments and blank lines ignored; a bad line exits 2 naming it. */
export function readSitesFile(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new UsageError('--sites-file', `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const sites: string[] = [];
  text.split('\n').forEach((line, i) => {
    const s = line.replace(/#.*/, '').trim();
    if (!s) return;
    if (!domain.safeParse(s).success) throw new UsageError('--sites-file', `line ${i + 1}: "${s}" is not a lower-case domain name`);
    sites.push(s);
  });
  if (!sites.length) throw new UsageError('--sites-file', `${file} names no site`);
  return [...new Set(sites)];
}

function formatFarm(r: RestoreFarmResult): string {
  return [
    `farm recovery: ${r.done.length} of ${r.total} sites restored, ${r.failed.length} failed, in ${seconds(r.elapsedMs)}`,
    ...r.failed.map((f) => `  FAILED ${f.site}: ${f.error}`),
  ].join('\n');
}

function farmCommand(): Command {
  const farm = new Command('farm')
    .description('disaster recovery: restore every site (or a list) onto the cluster and storage the workers now use')
    .option('--label <name>', 'names this recovery (its workflow ID); run again with the same label to resume', `dr-${new Date().toISOString().slice(0, 10)}`)
    .option('--sites-file <file>', 'only the sites in this file (one domain per line)')
    .option('--at <when>', 'latest, a date or an ISO timestamp, for every site', 'latest')
    .option('--concurrency <n>', 'restores running at once', '4')
    .option('--storage-host <target>', 'SSH target user@host[:port] of the new storage node (default: the workers\')')
    .option('--yes', 'confirm: restore every listed site onto the cluster and storage the workers point at (required)')
    .option('--force', 'also restore over sites whose database or docroot is not empty (a safety point of each is taken first)')
    .option('--wait', 'wait for the recovery and print its outcome')
    .option('--worker', 'run a drover-restore worker in this process meanwhile (implies --wait)')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(
          z.object({
            yes: z.boolean().optional(),
            force: z.boolean().optional(),
            label: z.string().regex(/^[A-Za-z0-9._-]{1,100}$/, 'letters, digits, . _ - (at most 100)'),
            sitesFile: z.string().optional(),
            at: atSchema,
            concurrency: z.coerce.number().int().min(1).max(64),
            storageHost: siteSchema.shape.storageHost.unwrap().optional(),
            wait: z.boolean().optional(),
            worker: z.boolean().optional(),
          }),
          raw,
        );
        const sites = o.sitesFile ? readSitesFile(o.sitesFile) : await withServices(g.stateDir, (deps) => listBackedUpSites(deps.s3, deps.bucket));
        if (!sites.length) throw new UsageError('--sites-file', 'the bucket holds no site backups: nothing to restore');
        // Every site's point, chosen once here and passed to the recovery: a site with none at or before --at is
        // found now, not halfway through a recovery.
        const target = parseRestoreAt(o.at);
        const points: Record<string, string> = {};
        const missing: string[] = [];
        await withServices(g.stateDir, async (deps) => {
          for (const s of sites) {
            const point = chooseRestorePoint(await listSiteRestorePoints(deps.s3, deps.bucket, { site: s, withTakenAt: target.kind === 'time' }), target);
            if (point) points[s] = point;
            else missing.push(s);
          }
        });
        if (missing.length) throw new UsageError(o.sitesFile ? '--sites-file' : '--at', `no complete restore point at or before ${o.at} for ${missing.length} site(s): ${missing.slice(0, 10).join(', ')}${missing.length > 10 ? ', …' : ''}`);
        // Checked last, so a mistaken command is told everything else that is wrong first; nothing has started yet.
        if (!o.yes) throw new UsageError('--yes', `a farm recovery restores ${sites.length} site(s) onto the cluster and storage the workers point at; confirm with --yes (targets that are not empty are refused unless --force)`);
        const workflowId = workflowIds.restoreFarm(o.label);
        return withTemporal(g.stateDir, async (client) => {
          if (o.wait && !o.worker) await requireWorker(client, 'restore');
          // Each site's restore holds its entity first, where one exists (sites made by `site create`, on drover-infra).
          const entities = await siteEntitiesUnpolled(client, sites);
          if (entities) {
            const n = entities.sites.length;
            const why = `the entities of ${n} of these sites run on (each restore holds its site's entity first: ${entities.sites.slice(0, 5).join(', ')}${n > 5 ? ', …' : ''})`;
            if (o.wait || o.worker) throw new NoWorkerError(entities.queue, why);
            process.stderr.write(`• no worker polls ${entities.name}, which ${why}: their restores wait for one (\`drover worker ${entities.queue}\`)\n`);
          }
          const { handle, attached } = await startOrAttach(client, restoreFarmWorkflow, { workflowId, taskQueue: TASK_QUEUES.restore, typedSearchAttributes: siteSearchAttributes(null, 'restore-farm'), args: [{ points, concurrency: o.concurrency, storageHost: o.storageHost ?? null, ...(o.force ? { force: true } : {}) }] });
          if (!o.wait && !o.worker) {
            return startedNotWaited(client, { stateDir: g.stateDir, queue: 'restore', workflowId, attached, data: { sites: sites.length }, idSuffix: ` (${sites.length} sites)`, lines: [`progress: drover restore farm-status --label ${o.label}`] });
          }
          const r = await waitOnWorker(client, { stateDir: g.stateDir, queue: 'restore', worker: Boolean(o.worker), workflowId }, () => handle.result());
          return { ok: r.failed.length === 0, data: { workflowId, result: r }, text: formatFarm(r) };
        });
      }),
    );
  return farm;
}

function farmStatusCommand(): Command {
  return new Command('farm-status')
    .description('progress of a farm recovery (by query: answered while it runs)')
    .requiredOption('--label <name>', 'the recovery\'s label')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const workflowId = workflowIds.restoreFarm(String(opts.label));
        return withTemporal(g.stateDir, async (client) => {
          const handle = client.workflow.getHandle<typeof restoreFarmWorkflow>(workflowId);
          let status: string;
          try {
            status = (await handle.describe()).status.name;
          } catch (err) {
            if (err instanceof WorkflowNotFoundError) throw new UsageError('--label', `no farm recovery labelled ${String(opts.label)}`);
            throw err;
          }
          // A running recovery answers the query through a restore worker (with none the query would wait for
          // ever: say which worker to start instead); a finished one is read from its result (no worker needed).
          let p: RestoreFarmProgress;
          if (status === 'RUNNING') {
            await requireWorker(client, 'restore');
            p = await handle.query(restoreFarmProgressQuery);
          } else if (status === 'COMPLETED') {
            const r = await handle.result();
            p = { total: r.total, done: r.done.length, failed: r.failed, running: [], remaining: 0, startedAt: r.startedAt };
          } else throw new Error(`${workflowId} is ${status}: start it again with the same --label to resume`);
          return { ok: true, data: { workflowId, status, progress: p }, text: `${workflowId} ${status}: ${p.done} of ${p.total} done, ${p.failed.length} failed, ${p.running.length} running (${p.running.join(', ') || '-'}), ${p.remaining} left` };
        });
      }),
    );
}

/**
 * `drover restore unlock <site>`: lets a site go that a restore no longer running still holds (a terminated restore
 * never reaches its `finally`): its restore lock row, and its entity's hold (`site/<domain>`, which a restore over the
 * live site takes too, and which otherwise refuses every later restore, create and delete of the site,
 * RestoreInProgress). A hold by a running restore is refused: cancel that restore instead.
 */
function unlockCommand(): Command {
  return new Command('unlock')
    .description('let a site go that a restore no longer running still holds (e.g. it was terminated): its restore lock and its entity\'s hold')
    .argument('<site>', 'the site (or side-by-side name) the lock is for')
    .action(
      action(async (_opts, cmd, [site]) => {
        const g = globals(cmd);
        const { locks, known } = await withServices(g.stateDir, async (deps) => ({ locks: await restoreLocks(deps.galera), known: await getSite(deps.galera, site) }));
        const lock = locks.find((l) => l.site === site);
        // Nothing to remove for a registered site; a name that is neither a site nor locked is a typo (the real lock stays).
        if (!lock && !known) throw new UsageError('site', `no site named ${site}, and no restore lock for it (locks held now: ${locks.map((l) => l.site).join(', ') || 'none'})`);
        return withTemporal(g.stateDir, async (client) => {
          const statusOf = (workflowId: string) =>
            client.workflow
              .getHandle(workflowId)
              .describe()
              .then(
                (d) => d.status.name as string,
                (err: unknown) => {
                  if (err instanceof WorkflowNotFoundError) return 'NOT_FOUND';
                  throw err;
                },
              );
          // The entity of a registered site: its hold is asked of it (a query, answered by a worker of its queue).
          const entity = client.workflow.getHandle(workflowIds.site(site));
          let entityHolder: string | null = null;
          if (known) {
            const unpolled = await siteEntityQueueUnpolled(client, site);
            if (unpolled) throw new NoWorkerError(unpolled.queue, `runs the entity of ${site} (it answers whether a restore holds the site)`);
            try {
              entityHolder = (await entity.query(siteStateQuery)).restoreHolder;
            } catch (err) {
              if (!(err instanceof WorkflowNotFoundError)) throw err;
            }
          }
          if (!lock && !entityHolder) return { ok: true, data: { site, unlocked: false }, text: `${site} has no restore lock` };
          const holder = lock?.holder ?? entityHolder!;
          const holders = [...new Set([holder, entityHolder].filter((h): h is string => h !== null))];
          const statuses = await Promise.all(holders.map(statusOf));
          const running = holders.find((_h, i) => statuses[i] === 'RUNNING');
          if (running) throw new UsageError('site', `${site} is locked by ${running}, which is running: cancel it (it releases the lock when it has undone its work)`);
          const status = statuses[0];
          // The entity first, then the lock row: a failed update (the entity's worker gone meanwhile) leaves both, and
          // running unlock again does the whole.
          let entityReleased = false;
          if (entityHolder) {
            const ended = statuses[holders.indexOf(entityHolder)].toLowerCase();
            entityReleased = (await entity.executeUpdate(endRestoreUpdate, { args: [{ holder: entityHolder, ok: false, error: `${entityHolder} ended (${ended}) without letting the site go: released by drover restore unlock` }] })).released;
          }
          if (lock) await withServices(g.stateDir, (deps) => releaseRestoreLock(deps.galera, site, lock.holder));
          const what = [lock ? 'the restore lock' : null, entityReleased ? "the site entity's hold" : null].filter(Boolean).join(' and ');
          if (!what) return { ok: true, data: { site, unlocked: false, holder, holderStatus: status, entityReleased }, text: `${site} has no restore lock (its entity let ${holder} go meanwhile)` };
          return {
            ok: true,
            data: { site, unlocked: true, holder, holderStatus: status, entityReleased },
            text: `removed ${what} of ${site} held by ${holder} (${status.toLowerCase()})`,
          };
        });
      }),
    );
}

export function restoreCommand(): Command {
  const restore = new Command('restore').description('disaster recovery: restore a site, drill restores, recover the farm');
  restore.addCommand(siteCommand());
  restore.addCommand(drillCommand());
  restore.addCommand(farmCommand());
  restore.addCommand(farmStatusCommand());
  restore.addCommand(unlockCommand());
  return restore;
}

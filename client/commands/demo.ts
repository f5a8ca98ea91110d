/**
 * `drover demo`: the main job on local defaults. Brings the real local environment up, then runs through the
 * real Temporal server what Drover can do so far, and prints a summary with the Web UI address:
 *   1. the smoke workflow against every service;
 *   2. a handful of generated WordPress sites, registered;
 *   3. one backup night (the same workflow the nightly Schedule runs), its restore points and retention plan;
 *   4. one demo site damaged on purpose, then restored to that night's point, with the measured RTO;
 *   5. a local cluster of three network-namespace nodes (root): swarm, labels, encrypted overlays, smoke stack.
 */
import { Command } from 'commander';
import { createSpacesActivities } from '../../activities/spaces';
import { devUp } from '../../lib/dev-env';
import { generateDemoSites } from '../../lib/dev-env/demo-sites';
import { dateOf, dayNumber, planRetention } from '../../lib/retention';
import { damageSite, siteFingerprint } from '../../lib/site-fingerprint';
import { TASK_QUEUES, workflowIds } from '../../workflows/lib/ids';
import type { NightlyBackupResult } from '../../workflows/nightly-backup';
import type { RestoreSiteResult } from '../../workflows/restore-site';
import type { ClusterBringUpResult } from '../../workflows/cluster-bring-up';
import { action, globals, progress } from '../output';
import { withServices } from '../services';
import { webUiLink, withTemporal } from '../temporal';
import { withOptionalWorker } from '../worker-option';
import { formatReport } from './dev';
import { formatPlan } from './retention';
import { clusterInputs, formatBringUp } from './cluster';
import { formatRestore } from './restore';
import { formatSites } from './site';
import { formatSmoke, runSmoke, smokeLabel } from './smoke';

export function demoCommand(): Command {
  return new Command('demo')
    .description('bring the local environment up and run Drover\'s workflows against it')
    .option('--sites <n>', 'demo sites to generate and back up', '3')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const log = progress(g.json);
        const count = Math.max(1, Math.min(50, Number(opts.sites) || 3));
        log(`starting the local environment in ${g.stateDir} (first run builds tools and initialises Galera)`);
        const env = await devUp({ stateDir: g.stateDir, portOffset: g.portOffset, log });
        if (!env.healthy) return { ok: false, data: { environment: env }, text: formatReport(env) + '\n\ndemo stopped: the environment is not healthy' };

        log('running the smoke workflow through Temporal with an in-process drover-infra worker');
        const smoke = await runSmoke(g.stateDir, `demo-${smokeLabel()}`, true);

        log(`generating ${count} WordPress sites (database on Galera, files on the storage host over SSH)`);
        const sites = await withServices(g.stateDir, (deps) => generateDemoSites(deps, g.stateDir, { count, prefix: 'demo', posts: 60, keepExisting: true, log }));

        const date = new Date().toISOString().slice(0, 10);
        const workflowId = `${workflowIds.nightlyBackup(date)}/demo-${smokeLabel()}`;
        log(`running one backup night (${workflowId}) with an in-process drover-backup worker`);
        const night = (await withTemporal(g.stateDir, (client) =>
          withOptionalWorker(g.stateDir, 'backup', true, () =>
            client.workflow.execute('nightlyBackupWorkflow', { workflowId, taskQueue: TASK_QUEUES.backup, args: [{ date, sites: sites.map((s) => s.domain), concurrency: 4 }] }),
          ),
        )) as NightlyBackupResult;

        const points = await withServices(g.stateDir, async (deps) => {
          const spaces = createSpacesActivities(deps);
          return Promise.all(sites.map(async (s) => ({ site: s.domain, points: await spaces.listRestorePoints({ site: s.domain }) })));
        });
        const plan = planRetention(points[0].points.map((p) => ({ date: p.date, complete: p.complete })), date);
        // What the same policy keeps of a full year of nightly points (dates only, an illustration of the policy).
        const year = Array.from({ length: 365 }, (_, i) => ({ date: dateOf(dayNumber(date) - i), complete: true }));
        const yearPlan = planRetention(year, date);

        const victim = sites[0];
        const before = await withServices(g.stateDir, (deps) => siteFingerprint(deps, victim));
        const damage = await withServices(g.stateDir, (deps) => damageSite(deps, victim));
        log(`damaged ${victim.domain} (${damage.join(', ')}); restoring it to ${date} with an in-process drover-restore worker`);
        const restoreId = `${workflowIds.restore(victim.domain, date)}/demo-${smokeLabel()}`;
        const restored = (await withTemporal(g.stateDir, (client) =>
          withOptionalWorker(g.stateDir, 'restore', true, () => client.workflow.execute('restoreSiteWorkflow', { workflowId: restoreId, taskQueue: TASK_QUEUES.restore, args: [{ site: victim.domain, at: date }] })),
        )) as RestoreSiteResult;
        const after = await withServices(g.stateDir, (deps) => siteFingerprint(deps, victim));
        const exact = after.database === before.database && after.files === before.files;

        // A subnet and farm name per environment (port offset), so the tests' demo never meets the developer's.
        const farm = `demo${g.portOffset || ''}`;
        log(`bringing up local cluster ${farm}: 3 network-namespace nodes, swarm, overlays, smoke stack (in-process drover-infra worker)`);
        const clusterInput = { ...(await clusterInputs(g.stateDir, { farm, subnet: `10.231.${g.portOffset % 250}.0/24` })), nodes: 3 };
        const cluster = (await withTemporal(g.stateDir, (client) =>
          withOptionalWorker(g.stateDir, 'infra', true, () => client.workflow.execute('clusterBringUpWorkflow', { workflowId: workflowIds.bringUp(farm), taskQueue: TASK_QUEUES.infra, args: [clusterInput] })),
        )) as ClusterBringUpResult;

        const text = [
          'Drover demo',
          '',
          formatReport(env),
          '',
          formatSmoke(smoke),
          '',
          `Sites (${sites.length}):`,
          formatSites(sites),
          '',
          `Backup night ${night.date}: ${night.created} created, ${night.alreadyComplete} already complete, ${night.failed.length} failed`,
          ...points.map((p) => `  ${p.site}: ${p.points.map((x) => `${x.date} ${x.complete ? 'complete' : 'INCOMPLETE'} ${(x.bytes / 1024).toFixed(0)} KiB`).join(', ')}`),
          `  history ${webUiLink(g.stateDir, workflowId) ?? workflowId}`,
          '',
          `Retention for ${points[0].site}:`,
          formatPlan(plan),
          `Of a year of nightly points the policy would keep ${yearPlan.keep} and delete ${yearPlan.delete} (14 daily + 26 weekly + 12 monthly, overlaps counted once).`,
          '',
          `Disaster recovery: ${victim.domain} damaged (${damage.join(', ')}), then restored:`,
          formatRestore(restored),
          `  ${exact ? 'database and files equal the backed-up state exactly' : 'MISMATCH: the restored site differs from the backed-up state'} (${after.tables} tables, files ${after.files.slice(0, 12)}…)`,
          `  history ${webUiLink(g.stateDir, restoreId) ?? restoreId}`,
          '',
          formatBringUp(cluster),
          `  history ${webUiLink(g.stateDir, workflowIds.bringUp(farm)) ?? workflowIds.bringUp(farm)}`,
          `  remove it with: drover down --farm ${farm} --yes`,
          '',
          `Watch every run in the Temporal Web UI: ${env.webUi}`,
          'The environment keeps running; stop it with `drover dev down`.',
        ].join('\n');
        return { ok: night.failed.length === 0 && exact && cluster.report.services.every((x) => x.running === x.desired), data: { environment: env, smoke, sites, backup: { workflowId, result: night, points }, retention: plan, restore: { workflowId: restoreId, result: restored, exact }, cluster }, text };
      }),
    );
}

/**
 * `drover demo`: the main job on local defaults. Brings the real local environment up, then runs through the
 * real Temporal server what Drover can do so far, and prints a summary with the Web UI address:
 *   1. the smoke workflow against every service;
 *   2. a handful of generated WordPress sites, registered;
 *   3. one backup night (the same workflow the nightly Schedule runs), its restore points and retention plan;
 *   4. one demo site damaged on purpose, then restored to that night's point, with the measured RTO;
 *   5. a local cluster of three network-namespace nodes (root): swarm, labels, encrypted overlays, smoke stack;
 *   6. a WordPress site created on that cluster (`site create` through its entity), with its URL and the curl
 *      that fetches it through the farm's front;
 *   7. a migration wave of three sites from a local old host into that cluster, paused and resumed once.
 */
import { runWorkflow } from '../run-workflow';
import { waitOnWorker } from '../worker-option';
import { Command } from 'commander';
import { z } from 'zod';
import { listSiteRestorePoints } from '../../lib/restore-points';
import { devUp } from '../../devkit/dev-env';
import { generateDemoSites } from '../../devkit/dev-env/demo-sites';
import { dateOf, dayNumber, planRetention } from '../../lib/retention';
import { damageSite, siteFingerprint } from '../../devkit/site-fingerprint';
import { workflowIds } from '../../lib/contract/ids';
import { clusterBringUpWorkflow, nightlyBackupWorkflow, restoreSiteWorkflow } from '../../workflows';
import { action, globals, parseOptions, progress } from '../output';
import { withServices } from '../services';
import { webUiLink, withTemporal } from '../temporal';
import { formatReport } from './dev';
import { formatPlan } from './retention';
import { clusterInputs, formatBringUp } from './cluster';
import { formatRestore } from './restore';
import { formatSites } from './site';
import { formatSmoke, runSmoke, smokeLabel } from './smoke';
import { createThroughEntity, frontAddress, webUiSiteLinks } from './site-lifecycle';
import { runDemoWave, type DemoWave } from './demo-wave';
import { formatProgress } from './migrate-wave';
import { buildWordpressImageTar, WORDPRESS_IMAGE, WORDPRESS_IMAGE_CHANGES } from '../../devkit/wordpress-image';
import { randomBytes } from 'node:crypto';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { mergedEnv } from '../../lib/env';
import { readFileSync } from 'node:fs';

/** Creates a Docker secret on a local cluster's manager unless it exists (its value never printed). */
async function ensureSecret(stateDir: string, manager: { ip: string; dockerSocket: string; hostKey: string }, name: string, value: string): Promise<void> {
  const env = mergedEnv(stateDir);
  const key = env.DROVER_SSH_KEY_FILE ? readFileSync(env.DROVER_SSH_KEY_FILE) : undefined;
  const d = createDockerClient({ host: `ssh://root@${manager.ip}:22${manager.dockerSocket}`, sshPrivateKey: key, sshPinnedHostKeys: [manager.hostKey] });
  try {
    const have = (await d.listSecrets({ filters: { name: [name] } })) as { Spec: { Name: string } }[];
    if (!have.some((s) => s.Spec.Name === name)) await d.createSecret({ Name: name, Data: Buffer.from(value).toString('base64') });
  } finally {
    closeDockerClient(d);
  }
}
import { farmSearchAttributes, siteSearchAttributes } from '../../lib/contract/search-attributes';

/** The demo wave's lines: what moved, the pause, where to watch it. */
function waveLines(w: { ok: boolean; error?: string } & Partial<DemoWave>, stateDir: string): string[] {
  if (!w.result) return [`Migration wave: FAILED: ${w.error}`];
  const id = workflowIds.migrationWave(w.wave!);
  return [
    `Migration wave ${w.wave} from a local old host (another table prefix, serialized options) into the cluster:`,
    formatProgress(w.result),
    `  paused once with ${w.pausedWith!.length ? w.pausedWith!.join(', ') : 'nothing'} in flight, then resumed`,
    ...w.domains!.map((d) => `  ${d}`),
    `  history ${webUiLink(stateDir, id) ?? id} (the Web UI lists its sites by DroverWave="${w.wave}")`,
  ];
}

export function demoCommand(): Command {
  return new Command('demo')
    .description('bring the local environment up and run Drover\'s workflows against it')
    .option('--sites <n>', 'demo sites to generate and back up', '3')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const log = progress(g.json);
        const count = parseOptions(z.object({ sites: z.string().regex(/^\d+$/, 'a whole number from 1 to 50').transform(Number).pipe(z.number().int().min(1).max(50)) }), { sites: opts.sites as string }).sites;
        log(`starting the local environment in ${g.stateDir} (first run builds tools and initialises Galera)`);
        const env = await devUp({ stateDir: g.stateDir, portOffset: g.portOffset, log });
        if (!env.healthy) return { ok: false, data: { environment: env }, text: formatReport(env) + '\n\ndemo stopped: the environment is not healthy' };

        log('running the smoke workflow through Temporal with an in-process drover-infra worker');
        const smoke = await runSmoke(g.stateDir, `demo-${smokeLabel()}`, true);

        log(`generating ${count} WordPress sites (database on Galera, files on the storage host over SSH)`);
        const sites = await withServices(g.stateDir, (deps) => generateDemoSites(deps, g.stateDir, { count, prefix: 'demo', posts: 60, keepExisting: true, log }));

        const date = new Date().toISOString().slice(0, 10);
        const workflowId = workflowIds.nightlyBackup(date);
        log(`running one backup night (${workflowId}) with an in-process drover-backup worker`);
        const night = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'backup', worker: true, workflow: nightlyBackupWorkflow, workflowId, searchAttributes: siteSearchAttributes(null, 'backup'), args: [{ date, sites: sites.map((s) => s.domain), concurrency: 4 }] }),
        );

        const points = await withServices(g.stateDir, async (deps) => {
          return Promise.all(sites.map(async (s) => ({ site: s.domain, points: await listSiteRestorePoints(deps.s3, deps.bucket, { site: s.domain }) })));
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
        // The night just backed up is the point: the demo made it, so there is nothing to choose.
        const restored = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'restore', worker: true, workflow: restoreSiteWorkflow, workflowId: restoreId, searchAttributes: siteSearchAttributes(victim.domain, 'restore'), args: [{ site: victim.domain, point: date }] }),
        );
        const after = await withServices(g.stateDir, (deps) => siteFingerprint(deps, victim));
        const exact = after.database === before.database && after.files === before.files;

        // A subnet and farm name per environment (port offset), so the tests' demo never meets the developer's.
        const farm = `demo${g.portOffset || ''}`;
        log(`bringing up local cluster ${farm}: 3 network-namespace nodes, swarm, overlays, smoke stack (in-process drover-infra worker)`);
        const base = await clusterInputs(g.stateDir, { farm, subnet: `10.231.${g.portOffset % 250}.0/24` });
        // The local WordPress image too (built once from Debian packages), for the demo's site.
        const clusterInput = { ...base, images: [...base.images, { image: WORDPRESS_IMAGE, tarPath: await buildWordpressImageTar({ log }), changes: WORDPRESS_IMAGE_CHANGES }], nodes: 3 };
        const cluster = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'infra', worker: true, workflow: clusterBringUpWorkflow, workflowId: workflowIds.bringUp(farm), searchAttributes: farmSearchAttributes(farm, 'bring-up'), args: [clusterInput] }),
        );

        // The object cache's password every site's service reads (the cache stack's secret on a farm).
        await ensureSecret(g.stateDir, cluster.nodes[0], 'redis_password', randomBytes(24).toString('base64url'));
        // A WordPress site created on that cluster through its entity workflow, served through the farm's front.
        const demoDomain = `demo${g.portOffset || ''}.drover.test`;
        log(`creating the site ${demoDomain} on ${farm} (database, user, secret, files, service, WordPress installed)`);
        const created = await withTemporal(g.stateDir, (client) =>
          waitOnWorker(client, { stateDir: g.stateDir, queue: 'infra', worker: true, workflowId: workflowIds.site(demoDomain) }, () =>
            createThroughEntity(client, { domain: demoDomain, phpVersion: '8.2', title: 'Drover demo site', adminEmail: `admin@${demoDomain}`, provider: 'local', farm, storageHost: null, image: WORDPRESS_IMAGE }),
          ),
        ).then(
          () => ({ ok: true as const }),
          (err: Error) => ({ ok: false as const, error: err.message }),
        );
        // A migration wave from a local old host into the same cluster, paused and resumed once.
        const wave = created.ok
          ? await runDemoWave({ stateDir: g.stateDir, portOffset: g.portOffset, farm, log }).then(
              (w) => ({ ok: w.result.state === 'done' && w.result.counts.migrated === w.domains.length, ...w }),
              (err: Error) => ({ ok: false as const, error: err.message }),
            )
          : { ok: false as const, error: 'not run: the demo site could not be created on the cluster' };
        const front = frontAddress(g.stateDir, demoDomain);
        const siteLines = created.ok
          ? [`Site ${demoDomain} created on ${farm}:`, `  URL  http://${demoDomain}/ (through the front at ${front.url ?? '(DROVER_SITE_CHECK_URL not set)'})`, `  see it: ${front.curl ?? '(no front configured)'}`, `  history ${webUiSiteLinks(g.stateDir, demoDomain).history ?? workflowIds.site(demoDomain)}`]
          : [`Site ${demoDomain}: creation FAILED: ${created.error}`];

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
          ...siteLines,
          '',
          ...waveLines(wave, g.stateDir),
          '',
          `Watch every run in the Temporal Web UI: ${env.webUi}`,
          'The environment keeps running; stop it with `drover dev down`.',
        ].join('\n');
        return { ok: night.failed.length === 0 && exact && cluster.report.services.every((x) => x.running === x.desired) && created.ok && wave.ok, data: { environment: env, smoke, sites, backup: { workflowId, result: night, points }, retention: plan, restore: { workflowId: restoreId, result: restored, exact }, cluster, site: { domain: demoDomain, ...created, front }, wave }, text };
      }),
    );
}

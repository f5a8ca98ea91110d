/**
 * `drover site create | delete | show`: a site's life through its entity workflow (`site/<domain>`). The CLI
 * checks the input (exit 2 naming the field, nothing started), starts the entity if it is not running, and sends
 * the operation as a Workflow Update: the entity refuses what conflicts (a delete during a restore) and runs the
 * rest one at a time.
 */
import { siteEntityStart } from '../../lib/contract/site-entity';
import { Command } from 'commander';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import { z } from 'zod';
import { normalizeDomain } from '../../lib/domain-input';
import { siteNames, LOCAL_WORDPRESS_IMAGE } from '../../lib/site-names';
import { createdSiteDifferences, getSite } from '../../lib/site-registry';
import { listSiteRestorePoints } from '../../lib/restore-points';
import { mergedEnv } from '../../lib/env';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { createSiteUpdate, deleteSiteUpdate, siteStateQuery, siteWorkflow, type CreateSiteRequest, type SiteEntityInput, type SiteEntityState } from '../../workflows/site';
import { action, globals, parseOptions, updateRefusal, UsageError } from '../output';
import { withServices } from '../services';
import { webUiLink, withTemporal } from '../temporal';
import { requireWorker, siteEntityQueueUnpolled, waitOnWorker } from '../worker-option';
import { formatTasks, siteTasksOnFarm, type NodesLookup } from './site-nodes';

const createSchema = z.object({
  php: z.string().regex(/^(7\.4|8\.[0-4])$/, 'a PHP version the image ships: 7.4 or 8.0–8.4, e.g. 8.2'),
  title: z.string().min(1, 'empty').max(200, 'at most 200 characters').refine((t) => !/[\u0000-\u001f\u007f]/.test(t), 'no control characters'),
  adminEmail: z.email('an e-mail address such as admin@example.com').max(100),
  farm: z.string().regex(/^[a-z][a-z0-9-]{0,20}$/, 'lower-case letters, digits and -, starting with a letter, at most 21'),
  provider: z.enum(['local', 'digitalocean']),
  storageHost: z.string().regex(/^(?:[^@\s]+@)?[^:\s@]+(?::\d+)?$/, 'an SSH target user@host[:port]').nullable(),
});
const FLAGS: Record<string, string> = { php: '--php', title: '--title', adminEmail: '--admin-email', farm: '--farm', provider: '--provider', storageHost: '--storage-host' };

/** The checked ASCII domain, or exit 2 naming the field. */
export function domainArgument(input: string): string {
  const d = normalizeDomain(input);
  if (!d.ok) throw new UsageError('domain', d.problem);
  return d.domain;
}

/** The front's address and the curl that fetches the site through it with its Host header. */
export function frontAddress(stateDir: string, domain: string): { url: string | null; curl: string | null } {
  const env = mergedEnv(stateDir);
  const front = env.DROVER_FRONT_URL ?? env.DROVER_SITE_CHECK_URL;
  if (!front) return { url: null, curl: null };
  return { url: front, curl: `curl -sS -H 'Host: ${domain}' ${new URL('/', front).toString()}` };
}

/** Creates a site through its entity (started if needed); a refusal becomes a UsageError or an Error. */
export async function createThroughEntity(client: Client, req: CreateSiteRequest) {
  const handle = await siteEntity(client, req.domain);
  return handle.executeUpdate(createSiteUpdate, { args: [req] }).catch(refusal);
}

/**
 * Starts the site's entity unless it runs (USE_EXISTING: the first caller starts it, the others attach); `options`
 * (a test's shorter front check or step timeouts) only count when this call starts it.
 */
export async function siteEntity(client: Client, domain: string, options: Omit<SiteEntityInput, 'domain' | 'state'> = {}) {
  return client.workflow.start(siteWorkflow, { ...siteEntityStart(domain, TASK_QUEUES.infra), args: [{ domain, ...options }] });
}

/**
 * An update the entity refused: bad input is exit 2 (nothing changed), a conflict (a restore running) exit 1. A field
 * the entity names by its request key (`farm: no cluster named …`) is named as the operator typed it (`--farm`).
 */
const refusal = (err: unknown): never => updateRefusal(err, 'domain', (k) => FLAGS[k] ?? k);

export function webUiSiteLinks(stateDir: string, domain: string): { history: string | null; entity: string | null } {
  const ui = mergedEnv(stateDir).DROVER_TEMPORAL_UI;
  return {
    history: ui ? `${ui}/namespaces/default/workflows?query=${encodeURIComponent(`DroverSite="${domain}"`)}` : null,
    entity: webUiLink(stateDir, workflowIds.site(domain)) ?? null,
  };
}

export function addSiteLifecycleCommands(site: Command): void {
  site
    .command('create')
    .description('create a WordPress site on the farm: database and user, files, service, cache rules, WordPress installed (idempotent)')
    .argument('<domain>', 'the site\'s domain (Unicode allowed: stored as IDNA ASCII)')
    .option('--php <version>', 'PHP version of its image', '8.2')
    .option('--title <title>', 'the site\'s title (default: the domain)')
    .option('--admin-email <email>', 'the WordPress admin\'s e-mail (default: admin@<domain>)')
    .option('--farm <name>', 'the cluster it runs on', 'local')
    .option('--provider <provider>', 'the cluster\'s provider: local or digitalocean', 'local')
    .option('--storage-host <target>', 'SSH target of the storage node (default: the worker\'s)')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (opts, cmd, [raw]) => {
        const g = globals(cmd);
        const domain = domainArgument(raw);
        // Defaults from the domain where they fit: WordPress keeps an e-mail in 100 characters (wp_users.user_email);
        // a long domain needs --admin-email, and its title defaults to the first label.
        if (!opts.adminEmail && `admin@${domain}`.length > 100) throw new UsageError('--admin-email', `admin@${domain.slice(0, 20)}… would be ${domain.length + 6} characters; WordPress keeps at most 100: give one`);
        const title = (opts.title as string | undefined) ?? (domain.length <= 200 ? domain : domain.split('.')[0]);
        const o = parseOptions(createSchema, { php: opts.php, title, adminEmail: opts.adminEmail ?? `admin@${domain}`, farm: opts.farm, provider: opts.provider, storageHost: (opts.storageHost as string | undefined) ?? null }, (k) => FLAGS[k] ?? k);
        const n = siteNames(domain);
        const req: CreateSiteRequest = { domain, phpVersion: o.php, title: o.title, adminEmail: o.adminEmail, provider: o.provider, farm: o.farm, storageHost: o.storageHost, ...(o.provider === 'local' ? { image: LOCAL_WORDPRESS_IMAGE } : {}) };
        // An existing site with other parameters: exit 2 before anything starts.
        await withServices(g.stateDir, async (deps) => {
          const existing = await getSite(deps.galera, domain);
          if (!existing || existing.status === 'deleted') return;
          const diff = createdSiteDifferences(existing, { ...req, database: n.database, dbUser: n.dbUser, filesPath: n.docroot });
          if (diff.length) throw new UsageError('domain', `${domain} already exists with other parameters: ${diff.join(', ')}`);
        });
        const workflowId = workflowIds.site(domain);
        const r = await withTemporal(g.stateDir, (client) =>
          waitOnWorker(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(opts.worker), workflowId }, () => createThroughEntity(client, req)),
        );
        const front = frontAddress(g.stateDir, domain);
        const links = webUiSiteLinks(g.stateDir, domain);
        const already = 'alreadyCreated' in r;
        return {
          ok: true,
          data: { site: { domain, database: n.database, dbUser: n.dbUser, stack: n.stack, filesPath: n.docroot }, alreadyCreated: already, result: r, front, links },
          text: [
            `${already ? 'already created' : 'created'} ${domain}: database ${n.database}, user ${n.dbUser}, stack ${n.stack}, files ${n.docroot}`,
            ...(front.curl ? [`  through the front: ${front.curl}`] : []),
            `  history ${links.history ?? links.entity ?? workflowId}`,
          ].join('\n'),
        };
      }),
    );

  site
    .command('delete')
    .description('delete a site Drover created: a final restore point first, then service, user, secret, database and files')
    .argument('<domain>', 'the site\'s domain')
    .option('--yes', 'confirm')
    .option('--provider <provider>', 'the cluster\'s provider: local or digitalocean (default: the one the site was created on)')
    .option('--worker', 'run a drover-infra worker in this process meanwhile (the final restore point still needs a drover-backup worker)')
    .action(
      action(async (opts, cmd, [raw]) => {
        const g = globals(cmd);
        const domain = domainArgument(raw);
        if (opts.provider !== undefined && opts.provider !== 'local' && opts.provider !== 'digitalocean') throw new UsageError('--provider', 'local or digitalocean');
        await withServices(g.stateDir, async (deps) => {
          const s = await getSite(deps.galera, domain);
          if (!s || s.status === 'deleted') throw new UsageError('domain', `unknown site ${domain}`);
          if (!s.dbUser) throw new UsageError('domain', `${domain} was registered (drover site add), not created by Drover; remove it by hand`);
        });
        if (!opts.yes) throw new UsageError('--yes', `deleting ${domain} removes its service, database, user and files (after a final restore point); add --yes to confirm`);
        const workflowId = workflowIds.site(domain);
        const r = await withTemporal(g.stateDir, async (client) => {
          // The final restore point is a site backup on drover-backup: refused now, before anything changes, when
          // no backup worker polls (the delete would wait on it forever).
          await requireWorker(client, 'backup');
          return waitOnWorker(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(opts.worker), workflowId }, async () => {
            const handle = await siteEntity(client, domain);
            // The cluster the site was created on, as its entity recorded it: another --provider would take the final
            // point and then fail to find the cluster, leaving the site half deleted.
            const created = (await handle.query(siteStateQuery)).spec?.provider;
            if (opts.provider && created && opts.provider !== created) throw new UsageError('--provider', `${domain} was created on a ${created} cluster, not ${String(opts.provider)}`);
            const provider = (opts.provider ?? created ?? 'local') as 'local' | 'digitalocean';
            return handle.executeUpdate(deleteSiteUpdate, { args: [{ domain, provider }] }).catch(refusal);
          });
        });
        return {
          ok: true,
          data: { deleted: r },
          text: [`deleted ${domain}; final restore point ${r.finalPoint ?? '(none: it was never fully created)'}`, ...r.removed.map((x) => `  removed ${x}`), ...(r.finalPoint ? [`  bring it back: drover restore site ${domain} --at ${r.finalPoint} --wait`] : [])].join('\n'),
        };
      }),
    );

  site
    .command('show')
    .description('one site: state, the nodes its tasks run on, database, files, last restore point, last operation, the front\'s address, its history in the Web UI')
    .argument('<domain>', 'the site\'s domain')
    .option('--provider <provider>', 'the cluster\'s provider when its entity does not say: local or digitalocean', 'local')
    .action(
      action(async (opts, cmd, [raw]) => {
        const g = globals(cmd);
        const domain = domainArgument(raw);
        const provider = providerOption(opts.provider);
        const { record, points } = await withServices(g.stateDir, async (deps) => ({
          record: await getSite(deps.galera, domain),
          points: await listSiteRestorePoints(deps.s3, deps.bucket, { site: domain }),
        }));
        if (!record) throw new UsageError('domain', `unknown site ${domain}`);
        const stack = siteNames(domain).stack;
        const { entity, entityUnknown, nodes } = await withTemporal(g.stateDir, async (client) => {
          let entity: SiteEntityState | null = null;
          let entityUnknown: string | undefined;
          // A query is answered by a worker of the entity's queue: with none polling it would wait for ever.
          const unpolled = await siteEntityQueueUnpolled(client, domain);
          if (unpolled) {
            entityUnknown = `no worker polls ${unpolled.name}: the site's entity answers once one does (\`drover worker ${unpolled.queue}\`)`;
            process.stderr.write(`• ${entityUnknown}\n`);
          } else {
            try {
              entity = await client.workflow.getHandle(workflowIds.site(domain)).query(siteStateQuery);
            } catch (err) {
              if (!(err instanceof WorkflowNotFoundError)) throw err;
            }
          }
          const nodes: NodesLookup = record.farm && record.status !== 'deleted'
            ? await siteTasksOnFarm(client, { stateDir: g.stateDir, provider: entity?.spec?.provider ?? provider, farm: record.farm, stacks: [stack], site: domain })
            : { tasks: null, unknown: record.farm ? 'deleted: nothing runs' : 'registered, not created by Drover: no service of its own' };
          return { entity, entityUnknown, nodes };
        });
        const tasks = nodes.tasks?.[stack] ?? null;
        const last = points.filter((p) => p.complete).at(-1) ?? null;
        const front = frontAddress(g.stateDir, domain);
        const links = webUiSiteLinks(g.stateDir, domain);
        const lastOp = entity?.last ? `${entity.last.name} ${entity.last.outcome} at ${entity.last.finishedAt} (${entity.last.workflowId})` : (record.lastOperation ?? 'none recorded');
        const check = entity?.front;
        return {
          ok: true,
          data: { site: record, entity, ...(entityUnknown ? { entityUnknown } : {}), nodes: tasks, ...(nodes.unknown ? { nodesUnknown: nodes.unknown } : {}), lastRestorePoint: last, front: { ...front, backend: check ?? null }, links },
          text: [
            `${domain}  ${record.status}${entity?.running ? ` (running: ${entity.running.name} ${entity.running.workflowId})` : ''}`,
            `  nodes     ${tasks ? formatTasks(tasks) : `unknown (${nodes.unknown})`}`,
            `  database  ${record.database}${record.dbUser ? ` (user ${record.dbUser})` : ''}`,
            `  files     ${record.storageHost ?? '(default storage)'}:${record.filesPath}`,
            ...(record.farm ? [`  farm      ${record.farm}, PHP ${record.phpVersion}, stack ${stack}`] : []),
            `  last restore point  ${last ? `${last.date} (${(last.bytes / 1024).toFixed(0)} KiB)` : 'none'}`,
            `  last operation      ${lastOp}`,
            ...(entityUnknown ? [`  entity    unknown (${entityUnknown})`] : []),
            `  front     ${front.url ?? '(DROVER_FRONT_URL / DROVER_SITE_CHECK_URL not set)'}${front.curl ? `: ${front.curl}` : ''}`,
            ...(check ? [`  backend   ${check.address}:${check.port} on ${check.node}, checked ${check.checkedAt}${check.moves ? `, moved ${check.moves}×` : ''}${check.error ? ` (last check failed: ${check.error})` : ''}`] : []),
            `  history   ${links.history ?? links.entity ?? workflowIds.site(domain)}`,
          ].join('\n'),
        };
      }),
    );
}

/** --provider: local or digitalocean, else exit 2. */
export function providerOption(v: unknown): 'local' | 'digitalocean' {
  if (v !== 'local' && v !== 'digitalocean') throw new UsageError('--provider', 'local or digitalocean');
  return v;
}

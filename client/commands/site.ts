/** `drover site add | list`: the site registry every nightly backup covers. */
import { runWorkflow } from '../run-workflow';
import { Command } from 'commander';
import { getSite, listSites, siteSchema, type SiteRecord } from '../../lib/site-registry';
import { registerSiteWorkflow } from '../../workflows/site-registration';
import { workflowIds } from '../../lib/contract/ids';
import { action, globals, parseOptions, UsageError, workflowInputRefusal } from '../output';
import { withServices } from '../services';
import { withTemporal } from '../temporal';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { siteNames } from '../../lib/site-names';
import { addSiteLifecycleCommands, frontAddress, providerOption } from './site-lifecycle';
import { formatTasks, siteTasksOnFarm, type NodesLookup } from './site-nodes';

const FLAGS: Record<string, string> = { domain: 'domain', database: '--db', filesPath: '--files', storageHost: '--storage-host', tablePrefix: '--table-prefix' };

export function formatSites(sites: SiteRecord[]): string {
  if (!sites.length) return 'no sites registered';
  return sites
    .map((s) => `${s.domain.padEnd(32)} db=${s.database} prefix=${s.tablePrefix} files=${s.storageHost ?? '(default storage)'}:${s.filesPath}${s.farm ? ` farm=${s.farm} php=${s.phpVersion}` : ''}${s.status === 'active' ? '' : ` [${s.status}]`}${s.lastOperation ? ` last=${s.lastOperation}` : ''}`)
    .join('\n');
}

export function siteCommand(): Command {
  const site = new Command('site').description('the site registry (backups, migrations and site creation all use it)');
  site
    .command('add')
    .description('register an existing site (idempotent: re-adding updates it)')
    .argument('<domain>', 'the site\'s domain, e.g. shop.example.com')
    .requiredOption('--db <database>', 'its MariaDB database')
    .requiredOption('--files <path>', 'its docroot on the storage node (absolute path)')
    .option('--storage-host <target>', 'SSH target of the storage node, user@host[:port] (default: the worker\'s)')
    .option('--table-prefix <prefix>', 'WordPress $table_prefix (default: read from its wp-config.php; wp_ if it has none yet)')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (opts, cmd, [domain]) => {
        const g = globals(cmd);
        const s = parseOptions(siteSchema, { domain, database: opts.db, filesPath: opts.files, storageHost: opts.storageHost ?? null, ...(opts.tablePrefix ? { tablePrefix: opts.tablePrefix } : {}) }, (k) => FLAGS[k] ?? k);
        const workflowId = workflowIds.siteRegistration(s.domain);
        const record = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(opts.worker), workflow: registerSiteWorkflow, workflowId, searchAttributes: siteSearchAttributes(s.domain, 'register'), args: [s] }),
        ).catch((err: unknown) => {
          // Its one activity reads the table prefix before it writes: a prefix it cannot read is --table-prefix's.
          throw workflowInputRefusal(err, { tablePrefix: '--table-prefix' }, { activity: true }) ?? err;
        });
        return { ok: true, data: { site: record }, text: `registered ${formatSites([record])}` };
      }),
    );
  site
    .command('list')
    .description('list registered sites, with the nodes the created ones run on and the front\'s address')
    .option('--all', 'include deleted sites')
    .option('--provider <provider>', 'the clusters\' provider: local or digitalocean', 'local')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const provider = providerOption(opts.provider);
        const sites = await withServices(g.stateDir, (deps) => listSites(deps.galera, { includeDeleted: Boolean(opts.all) }));
        // One lookup per farm for all its created sites (sites only registered have no service of their own).
        const farms = new Map<string, string[]>();
        for (const s of sites) if (s.farm && s.status !== 'deleted') farms.set(s.farm, [...(farms.get(s.farm) ?? []), siteNames(s.domain).stack]);
        const lookups = new Map<string, NodesLookup>();
        if (farms.size) {
          await withTemporal(g.stateDir, async (client) => {
            // Side by side: each lookup waits a bounded time, so the list waits that long at most, not once per farm.
            await Promise.all([...farms].map(async ([farm, stacks]) => lookups.set(farm, await siteTasksOnFarm(client, { stateDir: g.stateDir, provider, farm, stacks }))));
          });
        }
        const rows = sites.map((s) => {
          const l = s.farm ? lookups.get(s.farm) : undefined;
          const nodes = l?.tasks?.[siteNames(s.domain).stack] ?? null;
          return { ...s, nodes, ...(l?.unknown ? { nodesUnknown: l.unknown } : {}), front: s.farm && s.status !== 'deleted' ? frontAddress(g.stateDir, s.domain) : null };
        });
        const text = sites.length
          ? rows.map((r) => [formatSites([r]), ...(r.front ? [`    nodes: ${r.nodes ? formatTasks(r.nodes) : `unknown (${r.nodesUnknown})`}`, ...(r.front.curl ? [`    front: ${r.front.curl}`] : [])] : [])].join('\n')).join('\n')
          : formatSites(sites);
        return { ok: true, data: { sites: rows }, text };
      }),
    );
  addSiteLifecycleCommands(site);
  return site;
}

/** Exit 2 unless every named site is registered (so a typo starts nothing). */
export async function requireSites(stateDir: string, domains: string[]): Promise<void> {
  if (!domains.length) return;
  await withServices(stateDir, async (deps) => {
    for (const d of domains) {
      const s = await getSite(deps.galera, d);
      if (!s || s.status === 'deleted') throw new UsageError('--site', `unknown site ${d}`);
    }
  });
}

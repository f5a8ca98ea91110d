/** `drover site add | list`: the site registry every nightly backup covers. */
import { Command } from 'commander';
import { getSite, listSites, siteSchema, type SiteRecord } from '../../lib/site-registry';
import { TASK_QUEUES, workflowIds } from '../../workflows/lib/ids';
import { action, globals, parseOptions, UsageError } from '../output';
import { withServices } from '../services';
import { withTemporal } from '../temporal';
import { withOptionalWorker } from '../worker-option';

const FLAGS: Record<string, string> = { domain: 'domain', database: '--db', filesPath: '--files', storageHost: '--storage-host' };

export function formatSites(sites: SiteRecord[]): string {
  if (!sites.length) return 'no sites registered';
  return sites.map((s) => `${s.domain.padEnd(32)} db=${s.database} files=${s.storageHost ?? '(default storage)'}:${s.filesPath}${s.status === 'active' ? '' : ` [${s.status}]`}`).join('\n');
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
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (opts, cmd, [domain]) => {
        const g = globals(cmd);
        const s = parseOptions(siteSchema, { domain, database: opts.db, filesPath: opts.files, storageHost: opts.storageHost ?? null }, (k) => FLAGS[k] ?? k);
        const record = await withTemporal(g.stateDir, (client) =>
          withOptionalWorker(g.stateDir, 'infra', Boolean(opts.worker), () =>
            client.workflow.execute('registerSiteWorkflow', { workflowId: workflowIds.siteRegistration(s.domain), taskQueue: TASK_QUEUES.infra, args: [s] }) as Promise<SiteRecord>,
          ),
        );
        return { ok: true, data: { site: record }, text: `registered ${formatSites([record])}` };
      }),
    );
  site
    .command('list')
    .description('list registered sites')
    .option('--all', 'include deleted sites')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const sites = await withServices(g.stateDir, (deps) => listSites(deps.galera, { includeDeleted: Boolean(opts.all) }));
        return { ok: true, data: { sites }, text: formatSites(sites) };
      }),
    );
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

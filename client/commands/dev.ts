/** `drover dev up | down | status`: the real local environment. */
import { Command } from 'commander';
import { DEFAULT_LOCAL_NODES_DIR, mergedEnv } from '../../lib/env';
import { runningLocalFarms } from '../../lib/local-farms';
import { devDown, devStatus, devUp, PART_NAMES, type DevEnvReport, type PartName } from '../../devkit/dev-env';
import { z } from 'zod';
import { generateDemoSites } from '../../devkit/dev-env/demo-sites';
import { action, globals, parseOptions, progress, UsageError } from '../output';
import { withServices } from '../services';
import { formatSites } from './site';

function parts(list: string[] | undefined): PartName[] | undefined {
  for (const p of list ?? []) {
    if (!(PART_NAMES as readonly string[]).includes(p)) throw new UsageError('--only', `unknown part "${p}" (known: ${PART_NAMES.join(', ')})`);
  }
  return list as PartName[] | undefined;
}

export function formatReport(r: DevEnvReport): string {
  const lines = [`state: ${r.stateDir}`];
  for (const p of r.parts) {
    lines.push(`${p.healthy ? 'ok  ' : 'DOWN'} ${p.name.padEnd(9)} ${p.endpoint}${p.error ? `  — ${p.error}` : ''}`);
    const nodes = (p.detail as { nodes?: { node: string; healthy: boolean; state: string | null; clusterSize: number | null }[] } | undefined)?.nodes;
    for (const n of nodes ?? []) lines.push(`       ${n.healthy ? 'ok  ' : 'DOWN'} ${n.node} state=${n.state ?? '-'} size=${n.clusterSize ?? '-'}`);
    if (!p.healthy && p.logTail) lines.push(...p.logTail.split('\n').slice(-8).map((x) => `       | ${x}`));
  }
  lines.push(`Temporal Web UI: ${r.webUi}`);
  return lines.join('\n');
}

export function devCommand(): Command {
  const dev = new Command('dev').description('start, stop and inspect the real local environment (Temporal, Galera, S3, sshd, dockerd, the Varnish front)');
  const only = (c: Command) => c.option('--only <parts...>', `limit to some parts (${PART_NAMES.join(', ')})`);

  only(dev.command('up').description('start every part (idempotent: running parts are left alone, stopped ones rejoin)')).action(
    action(async (opts, cmd) => {
      const g = globals(cmd);
      const r = await devUp({ stateDir: g.stateDir, portOffset: g.portOffset, log: progress(g.json) }, parts(opts.only as string[]));
      return { ok: r.healthy, data: r, text: formatReport(r) };
    }),
  );
  only(dev.command('down').description('stop every part (state is kept; `up` resumes it)')).action(
    action(async (opts, cmd) => {
      const g = globals(cmd);
      const r = await devDown({ stateDir: g.stateDir, portOffset: g.portOffset }, parts(opts.only as string[]));
      const stopped = r.parts.every((p) => !p.running);
      // Local farms (`drover up --provider local`) are not the environment's: they run on, and are named here.
      const localFarms = runningLocalFarms(mergedEnv(g.stateDir).DROVER_LOCAL_NODES_DIR ?? DEFAULT_LOCAL_NODES_DIR);
      for (const f of localFarms) process.stderr.write(`• local farm ${f.farm} still runs (${f.nodes.join(', ')}): dev down leaves it; remove it with \`drover down --farm ${f.farm} --yes\` while the environment is up\n`);
      return { ok: stopped, data: { ...r, localFarms }, text: stopped ? 'local environment stopped' : formatReport(r) };
    }),
  );
  only(dev.command('status').description('report each part\'s endpoint and health (exit 1 if any part is unhealthy)')).action(
    action(async (opts, cmd) => {
      const g = globals(cmd);
      const r = await devStatus({ stateDir: g.stateDir, portOffset: g.portOffset }, parts(opts.only as string[]));
      return { ok: r.healthy, data: r, text: formatReport(r) };
    }),
  );
  dev
    .command('sites')
    .description('generate N realistic WordPress sites (database + files) on the local environment and register them')
    .option('--count <n>', 'how many sites', '3')
    .option('--prefix <name>', 'domain prefix (site001.demo.drover.test …)', 'site')
    .option('--posts <n>', 'posts per site', '40')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(z.object({ count: z.coerce.number().int().min(1).max(1000), prefix: z.string().regex(/^[a-z][a-z0-9-]{0,20}$/, 'lower-case letters, digits, dashes'), posts: z.coerce.number().int().min(1).max(100_000) }), raw);
        const sites = await withServices(g.stateDir, (deps) => generateDemoSites(deps, g.stateDir, { count: o.count, prefix: o.prefix, posts: o.posts, log: progress(g.json) }));
        return { ok: true, data: { sites }, text: formatSites(sites) };
      }),
    );
  return dev;
}

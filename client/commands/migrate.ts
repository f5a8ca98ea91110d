/**
 * `drover migrate check --file F` and `drover migrate site --file F --domain D`: migrations from old hosts
 * (issue 15). The file is validated here (every problem with its line and field, exit 2, nothing started), then
 * against the farm (a domain already on it is refused), then on a migration worker (password files readable
 * there, old hosts reachable, WordPress found): only then does anything start.
 */
import { runWorkflow } from '../run-workflow';
import { Command } from 'commander';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { normalizeDomain } from '../../lib/domain-input';
import { migrateCheckWorkflow, type MigrateCheckResult } from '../../workflows/migrate-check';
import { migrateSiteWorkflow, type MigrateSiteResult } from '../../workflows/migrate-site';
import { action, globals, UsageError } from '../output';
import { farmProblems, parseCutover, parseTarget, readRows, refuse, toRef, withTargetOptions } from './migration-file';
import { addWaveCommands, planCommand, waveCommand } from './migrate-wave';
import { withTemporal } from '../temporal';
import { requireWorker, waitOnWorker, warnWithoutWorker } from '../worker-option';
import { wholeNumber } from '../option-schemas';
import { checkTargetFarm } from './site-nodes';

export function migrateCommand(): Command {
  const migrate = new Command('migrate').description('migrate sites from their old hosts into the farm (CSV or YAML input)');
  migrate
    .command('check')
    .description('validate a migration file: columns, domains, duplicates, sites already on the farm, and (on a migration worker) password files and old hosts')
    .requiredOption('--file <file>', 'CSV (header domain,source_ssh,…) or YAML migration file')
    .option('--worker', 'run a drover-migrate worker in this process meanwhile')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const { file, rows, hash } = readRows(opts.file);
        const onFarm = await farmProblems(g.stateDir, rows);
        if (onFarm.length) refuse(file, onFarm);
        const workflowId = workflowIds.migrateCheck(hash);
        // The file's wave, when all its rows are of one: the check is then found with the wave's other workflows.
        const waves = [...new Set(rows.map((row) => row.wave))];
        const r: MigrateCheckResult = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, {
            stateDir: g.stateDir,
            queue: 'migrate',
            worker: Boolean(opts.worker),
            workflow: migrateCheckWorkflow,
            workflowId,
            searchAttributes: siteSearchAttributes(rows.length === 1 ? rows[0].domain : null, 'migrate-check', waves.length === 1 ? { wave: waves[0] } : {}),
            args: [{ rows: rows.map((row) => ({ ...toRef(row), line: row.line })) }],
          }),
        );
        if (r.problems.length) refuse(file, r.problems);
        const text = r.checked.map((c) => `${c.domain.padEnd(32)} prefix=${c.preflight.tablePrefix} files=${c.preflight.files} (${c.preflight.bytes} B) db=${c.preflight.db.tables} tables ${c.preflight.db.version}${c.preflight.db.toMap.length ? ` collations to map: ${c.preflight.db.toMap.join(', ')}` : ''} php=${c.preflight.phpVersion ?? '?'}`);
        return { ok: true, data: { file, sites: r.checked }, text: [`${file}: ${rows.length} site(s) ready to migrate`, ...text].join('\n') };
      }),
    );
  withTargetOptions(migrate.command('site'))
    .description('migrate one site of a migration file (workflow migrate/<wave>/<domain> on drover-migrate)')
    .requiredOption('--file <file>', 'CSV or YAML migration file')
    .requiredOption('--domain <domain>', 'the row to migrate')
    .option('--bwlimit <KiB/s>', 'limit the file copy\'s bandwidth on the old host\'s link (rsync --bwlimit)')
    .option('--wait', 'wait for the migration and print its steps')
    .option('--worker', 'run a drover-migrate worker in this process meanwhile (implies --wait)')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        // KiB/s, up to 10 GiB/s (rsync's own limit is far above any link).
        const bw = opts.bwlimit === undefined ? undefined : wholeNumber(opts.bwlimit, '--bwlimit', 10 * 1024 * 1024);
        const { file, rows } = readRows(opts.file);
        const d = normalizeDomain(String(opts.domain ?? ''));
        if (!d.ok) throw new UsageError('--domain', d.problem);
        const row = rows.find((r) => r.domain === d.domain);
        if (!row) throw new UsageError('--domain', `${d.domain} is not in ${file}`);
        const onFarm = await farmProblems(g.stateDir, [row]);
        if (onFarm.length) refuse(file, onFarm);
        const target = parseTarget(opts);
        const cutover = parseCutover(opts, target, g.stateDir);
        const workflowId = workflowIds.migrate(row.wave, row.domain);
        return withTemporal(g.stateDir, async (client) => {
          // A --farm naming no cluster: refused now, not at the create step after the copy.
          if (target) await checkTargetFarm(client, { stateDir: g.stateDir, provider: target.provider, farm: target.farm });
          // Waiting with no worker would start a migration nobody runs: refused before it starts (as restores are).
          if (opts.wait && !opts.worker) await requireWorker(client, 'migrate');
          const handle = await client.workflow.start(migrateSiteWorkflow, {
            workflowId,
            taskQueue: TASK_QUEUES.migrate,
            args: [{ source: toRef(row), ...(bw ? { bandwidthLimitKBps: bw } : {}), ...(target ? { target } : {}), ...(cutover ? { cutover } : {}) }],
            typedSearchAttributes: siteSearchAttributes(row.domain, 'migrate', { wave: row.wave }),
          });
          if (!opts.wait && !opts.worker) {
            await warnWithoutWorker(client, 'migrate');
            return { ok: true, data: { workflowId, runId: handle.firstExecutionRunId }, text: `started ${workflowId}` };
          }
          const r: MigrateSiteResult = await waitOnWorker(client, { stateDir: g.stateDir, queue: 'migrate', worker: Boolean(opts.worker), workflowId }, () => handle.result());
          return {
            ok: true,
            data: r,
            text: [
              `${workflowId}: ${r.step} (${r.done.join(' → ')})`,
              `files: ${r.files?.copied.files} (${r.files?.copied.bytes} B) in ${r.filesPath}`,
              `database: ${r.database?.tables} tables in ${r.stagingDb}${Object.keys(r.database?.mapped ?? {}).length ? `, collations mapped: ${Object.keys(r.database!.mapped).join(', ')}` : ''}`,
              `urls: ${r.fromUrl} → ${r.toUrl}, rows changed: ${(r.rewrite ?? []).reduce((n, t) => n + (t.status === 'rewritten' ? t.rowsChanged : 0), 0)}`,
              ...(r.rewrite ?? []).filter((t) => t.status === 'refused' || t.rowsChanged > 0).map((t) => (t.status === 'refused' ? `  ${t.table}: refused (${t.reason})` : `  ${t.table}: ${t.rowsChanged} of ${t.rowsScanned} rows scanned changed`)),
              ...(r.verified
                ? [
                    `site: ${r.domain} in ${r.site?.database} (${r.moved?.files} files in ${r.site?.docroot}), wp-config.php adapted`,
                    ...(r.cutover?.switched ? [`cutover: ${r.domain} A → ${r.cutover.farmIp} (${r.cutover.farmIpFrom}), TTL ${r.cutover.ttlSeconds} s (was ${r.cutover.before.ip ?? 'no A record'}, TTL ${r.cutover.before.ttl ?? '-'} s); the source was frozen for the final sync and is open again`] : []),
                    `verified: ${r.verified.tables} tables (${r.verified.tablesRewritten} rewritten, the others equal to the source), ${r.verified.programs} triggers/views/routines, ${r.verified.files} files, ${r.verified.administrators} administrator(s), home page ${r.verified.page.status} through the front`,
                  ]
                : []),
            ].join('\n'),
          };
        });
      }),
    );
  migrate.addCommand(planCommand());
  migrate.addCommand(waveCommand());
  addWaveCommands(migrate);
  return migrate;
}

/**
 * Migration-wave benchmark (issue 16, docs/benchmarks.md), on one machine, measured side by side in one run:
 *  - a wave of small sites (WordPress-shaped databases of a few posts, a 16 KiB upload each) from a local old host
 *    (its own sshd and mariadbd, devkit/old-host), staged on the local environment by `drover migrate wave start
 *    --stage-only --wait` (files by rsync onto storage, the database dumped on the old host, loaded into a staging
 *    database, URLs rewritten, verified), at several concurrencies;
 *  - the same copy + load done by hand for a sample of the sites (rsync over ssh, mysqldump over ssh | mariadb),
 *    one after another: Drover's overhead per site is its per-site time at concurrency 1 against this;
 *  - pause: a wave at concurrency 5 paused mid-way by `drover migrate wave pause`; from the wave's history, the
 *    child starts after the pause's acknowledgement (goal: none) and the sites in flight at that moment.
 * The sites are staged, not started: 500 WordPress services do not fit on this machine, and the wave's own path
 * (copy, load, rewrite, verify, record) is what is measured.
 *   npx vite-node bench/migrate/run.ts -- --sites 500 --concurrency 5,20 --c1-sites 50 --raw-sites 20
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { devUp } from '../../devkit/dev-env';
import { startOldHost, type LegacySite, type OldHost } from '../../devkit/old-host';
import { droverDataConverter } from '../../lib/data-converter';
import { mergedEnv, parseEnv, workerEnvSchema } from '../../lib/env';
import { scratchDatabaseNames } from '../../lib/scratch-names';
import { siteNames } from '../../lib/site-names';
import { waveProgressQuery, type WaveProgress } from '../../workflows/migration-wave';
import { runMain, sh } from '../lib/shell';
import { text, whole } from '../lib/args';

const run = promisify(execFile);
const SITES = whole('sites', 500);
const CONCURRENCIES = text('concurrency', '5,20').split(',').map(Number);
const C1_SITES = whole('c1-sites', 50);
const RAW_SITES = whole('raw-sites', 20);
const PAUSE_SITES = whole('pause-sites', 60);
const OFFSET = Number(process.env.DROVER_BENCH_PORT_OFFSET ?? 700);
const STATE = path.resolve('.drover-bench-migrate');
const CLI = path.resolve('dist/client/cli.js');
const HEADER = 'domain,source_ssh,source_path,source_db,source_db_host,source_db_user,source_db_password_file,from_url,to_url,wave';
const log = (m: string) => console.error(`[bench ${new Date().toISOString().slice(11, 19)}] ${m}`);
const s = (ms: number) => +(ms / 1000).toFixed(1);
const stamp = Date.now().toString(36);

async function drover(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(process.execPath, [CLI, '--state-dir', STATE, '--port-offset', String(OFFSET), ...args], { env: { ...process.env, ...env }, maxBuffer: 64 << 20 });
  return r.stdout;
}

function startWorker(env: NodeJS.ProcessEnv): ChildProcess {
  return spawn(process.execPath, [CLI, '--state-dir', STATE, '--port-offset', String(OFFSET), 'worker', 'migrate'], {
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env, DROVER_METRICS_PORT: '0' },
  });
}

/** A wave file of `sites` staged under new names (one wave per measurement, so nothing is reported as done). */
function waveFile(wave: string, sites: LegacySite[]): { file: string; domains: string[] } {
  const domains = sites.map((_, i) => `s${i}-${wave}.example.com`);
  const rows = sites.map((x, i) => [domains[i], x.sourceSsh, x.sourcePath, x.sourceDb, x.sourceDbHost, x.sourceDbUser, x.sourceDbPasswordFile, x.fromUrl, '', wave].join(','));
  const file = path.join(STATE, 'waves', `${wave}.csv`);
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, [HEADER, ...rows].join('\n') + '\n');
  return { file, domains };
}

async function main(): Promise<void> {
  log(`environment in ${STATE} (port offset ${OFFSET})`);
  const report0 = await devUp({ stateDir: STATE, portOffset: OFFSET, log });
  if (!report0.healthy) throw new Error('bench environment not healthy');
  const env = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, dataConverter: droverDataConverter(env) });
  const host: OldHost = await startOldHost({
    dir: path.join(STATE, 'old-host'), sshPort: 12232 + OFFSET, dbPort: 13315 + OFFSET, authorizedKeys: readFileSync(`${env.DROVER_SSH_KEY_FILE}.pub`, 'utf8'),
  });
  const wenv = { DROVER_MIGRATE_HOST_KEYS: host.hostKeyFingerprint };
  const worker = startWorker(wenv);
  const staged: string[] = [];
  const cleanup = async () => {
    const node = await deps.galera.writerNode();
    for (const d of staged.splice(0)) {
      await deps.galera.query(node, `DROP DATABASE IF EXISTS \`${scratchDatabaseNames(siteNames(d).database).staging}\``);
      rmSync(`/srv/drover/sites/${d}`, { recursive: true, force: true });
    }
  };
  const report: Record<string, unknown> = { cores: os.cpus().length, loadAverageAtStart: os.loadavg().map((l) => +l.toFixed(1)) };
  try {
    log(`${SITES} small sites on the old host (not timed)`);
    const sites: LegacySite[] = [];
    for (let i = 0; i < SITES; i++) sites.push(await host.addSite({ domain: `old-${i}-${stamp}.example.net`, posts: 3, uploadBytes: 16 * 1024 }));

    const wave = async (name: string, list: LegacySite[], concurrency: number) => {
      const { file, domains } = waveFile(name, list);
      staged.push(...domains);
      const t0 = Date.now();
      const out = await drover(['--json', 'migrate', 'wave', 'start', '--stage-only', '--file', file, '--concurrency', String(concurrency), '--wait'], wenv);
      const ms = Date.now() - t0;
      const r = JSON.parse(out) as WaveProgress;
      if (r.counts.migrated !== list.length) throw new Error(`wave ${name}: ${JSON.stringify(r.counts)}`);
      await cleanup();
      return { sites: list.length, concurrency, seconds: s(ms), perSiteSeconds: +(ms / 1000 / list.length).toFixed(2), sitesPerMinute: +((list.length / ms) * 60_000).toFixed(1) };
    };

    // The same copy + load by hand, one site after another (the floor of a site's migration on this machine).
    log(`${RAW_SITES} sites copied and loaded by hand`);
    const key = env.DROVER_SSH_KEY_FILE;
    const knownHosts = path.join(STATE, 'bench-known-hosts');
    writeFileSync(knownHosts, '');
    const galera = env.DROVER_GALERA_NODES.split(',')[0];
    const [gh, gp] = galera.split(':');
    const rawT0 = Date.now();
    for (const x of sites.slice(0, RAW_SITES)) {
      const port = x.sourceSsh.split(':').pop();
      const dest = path.join(STATE, 'raw', x.domain);
      const db = `raw_${x.sourceDb}`.slice(0, 64);
      const sshCmd = `ssh -i ${key} -p ${port} -o StrictHostKeyChecking=no -o UserKnownHostsFile=${knownHosts} -o LogLevel=ERROR`;
      await sh(
        `mkdir -p ${dest}; rsync -rlpt --delete -e "${sshCmd}" root@127.0.0.1:${x.sourcePath}/ ${dest}/
         mariadb -h ${gh} -P ${gp} -u ${env.DROVER_GALERA_USER} -e 'CREATE DATABASE IF NOT EXISTS \`${db}\`'
         ${sshCmd} root@127.0.0.1 'MYSQL_PWD=$(cat ${x.sourceDbPasswordFile}) mariadb-dump --single-transaction -h ${x.sourceDbHost.split(':')[0]} -P ${x.sourceDbHost.split(':')[1] ?? 3306} -u ${x.sourceDbUser} ${x.sourceDb}' | mariadb -h ${gh} -P ${gp} -u ${env.DROVER_GALERA_USER} ${db}
         mariadb -h ${gh} -P ${gp} -u ${env.DROVER_GALERA_USER} -e 'DROP DATABASE \`${db}\`'; rm -rf ${dest}`,
        { MYSQL_PWD: env.DROVER_GALERA_PASSWORD },
      );
    }
    const rawPerSite = (Date.now() - rawT0) / RAW_SITES;
    report.byHand = { sites: RAW_SITES, perSiteSeconds: +(rawPerSite / 1000).toFixed(2) };

    log(`concurrency 1: ${C1_SITES} sites`);
    const c1 = await wave(`bm1-${stamp}`, sites.slice(0, C1_SITES), 1);
    const waves = [c1];
    for (const c of CONCURRENCIES) {
      log(`concurrency ${c}: ${SITES} sites`);
      waves.push(await wave(`bm${c}-${stamp}`, sites, c));
    }
    report.waves = waves;
    report.overheadPerSite = { seconds: +(c1.perSiteSeconds - rawPerSite / 1000).toFixed(2), overByHand: +((c1.perSiteSeconds * 1000) / rawPerSite).toFixed(2) };

    // Pause mid-wave: child starts after the acknowledgement, and the sites in flight at it.
    log(`pause: ${PAUSE_SITES} sites at concurrency 5`);
    const pw = `bmp-${stamp}`;
    const paused = waveFile(pw, sites.slice(0, PAUSE_SITES));
    staged.push(...paused.domains);
    await drover(['migrate', 'wave', 'start', '--stage-only', '--file', paused.file, '--concurrency', '5', '--sites-per-run', String(PAUSE_SITES)], wenv);
    const h = client.workflow.getHandle(`wave/${pw}`);
    for (;;) {
      const p = await h.query(waveProgressQuery).catch(() => undefined);
      if (p && p.counts.migrated >= Math.floor(PAUSE_SITES / 3)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await drover(['migrate', 'wave', 'pause', pw], wenv);
    const atAck = await h.query(waveProgressQuery);
    await new Promise((r) => setTimeout(r, 5000));
    const events = ((await h.fetchHistory()).events ?? []) as { eventType?: unknown; eventTime?: { seconds?: unknown; nanos?: number } | null; workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest?: { input?: { name?: string | null } | null } | null } | null }[];
    const ack = events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'pauseWave');
    const startsAfter = events.slice(ack).filter((e) => String(e.eventType).includes('START_CHILD_WORKFLOW_EXECUTION_INITIATED')).length;
    await drover(['migrate', 'wave', 'resume', pw], wenv);
    await h.result();
    await cleanup();
    report.pause = { sites: PAUSE_SITES, inFlightAtAcknowledgement: atAck.inFlight.length, childStartsAfterAcknowledgement: startsAfter };
    report.loadAverageAtEnd = os.loadavg().map((l) => +l.toFixed(1));
    console.log(JSON.stringify(report, null, 2));
  } finally {
    await cleanup().catch(() => undefined);
    worker.kill('SIGTERM');
    await host.stop();
    await connection.close();
    await closeActivityDeps(deps);
  }
}

runMain(main);

/**
 * Backup benchmark (docs/benchmarks.md): one or two nights on the local Galera + S3, each measured side by side in
 * one run on one machine, every method doing the same work per site (database AND files, zstd, age to the same
 * public recipients, uploaded to the same S3 bucket):
 *   floor   — a hand-written pipeline, `xargs -P <concurrency>` sites at once, database and files of a site at
 *             once: mariadb-dump | zstd | age > tmp; ssh tar | zstd | age > tmp; curl -T (no manifest, no checks);
 *   drover  — one nightly backup through Temporal (plus the manifest, row counts, retention, outcome record), its
 *             backup worker a separate process (`dist/workers/backup.js`), one for every night of the run as a
 *             farm's runs for weeks, whose peak RSS (VmHWM, reset before each night) is read apart from this client's;
 *   loop    — the operators' sequential bash: the same per-site pipeline, one site and one half at a time.
 * Nights: `small` (N generated sites of 20 posts and 64 KiB of uploads) and `production` (a skewed farm, see
 * PRODUCTION below). On the production night Drover runs twice: a first night (no sizes known yet: registry order;
 * on an environment an earlier run backed up, the sizes it recorded already order it)
 * and the next night (largest first, by the first night's recorded sizes). Each method's machine CPU seconds (every
 * process, /proc/stat), the Drover worker's own (and its reaped children's; by thread name, `byThread`) and the Temporal
 * server's are reported beside its time. `--perf DIR` samples the machine through each timed phase (bench/lib/perf.ts).
 *   npm run build && npx vite-node bench/backup/run.ts -- --sites 100 --production 40 --concurrency 16 [--port-offset 200] [--worker-flags '--cpu-prof'] [--worker-root ../before] [--perf DIR]
 * The port offset defaults to DROVER_TEST_PORT_OFFSET, else 200; the environment lives in --state-dir (.drover-bench).
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { closeActivityDeps, createActivityDeps, type ActivityDeps } from '../../activities';
import { devUp } from '../../devkit/dev-env';
import { devLayout } from '../../devkit/dev-env/layout';
import { generateDemoSites } from '../../devkit/dev-env/demo-sites';
import { mergedEnv, parseEnv, workerEnvSchema, type WorkerEnv } from '../../lib/env';
import { droverDataConverter } from '../../lib/data-converter';
import { TASK_QUEUES } from '../../lib/contract/ids';
import type { SiteRecord } from '../../lib/site-registry';
import { nightlyBackupWorkflow, type NightlyBackupResult } from '../../workflows/nightly-backup';
import { postsDatabase, smallRowsDatabase } from '../restore/sites';
import { runMain, sh } from '../lib/shell';
import { text, whole } from '../lib/args';
import { processCpuSeconds, procStatus, resetPeakRss, startWorker, threadCpuDelta, threadCpuSeconds, type WorkerProcess } from '../lib/worker-process';
import { busyCpuSeconds, floorFilesPipeline } from '../lib/floor';
import { perfRecorded, workerPerfFlags } from '../lib/perf';
import { takeNights } from '../lib/nights';

const SITES = whole('sites', 500);
const PRODUCTION = whole('production', 0);
const CONCURRENCY = whole('concurrency', 16);
const PORT_OFFSET = whole('port-offset', process.env.DROVER_TEST_PORT_OFFSET ? Number(process.env.DROVER_TEST_PORT_OFFSET) : 200);
const STATE = path.resolve(text('state-dir') ?? '.drover-bench');
/** Node flags for the Drover worker, space-separated (e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see its CPU). */
const WORKER_FLAGS = (text('worker-flags') ?? '').split(' ').filter(Boolean);
/** Another checkout whose built worker runs Drover's nights (an A/B against older code); this one's by default. */
const WORKER_ROOT = text('worker-root');
const MB = 1024 * 1024;
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

/**
 * The production-shaped night, per 40 sites (scaled with --production): most sites small, a few large, some with
 * many small rows. Names sort the large ones last, so registry order is the worst order for the night's tail.
 */
const PRODUCTION_CLASSES = [
  { prefix: 'proda', share: 30, what: 'small: 20 posts, 1 MiB of uploads', posts: 20, uploadMiB: 1 },
  { prefix: 'prodb', share: 6, what: 'medium: 4 MiB of posts, 16 MiB of uploads', dbMiB: 4, uploadMiB: 16 },
  { prefix: 'prodc', share: 2, what: 'shop: 300,000 small wp_postmeta rows, 8 MiB of uploads', postmetaRows: 300_000, uploadMiB: 8 },
  { prefix: 'prodd', share: 2, what: 'large: 24 MiB of posts, 96 MiB of uploads', dbMiB: 24, uploadMiB: 96 },
] as const;

async function timed<T>(fn: () => Promise<T>): Promise<{ s: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { s: Number(process.hrtime.bigint() - t) / 1e9, value };
}

/** The per-site script both references run: `parallel` runs the database and files halves at once. */
function writeSiteScript(dir: string, env: WorkerEnv, deps: ActivityDeps, cnf: string): string {
  const t = deps.ssh.defaultTarget;
  const s3 = new URL(env.DROVER_S3_ENDPOINT);
  const recipients = deps.backup.recipients.map((r) => `-r ${r}`).join(' ');
  const file = path.join(dir, 'backup-one.sh');
  writeFileSync(
    file,
    `#!/bin/bash
# backup-one.sh <site> <database> <files path> <night> <parallel|sequential>: what an operator's script does.
set -euo pipefail
site=$1 db=$2 files=$3 night=$4 mode=$5
t=$(mktemp -d); trap 'rm -rf "$t"' EXIT
put() { curl -sf --aws-sigv4 "aws:amz:${env.DROVER_S3_REGION}:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$1" "${s3.origin}/${env.DROVER_S3_BUCKET}/bench/$night/$site/$2" >/dev/null; }
dbhalf() {
  mariadb-dump --defaults-extra-file=${cnf} --single-transaction --quick --routines --triggers --events --hex-blob --default-character-set=utf8mb4 --skip-lock-tables "$db" | zstd -3 -q -c -T2 | age ${recipients} > "$t/db"
  put "$t/db" database.sql.zst.age
}
fileshalf() {
  ${floorFilesPipeline({ keyFile: env.DROVER_SSH_KEY_FILE, target: t, recipients: deps.backup.recipients, files: "'$files'", out: '"$t/files"' })}
  put "$t/files" files.tar.zst.age
}
if [ "$mode" = parallel ]; then
  dbhalf & a=$!; fileshalf & b=$!; wait $a; wait $b
else
  dbhalf; fileshalf
fi
`,
  );
  chmodSync(file, 0o755);
  return file;
}

/**
 * CPU seconds used so far by the environment's Temporal server (the `temporal` dev server: one process, its
 * SQLite store in it), which a Drover night uses and the hand-written pipelines do not.
 */
function temporalCpuSeconds(): number {
  return processCpuSeconds(Number(readFileSync(path.join(devLayout(STATE).temporal.dir, 'temporal.pid'), 'utf8'))).own;
}

/** Runs the hand-written pipeline over the sites: `xargs -P` at Drover's concurrency, or one by one. */
async function reference(phase: string, script: string, sites: SiteRecord[], night: string, mode: 'parallel' | 'sequential', env: WorkerEnv, dir: string): Promise<{ s: number; machineCpuSeconds: number; temporalCpuSeconds: number }> {
  const list = path.join(dir, `sites-${night}-${mode}.txt`);
  writeFileSync(list, sites.map((s) => `${s.domain}\t${s.database}\t${s.filesPath}`).join('\n') + '\n');
  const keys = { AK: env.DROVER_S3_ACCESS_KEY_ID, SK: env.DROVER_S3_SECRET_ACCESS_KEY };
  const cmd =
    mode === 'parallel'
      ? `tr '\\t' '\\n' < ${list} | xargs -d '\\n' -n 3 -P ${CONCURRENCY} sh -c '${script} "$1" "$2" "$3" ${night}-floor parallel' _`
      : `while IFS=$'\\t' read -r site db files; do ${script} "$site" "$db" "$files" ${night}-loop sequential; done < ${list}`;
  const cpu0 = busyCpuSeconds();
  const temporal0 = temporalCpuSeconds();
  const { s } = await perfRecorded(phase, () => timed(() => sh(cmd, keys)));
  return { s, machineCpuSeconds: +(busyCpuSeconds() - cpu0).toFixed(1), temporalCpuSeconds: +(temporalCpuSeconds() - temporal0).toFixed(1) };
}

/**
 * One Drover night on the run's backup worker: a farm's worker runs for weeks, so every night of a run has the same
 * worker (started before the first, its code compiled by then), its peak RSS reset before each night
 * (resetPeakRss) and its CPU counted from the night's start.
 */
async function droverNight(
  phase: string,
  client: Client,
  worker: WorkerProcess,
  sites: SiteRecord[],
  date: string,
): Promise<{ s: number; result: NightlyBackupResult; workerPeakRssMiB: number; parentEvents: number[]; machineCpuSeconds: number; temporalCpuSeconds: number; workerCpuSeconds: number; workerChildrenCpuSeconds: number; workerThreadCpuSeconds: Record<string, number> }> {
  const pid = worker.proc.pid!;
  const workflowId = `nightly-backup/${date}/bench-${Date.now()}`;
  resetPeakRss(pid);
  const cpu0 = busyCpuSeconds();
  const temporal0 = temporalCpuSeconds();
  const worker0 = processCpuSeconds(pid);
  const threads0 = threadCpuSeconds(pid);
  const r = await perfRecorded(phase, () => timed(() => Promise.race([client.workflow.execute(nightlyBackupWorkflow, { workflowId, taskQueue: TASK_QUEUES.backup, args: [{ date, sites: sites.map((s) => s.domain), concurrency: CONCURRENCY }] }), worker.died])));
  const machineCpuSeconds = +(busyCpuSeconds() - cpu0).toFixed(1);
  const temporal = +(temporalCpuSeconds() - temporal0).toFixed(1);
  const workerCpu = processCpuSeconds(pid);
  const workerThreadCpuSeconds = threadCpuDelta(threads0, threadCpuSeconds(pid));
  const workerPeakRssMiB = Math.round(procStatus(pid, 'VmHWM') / MB);
  const parentEvents: number[] = [];
  for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) parentEvents.push(wf.historyLength);
  if (r.value.failed.length) throw new Error(`drover night ${date}: ${r.value.failed.length} sites failed: ${r.value.failed[0].error}`);
  // A night whose points exist already does nothing: it would measure nothing.
  if (r.value.alreadyComplete) throw new Error(`drover night ${date}: ${r.value.alreadyComplete} sites had a complete point of that night already`);
  return {
    s: r.s,
    result: r.value,
    workerPeakRssMiB,
    parentEvents,
    machineCpuSeconds,
    temporalCpuSeconds: temporal,
    workerCpuSeconds: +(workerCpu.own - worker0.own).toFixed(2),
    workerChildrenCpuSeconds: +(workerCpu.children - worker0.children).toFixed(2),
    workerThreadCpuSeconds,
  };
}

async function productionSites(deps: ActivityDeps): Promise<{ sites: SiteRecord[]; distribution: string[] }> {
  const sites: SiteRecord[] = [];
  const distribution: string[] = [];
  for (const c of PRODUCTION_CLASSES) {
    const count = Math.max(1, Math.round((PRODUCTION * c.share) / 40));
    distribution.push(`${count} × ${c.what}`);
    const made = await generateDemoSites(deps, STATE, { count, prefix: c.prefix, posts: 'posts' in c ? c.posts : 20, uploadBytes: c.uploadMiB * MB, log: () => undefined });
    for (const s of made) {
      if ('dbMiB' in c) await postsDatabase(deps, s, c.dbMiB);
      if ('postmetaRows' in c) await smallRowsDatabase(deps, s, c.postmetaRows);
    }
    sites.push(...made);
    log(`  ${count} × ${c.prefix} (${c.what})`);
  }
  return { sites, distribution };
}

async function databaseMiB(deps: ActivityDeps, sites: SiteRecord[]): Promise<number> {
  const node = await deps.galera.writerNode();
  const rows = (await deps.galera.query(node, `SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS b FROM information_schema.TABLES WHERE TABLE_SCHEMA IN (?)`, [sites.map((s) => s.database)])) as { b: string }[];
  return Math.round(Number(rows[0].b) / MB);
}

async function main(): Promise<void> {
  log(`environment in ${STATE} (port offset ${PORT_OFFSET})`);
  const env0 = await devUp({ stateDir: STATE, portOffset: PORT_OFFSET, log });
  if (!env0.healthy) throw new Error('bench environment not healthy');
  const env = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection, dataConverter: droverDataConverter(env) });
  const report: Record<string, unknown> = { concurrency: CONCURRENCY, cores: os.cpus().length };
  // The run's one backup worker, as the farm runs it: with the stack's memory settings (stacks/drover.yml).
  const worker = await startWorker({ queue: 'backup', stateDir: STATE, deployed: true, nodeFlags: [...WORKER_FLAGS, ...workerPerfFlags], root: WORKER_ROOT });
  // The floor's scripts and its MariaDB options file (the database password): removed first when the run ends, failed or not.
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-bench-'));
  try {
    const node = (await deps.galera.syncedNodes()).at(-1)!;
    const cnf = path.join(dir, 'c.cnf');
    writeFileSync(cnf, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${env.DROVER_GALERA_USER}\npassword="${env.DROVER_GALERA_PASSWORD}"\n`, { mode: 0o600 });
    const script = writeSiteScript(dir, env, deps, cnf);
    // Nights never used before in this environment (a counter in its folder): the same date twice would find every
    // Drover point complete already. Each run takes three (the production night uses day + 1 and day + 2).
    // Day 0 is 2031-03-01: the bench drew its dates from 2031-01-01 to 2031-01-22 before (kept by retention).
    const { day, date } = takeNights(STATE, 'bench-backup-nights', 3, '2031-03-01');

    if (SITES > 0) {
      log(`small night: generating ${SITES} sites (not timed)`);
      const sites = await generateDemoSites(deps, STATE, { count: SITES, prefix: 'bench', posts: 20, uploadBytes: 64 * 1024, log: () => undefined });
      log('small night: floor (xargs -P)');
      const floor = await reference('small-floor', script, sites, date(day), 'parallel', env, dir);
      log('small night: drover');
      const drover = await droverNight('small-drover', client, worker, sites, date(day));
      log('small night: sequential loop');
      const loop = await reference('small-loop', script, sites, date(day), 'sequential', env, dir);
      report.small = {
        sites: sites.length,
        databaseMiB: await databaseMiB(deps, sites),
        floorSeconds: +floor.s.toFixed(1),
        droverSeconds: +drover.s.toFixed(1),
        loopSeconds: +loop.s.toFixed(1),
        droverOverFloor: +(drover.s / floor.s).toFixed(2),
        loopOverDrover: +(loop.s / drover.s).toFixed(2),
        machineCpuSeconds: { floor: floor.machineCpuSeconds, drover: drover.machineCpuSeconds, loop: loop.machineCpuSeconds },
        temporalServerCpuSeconds: { floor: floor.temporalCpuSeconds, drover: drover.temporalCpuSeconds, loop: loop.temporalCpuSeconds },
        droverWorkerCpuSeconds: { own: drover.workerCpuSeconds, children: drover.workerChildrenCpuSeconds, byThread: drover.workerThreadCpuSeconds },
        workerPeakRssMiB: drover.workerPeakRssMiB,
        parentRuns: drover.parentEvents.length,
        parentHistoryEventsMax: Math.max(...drover.parentEvents),
      };
      process.stderr.write(JSON.stringify(report.small) + '\n');
    }

    if (PRODUCTION > 0) {
      log(`production night: generating ${PRODUCTION} sites (not timed)`);
      const { sites, distribution } = await productionSites(deps);
      log('production night: floor (xargs -P)');
      const floor = await reference('production-floor', script, sites, date(day + 1), 'parallel', env, dir);
      log('production night: drover, first night (no sizes known: registry order)');
      const first = await droverNight('production-drover-first', client, worker, sites, date(day + 1));
      log('production night: drover, next night (largest first)');
      const next = await droverNight('production-drover-next', client, worker, sites, date(day + 2));
      log('production night: sequential loop');
      const loop = await reference('production-loop', script, sites, date(day + 1), 'sequential', env, dir);
      const stored = next.result.outcomes.reduce((a, o) => a + (o.bytes ?? 0), 0);
      report.production = {
        sites: sites.length,
        distribution,
        databaseMiB: await databaseMiB(deps, sites),
        storedMiB: Math.round(stored / MB),
        floorSeconds: +floor.s.toFixed(1),
        droverFirstNightSeconds: +first.s.toFixed(1),
        droverLargestFirstSeconds: +next.s.toFixed(1),
        loopSeconds: +loop.s.toFixed(1),
        firstNightOverFloor: +(first.s / floor.s).toFixed(2),
        largestFirstOverFloor: +(next.s / floor.s).toFixed(2),
        loopOverLargestFirst: +(loop.s / next.s).toFixed(2),
        machineCpuSeconds: { floor: floor.machineCpuSeconds, droverFirstNight: first.machineCpuSeconds, droverLargestFirst: next.machineCpuSeconds, loop: loop.machineCpuSeconds },
        temporalServerCpuSeconds: { floor: floor.temporalCpuSeconds, droverFirstNight: first.temporalCpuSeconds, droverLargestFirst: next.temporalCpuSeconds, loop: loop.temporalCpuSeconds },
        droverWorkerCpuSeconds: { firstNight: { own: first.workerCpuSeconds, children: first.workerChildrenCpuSeconds, byThread: first.workerThreadCpuSeconds }, largestFirst: { own: next.workerCpuSeconds, children: next.workerChildrenCpuSeconds, byThread: next.workerThreadCpuSeconds } },
        workerPeakRssMiB: Math.max(first.workerPeakRssMiB, next.workerPeakRssMiB),
      };
    }
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await worker.stop().catch(() => undefined);
    await connection.close();
    await closeActivityDeps(deps);
  }
}

runMain(main);

/**
 * One site measured the same way whatever its shape: backed up twice (a tar point, a deduplicated point), then
 * restored four ways in one run — the floor by hand with the same tools (the tar point), Drover to a new name
 * (the tar point, then the deduplicated point; then the pairs), Drover over the live site last (the deduplicated
 * point) — each restore checked for exactness against the backed-up site's fingerprints.
 *
 * No phase's files are removed before the run's end (each extraction and each copy has a folder or name of its own;
 * the databases are dropped at once). On an ext4 without a journal (this machine's root file system), creating a file
 * skips every free inode deleted in the last 60 seconds (the kernel's `recently_deleted`, which reads the inode table
 * for each), so a phase that extracted thousands of files next to a docroot just removed paid for it: 4 % of the
 * machine's samples in `tar` under each deduplicated restore, against none under the floor's (docs/benchmarks.md,
 * forty-third session). A journaled ext4, as on a droplet, never checks.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Client } from '@temporalio/client';
import type { ActivityDeps } from '../../activities';
import { createSpacesActivities } from '../../activities/spaces';
import type { WorkerEnv } from '../../lib/env';
import { isFilesIndexKey } from '../../lib/backup-layout';
import { siteFingerprint } from '../../devkit/site-fingerprint';
import { upsertSite, type SiteRecord } from '../../lib/site-registry';
import { createDroverWorker } from '../../workers/run-worker';
import { startWorker } from '../lib/worker-process';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { restoreSiteWorkflow, type RestoreSiteResult } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { log, type SiteSpec } from './sites';
import { sh } from '../lib/shell';
import { perfRecorded, workerPerfFlags } from '../lib/perf';
import { busyCpuSeconds } from '../lib/floor';
import { processCpuSeconds, threadCpuDelta, threadCpuSeconds, type ThreadCpu } from '../lib/worker-process';
import { devLayout } from '../../devkit/dev-env/layout';
import { readPid, sleep } from '../../devkit/dev-env/processes';

export interface BenchContext {
  /** The environment's state folder and port offset (for the workers the bench starts as processes). */
  stateDir: string;
  portOffset: number;
  env: WorkerEnv;
  deps: ActivityDeps;
  client: Client;
}

export type Manifest = Awaited<ReturnType<ReturnType<typeof createSpacesActivities>['readManifest']>>;

export interface SiteMeasurement {
  /** The tar point's manifest (today's format, what the floor restores). */
  manifest: Manifest;
  /** The deduplicated point's. */
  dedupManifest: Manifest;
  backupMs: { tar: number; dedup: number };
  floorMs: { database: number; files: number; both: number };
  /** Drover to a new name: the tar point, then the deduplicated point. */
  copy: RestoreSiteResult;
  dedupCopy: RestoreSiteResult;
  /** Drover over the live site, of the deduplicated point (its safety point deduplicated too). */
  live: RestoreSiteResult;
  /** `pairs`: every extra pair's restore exact (null when there was none). */
  exact: { copy: boolean; dedupCopy: boolean; live: boolean; pairs: boolean | null };
  /**
   * With `pairs` over 1, the floor (both at once) and Drover's deduplicated restore to a new name again, one after
   * the other, that many times in all (the first pair is the run's floorMs.both and dedupCopy). Each with the
   * CPU-seconds both used (machine, Galera nodes) and the restore's steps: a pair slower than the others shows
   * where (a branch, the steps around them, more CPU for the same work).
   */
  pairs: { floorMs: number; dedupMs: number; floorCpu: { machine: number; galera: number }; dedupCpu: { machine: number; galera: number }; dedupSteps: RestoreSiteResult['steps'] }[];
  /** The 1-minute load average at the end of each phase: other work on the machine shows here. */
  loadAverage: { floor: number; copy: number; dedupCopy: number; live: number };
  /**
   * CPU-seconds each phase used: the whole machine's, and the three Galera nodes' (mariadbd: loading, counting,
   * checksumming and replicating), for the floor's both-at-once run and each Drover restore; for a restore, its
   * worker's own too, and its programs' (age, zstd, curl, mariadb: the children it reaped meanwhile).
   */
  cpuSeconds: Record<'floor' | 'copy' | 'dedupCopy' | 'live', { machine: number; galera: number; worker?: number; workerChildren?: number; workerByThread?: Record<string, number> }>;
}

/** The machine's busy CPU-seconds and the environment's three mariadbd processes' own, so far. */
function cpuNow(stateDir: string): { machine: number; galera: number } {
  const { galera } = devLayout(stateDir);
  const pids = galera.nodes.map((n) => readPid(path.join(galera.dir, n.name, 'mariadbd.pid')));
  return { machine: busyCpuSeconds(), galera: pids.reduce<number>((sum, pid) => sum + (pid ? processCpuSeconds(pid).own : 0), 0) };
}

/**
 * Writes the page cache's dirty pages out (`sync`), then waits (at most 120 s) until the machine has been quiet for
 * two seconds running (under a quarter of a core busy): a restore just finished leaves its files' pages to be
 * written back by the kernel up to 30 s later, and each Galera node flushing its dirty pages and purging for seconds
 * after a load, and the phase measured next (the floor or Drover, whichever came after) would pay for the one
 * before it. Says so in the log when it gives up.
 */
async function settle(): Promise<void> {
  execFileSync('sync');
  const start = Date.now();
  let quiet = 0;
  while (quiet < 2) {
    if (Date.now() - start >= 120_000) {
      log('  (the machine was not quiet within 120 s: measuring anyway)');
      return;
    }
    const a = busyCpuSeconds();
    await sleep(1000);
    quiet = busyCpuSeconds() - a < 0.25 ? quiet + 1 : 0;
  }
}

/** Runs `fn`, returning its result and the CPU-seconds (machine, Galera) used meanwhile. */
async function withCpu<T>(stateDir: string, phase: string, fn: () => Promise<T>): Promise<{ value: T; cpu: { machine: number; galera: number } }> {
  await settle();
  return perfRecorded(phase, async () => {
    const a = cpuNow(stateDir);
    const value = await fn();
    const b = cpuNow(stateDir);
    return { value, cpu: { machine: +(b.machine - a.machine).toFixed(1), galera: +(b.galera - a.galera).toFixed(1) } };
  });
}

export async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}


/**
 * The floor: the same tools by hand, no Temporal, no verification, no staging, no swap. Measures the database
 * alone, the files alone and both at once; `again()` measures both at once once more (for the pairs).
 */
async function measureFloor({ env, deps, stateDir }: BenchContext, manifest: Manifest, tag: string): Promise<{ ms: SiteMeasurement['floorMs']; cpu: { machine: number; galera: number }; again: () => Promise<{ ms: number; cpu: { machine: number; galera: number } }>; close: () => Promise<void> }> {
  const node = await deps.galera.writerNode();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-rbench-'));
  const cnf = path.join(dir, 'c.cnf');
  writeFileSync(cnf, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${env.DROVER_GALERA_USER}\npassword="${env.DROVER_GALERA_PASSWORD}"\n`, { mode: 0o600 });
  const s3 = new URL(env.DROVER_S3_ENDPOINT);
  const get = (key: string) => `curl -sf --aws-sigv4 "aws:amz:${env.DROVER_S3_REGION}:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "${s3.origin}/${env.DROVER_S3_BUCKET}/${key}"`;
  const creds = { AK: env.DROVER_S3_ACCESS_KEY_ID, SK: env.DROVER_S3_SECRET_ACCESS_KEY };
  const id = env.DROVER_BACKUP_AGE_IDENTITY_FILE!;
  const floorDb = (db: string) =>
    sh(`mariadb --defaults-extra-file=${cnf} -e 'DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}'; ${get(manifest.database.key)} | age -d -i ${id} | zstd -dc | mariadb --defaults-extra-file=${cnf} --binary-mode ${db}`, creds);
  const floorFiles = (to: string) => sh(`rm -rf ${to}; mkdir -p ${to}; ${get(manifest.files.key)} | age -d -i ${id} | zstd -dc | tar -C ${to} -xf -`, creds);
  // Each extraction into a folder of its own, kept until close() (the file's header says why).
  let extractions = 0;
  const nextFolder = () => path.join(dir, `files${++extractions}`);
  try {
    log('  floor: database alone');
    await settle();
    const database = await timed(() => floorDb(`floor_db_${tag}`));
    log('  floor: files alone');
    await settle();
    const files = await timed(() => floorFiles(nextFolder()));
    log('  floor: both at once');
    const bothOnce = () => timed(() => Promise.all([floorDb(`floor_db2_${tag}`), floorFiles(nextFolder())]));
    const both = await withCpu(stateDir, 'floor', bothOnce);
    // The databases the floor loaded are dropped before Drover restores (not left to weigh on the Galera nodes), and
    // again after each pair's floor, outside the time measured; its files stay until close().
    await dropDatabases();
    return {
      ms: { database: database.ms, files: files.ms, both: both.value.ms },
      cpu: both.cpu,
      again: async () => {
        const run = await withCpu(stateDir, 'floor', bothOnce);
        await dropDatabases();
        return { ms: run.value.ms, cpu: run.cpu };
      },
      close,
    };
  } catch (err) {
    await close().catch((e: Error) => log(`  (could not remove the floor's databases and files: ${e.message})`));
    throw err;
  }
  async function dropDatabases(): Promise<void> {
    await sh(`mariadb --defaults-extra-file=${cnf} -e 'DROP DATABASE IF EXISTS floor_db_${tag}; DROP DATABASE IF EXISTS floor_db2_${tag}'`);
  }
  async function close(): Promise<void> {
    await dropDatabases();
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Registers the generated site, backs it up twice (a tar point by a backup worker without the dedup key, as every
 * point before issue 19; a deduplicated point by one with it), and measures the floor on the tar point and
 * Drover's restores: the tar point and the deduplicated point to a new name, the deduplicated point over the live
 * site. The environment's env file must name a dedup key (`drover dev up` writes one).
 */
export async function measureSite(ctx: BenchContext, spec: SiteSpec, tag: string, pairCount = 1): Promise<SiteMeasurement> {
  const { env, deps, client } = ctx;
  if (!env.DROVER_BACKUP_DEDUP_KEY_FILE) throw new Error('the environment has no dedup key (DROVER_BACKUP_DEDUP_KEY_FILE): run `drover dev up` on it again');
  const site: SiteRecord = await upsertSite(deps.galera, { ...spec, storageHost: null });
  const before = await siteFingerprint(deps, site);
  const [tarDate, dedupDate] = ['2030-02-01', '2030-02-02'];
  const backUp = async (date: string, workerEnv: WorkerEnv) => {
    const w = await createDroverWorker('backup', workerEnv);
    try {
      return await timed(() => w.worker.runUntil(client.workflow.execute(siteBackupWorkflow, { workflowId: workflowIds.siteBackup(spec.domain, date), taskQueue: TASK_QUEUES.backup, args: [{ site: spec.domain, point: date }] })));
    } finally {
      await w.close();
    }
  };
  log(`  backing up ${spec.domain} as a tar point and as a deduplicated point (timed for reference)`);
  const tarBackup = await backUp(tarDate, Object.freeze({ ...env, DROVER_BACKUP_DEDUP_KEY_FILE: undefined }));
  const dedupBackup = await backUp(dedupDate, env);
  const spaces = createSpacesActivities(deps);
  const manifest = await spaces.readManifest({ site: spec.domain, date: tarDate });
  const dedupManifest = await spaces.readManifest({ site: spec.domain, date: dedupDate });
  if (isFilesIndexKey(manifest.files.key) || !isFilesIndexKey(dedupManifest.files.key)) throw new Error('the two points are not one tar point and one deduplicated point');
  const floor = await measureFloor(ctx, manifest, tag);
  try {
    return await measureDrover(ctx, spec, tag, pairCount, { manifest, dedupManifest, tarDate, dedupDate, before, site, floor, backupMs: { tar: tarBackup.ms, dedup: dedupBackup.ms } });
  } finally {
    await floor.close().catch((e: Error) => log(`  (could not remove the floor's folder: ${e.message})`));
  }
}

async function measureDrover(
  ctx: BenchContext,
  spec: SiteSpec,
  tag: string,
  pairCount: number,
  m: { manifest: Manifest; dedupManifest: Manifest; tarDate: string; dedupDate: string; before: { database: string; files: string }; site: SiteRecord; floor: Awaited<ReturnType<typeof measureFloor>>; backupMs: { tar: number; dedup: number } },
): Promise<SiteMeasurement> {
  const { deps, client } = ctx;
  const { manifest, dedupManifest, tarDate, dedupDate, before, site, floor } = m;
  const floorMs = floor.ms;
  const load1 = () => +os.loadavg()[0].toFixed(1);
  const loadAverage = { floor: load1(), copy: 0, dedupCopy: 0, live: 0 };

  // A fresh restore worker per restore, its own process as on the farm (`drover worker restore`), started before
  // the clock starts (the restore's time is the workflow's own rtoMs). In the bench's process, its activities
  // would share a V8 heap with the bench's, whose full collections the worker's buffers set off.
  const cpuSeconds = { floor: floor.cpu } as SiteMeasurement['cpuSeconds'];
  // A pair's restore (phase 'pair'): its CPU goes with the pair (cpuSeconds keep the first run's).
  let pairCpu = { machine: 0, galera: 0 };
  const restore = async (args: { site: string; point: string; to?: string }, phase: 'copy' | 'dedupCopy' | 'live' | 'pair') => {
    const w = await startWorker({ queue: 'restore', stateDir: ctx.stateDir, deployed: true, nodeFlags: workerPerfFlags });
    try {
      let worker0 = { own: 0, children: 0 };
      let threads0: ThreadCpu = { total: 0, threads: new Map() };
      const run = await withCpu(ctx.stateDir, phase, () => {
        worker0 = processCpuSeconds(w.proc.pid!);
        threads0 = threadCpuSeconds(w.proc.pid!);
        return Promise.race([client.workflow.execute(restoreSiteWorkflow, { workflowId: workflowIds.restore(args.site, args.point, args.to), taskQueue: TASK_QUEUES.restore, args: [args] }), w.died]);
      });
      const worker1 = processCpuSeconds(w.proc.pid!);
      const workerByThread = threadCpuDelta(threads0, threadCpuSeconds(w.proc.pid!));
      if (phase === 'pair') pairCpu = run.cpu;
      else cpuSeconds[phase] = { ...run.cpu, worker: +(worker1.own - worker0.own).toFixed(1), workerChildren: +(worker1.children - worker0.children).toFixed(1), workerByThread };
      return run.value;
    } finally {
      await w.stop();
    }
  };
  const same = (f: { database: string; files: string }) => f.database === before.database && f.files === before.files;
  // Each copy under a name of its own, its files kept until the end (the file's header says why); its database dropped
  // at once.
  const copies: string[] = [];
  const restoreCopy = async (point: string, to: string, phase: 'copy' | 'dedupCopy' | 'pair') => {
    const r = await restore({ site: spec.domain, point, to }, phase);
    copies.push(r.filesPath);
    const exact = same(await siteFingerprint(deps, { database: r.database, filesPath: r.filesPath, storageHost: null }));
    await deps.galera.query(await deps.galera.writerNode(), `DROP DATABASE IF EXISTS \`${r.database}\``);
    return { r, exact };
  };
  try {
    log('  drover: restore the tar point to a new name');
    const copy = await restoreCopy(tarDate, `copy-${spec.domain}`, 'copy');
    loadAverage.copy = load1();
    log('  drover: restore the deduplicated point to a new name');
    const dedupCopy = await restoreCopy(dedupDate, `dcopy-${spec.domain}`, 'dedupCopy');
    loadAverage.dedupCopy = load1();
    // More pairs, floor then Drover, each on a quiet machine: single runs of either vary by a third from one to the
    // next. Before the restore over the live site, whose clean-up removes the site's previous docroot.
    const pairs: SiteMeasurement['pairs'] = [{ floorMs: floorMs.both, dedupMs: dedupCopy.r.rtoMs, floorCpu: floor.cpu, dedupCpu: { machine: cpuSeconds.dedupCopy.machine, galera: cpuSeconds.dedupCopy.galera }, dedupSteps: dedupCopy.r.steps }];
    let pairsExact = true;
    for (let i = 1; i < pairCount; i++) {
      log(`  pair ${i + 1} of ${pairCount}: the floor, then the deduplicated point to a new name`);
      const f = await floor.again();
      log(`    floor ${(f.ms / 1000).toFixed(1)} s, ${f.cpu.machine} CPU-s (Galera ${f.cpu.galera})`);
      const d = await restoreCopy(dedupDate, `dcopy${i + 1}-${spec.domain}`, 'pair');
      pairsExact &&= d.exact;
      log(`    deduplicated restore ${(d.r.rtoMs / 1000).toFixed(1)} s (${(d.r.rtoMs / f.ms).toFixed(2)} ×), ${pairCpu.machine} CPU-s (Galera ${pairCpu.galera})`);
      pairs.push({ floorMs: f.ms, dedupMs: d.r.rtoMs, floorCpu: f.cpu, dedupCpu: pairCpu, dedupSteps: d.r.steps });
    }
    log('  drover: restore the deduplicated point over the live site (safety point first)');
    const live = await restore({ site: spec.domain, point: dedupDate }, 'live');
    loadAverage.live = load1();
    const after = await siteFingerprint(deps, site);
    return {
      manifest,
      dedupManifest,
      backupMs: m.backupMs,
      pairs,
      floorMs,
      copy: copy.r,
      dedupCopy: dedupCopy.r,
      live,
      exact: { copy: copy.exact, dedupCopy: dedupCopy.exact, live: same(after), pairs: pairCount > 1 ? pairsExact : null },
      loadAverage,
      cpuSeconds,
    };
  } finally {
    for (const c of copies) rmSync(c, { recursive: true, force: true });
  }
}

/**
 * Restore of a site's files, deduplicated point against tar point and the floor, side by side in one run
 * (docs/benchmarks.md, issue 19). One generated docroot is backed up twice, as a tar point and as a deduplicated
 * point; then, alternating, each is restored `--rounds` times:
 *   floor      — curl GET | age -d | zstd -d | tar -x of the tar point, by hand (no verification, no staging);
 *   drover tar — extractFilesToStaging of the tar point (verify SHA-256, then the same pipeline into tar -x over SSH);
 *   drover dedup — extractFilesToStaging of the deduplicated point (index, packs fetched in batches, rebuilt tar -x over SSH).
 * Every Drover restore is checked exact against the docroot. Files only: the database part of a restore is the
 * same in both formats. Runs on an existing development environment (its state folder and port offset).
 *   npx vite-node bench/restore/files-dedup.ts -- --state-dir .drover-test --port-offset 1900 --files-mb 512
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { constants as perf, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';
import { MockActivityEnvironment } from '@temporalio/testing';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { createStorageArchiveActivities } from '../../activities/storage-archive';
import { createStorageRestoreActivities, STAGING_SUFFIX } from '../../activities/storage-restore';
import { devUp } from '../../devkit/dev-env';
import { mergedEnv, parseEnv, workerEnvSchema, type WorkerEnv } from '../../lib/env';
import { treeHashes } from '../../test/helpers/restore-point';
import { timed } from './measure';
import { log, MB, siteFiles } from './sites';
import { runMain, sh } from '../lib/shell';
import { text, whole } from '../lib/args';
import { busyCpuSeconds } from '../lib/floor';

const STATE = path.resolve(text('state-dir', '.drover-test'));
const OFFSET = whole('port-offset', 1900);
const FILES_MB = whole('files-mb', 512);
const ROUNDS = whole('rounds', 2);
/** Which restores run each round (e.g. only `droverDedup` under a profiler); all three by default. */
const ALL_METHODS = ['floor', 'droverTar', 'droverDedup'];
const METHODS = new Set(text('methods', ALL_METHODS.join(',')).split(','));
for (const m of METHODS) {
  if (!ALL_METHODS.includes(m)) {
    process.stderr.write(`--methods: "${m}" is not one of ${ALL_METHODS.join(', ')}\n`);
    process.exit(2);
  }
}
const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => new MockActivityEnvironment().run(fn, a) as Promise<R>;

/** This process's garbage collections so far (the restores run in it): milliseconds and count, full and young. */
const gc = { fullMs: 0, fullCount: 0, youngMs: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    if ((e as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === perf.NODE_PERFORMANCE_GC_MAJOR) {
      gc.fullMs += e.duration;
      gc.fullCount++;
    } else gc.youngMs += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

/**
 * `fn` timed, with the machine's busy CPU seconds it took (on 2 cores, what a restore competes for) and the
 * garbage collections of this process meanwhile.
 */
async function timedCpu(fn: () => Promise<unknown>): Promise<{ ms: number; cpu: number; gc: typeof gc }> {
  const cpu0 = busyCpuSeconds();
  const gc0 = { ...gc };
  const { ms } = await timed(fn);
  return { ms, cpu: busyCpuSeconds() - cpu0, gc: { fullMs: gc.fullMs - gc0.fullMs, fullCount: gc.fullCount - gc0.fullCount, youngMs: gc.youngMs - gc0.youngMs } };
}


async function main(): Promise<void> {
  const up = await devUp({ stateDir: STATE, portOffset: OFFSET, log });
  if (!up.healthy) throw new Error('environment not healthy');
  const env: WorkerEnv = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  // The environment's own dedup key (`drover dev up` writes one) is left out of the tar point's backup.
  const tarDeps = { ...deps, backup: { recipients: deps.backup.recipients, identityFile: deps.backup.identityFile } };
  const dedupDeps = { ...deps, backup: { ...deps.backup, dedupKey: randomBytes(32) } };
  const stamp = Date.now().toString(36);
  const domain = `files-bench-${stamp}.demo.drover.test`;
  const site = { domain, database: `wp_files_bench_${stamp}`, filesPath: path.join(STATE, 'sites', domain) };
  try {
    log(`generating ${FILES_MB} MiB of files (not timed)`);
    await siteFiles(deps, site, FILES_MB);
    const expected = treeHashes(site.filesPath);
    const input = { site: domain, filesPath: site.filesPath, storageHost: null };
    const tarBackup = await timed(() => run(createStorageArchiveActivities(tarDeps).archiveSiteFilesToSpaces, { ...input, date: '2026-11-01' }));
    const dedupBackup = await timed(() => run(createStorageArchiveActivities(dedupDeps).archiveSiteFilesToSpaces, { ...input, date: '2026-11-02' }));
    const again = await timed(() => run(createStorageArchiveActivities(dedupDeps).archiveSiteFilesToSpaces, { ...input, date: '2026-11-03' }));

    const s3 = new URL(env.DROVER_S3_ENDPOINT);
    const creds = { AK: env.DROVER_S3_ACCESS_KEY_ID, SK: env.DROVER_S3_SECRET_ACCESS_KEY };
    const get = (key: string) => `curl -sf --aws-sigv4 "aws:amz:${env.DROVER_S3_REGION}:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "${s3.origin}/${env.DROVER_S3_BUCKET}/${key}"`;
    const scratch = mkdtempSync(path.join(os.tmpdir(), 'drover-fbench-'));
    const copy = path.join(STATE, 'sites', `${domain}-copy`);
    const restore = createStorageRestoreActivities(deps).extractFilesToStaging;
    const times: Record<'floor' | 'droverTar' | 'droverDedup', number[]> = { floor: [], droverTar: [], droverDedup: [] };
    const cpu: Record<keyof typeof times, number[]> = { floor: [], droverTar: [], droverDedup: [] };
    const gcs: Record<keyof typeof times, string[]> = { floor: [], droverTar: [], droverDedup: [] };
    const record = (name: keyof typeof times, t: { ms: number; cpu: number; gc: typeof gc }) => {
      times[name].push(t.ms);
      cpu[name].push(t.cpu);
      gcs[name].push(`${t.gc.fullCount} full ${(t.gc.fullMs / 1000).toFixed(2)} s, young ${(t.gc.youngMs / 1000).toFixed(2)} s`);
    };
    const exact: boolean[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const to = path.join(scratch, 'floor');
      if (METHODS.has('floor')) {
        log(`round ${r + 1}: floor`);
        record('floor', await timedCpu(() => sh(`rm -rf ${to}; mkdir -p ${to}; ${get(tarBackup.value.key)} | age -d -i ${env.DROVER_BACKUP_AGE_IDENTITY_FILE} | zstd -dc | tar -C ${to} -xf -`, creds)));
      }
      for (const [name, b] of [['droverTar', tarBackup.value], ['droverDedup', dedupBackup.value]] as const) {
        if (!METHODS.has(name)) continue;
        log(`round ${r + 1}: ${name}`);
        record(name, await timedCpu(() => run(restore, { key: b.key, sha256: b.sha256, storageHost: null, livePath: copy })));
        const m = process.memoryUsage();
        log(`  after: heap ${(m.heapUsed / MB).toFixed(0)} MiB, external ${(m.external / MB).toFixed(0)} MiB, array buffers ${(m.arrayBuffers / MB).toFixed(0)} MiB, rss ${(m.rss / MB).toFixed(0)} MiB`);
        exact.push(JSON.stringify(treeHashes(copy + STAGING_SUFFIX)) === JSON.stringify(expected));
        rmSync(copy + STAGING_SUFFIX, { recursive: true, force: true });
      }
    }
    rmSync(scratch, { recursive: true, force: true });
    const best = (xs: number[]) => Math.min(...xs);
    const sec = (ms: number) => +(ms / 1000).toFixed(1);
    process.stdout.write(
      JSON.stringify(
        {
          cores: os.cpus().length,
          loadAverageAtEnd: os.loadavg().map((l) => +l.toFixed(1)),
          filesMiB: +(tarBackup.value.plainBytes / MB).toFixed(0),
          stored: { tarMiB: +(tarBackup.value.bytes / MB).toFixed(1), dedupFirstNightMiB: +(dedupBackup.value.dedup!.storedBytes / MB).toFixed(1), dedupUnchangedNightKiB: +(again.value.dedup!.storedBytes / 1024).toFixed(1) },
          backupSeconds: { tar: sec(tarBackup.ms), dedupFirst: sec(dedupBackup.ms), dedupUnchanged: sec(again.ms) },
          restoreSeconds: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, v.map(sec)])),
          // Busy CPU seconds of the whole machine during each restore (all processes; 2 cores = 2 s per second).
          restoreCpuSeconds: Object.fromEntries(Object.entries(cpu).map(([k, v]) => [k, v.map((c) => +c.toFixed(1))])),
          // The bench's own process (where Drover's restores run): V8's collections during each restore.
          restoreGc: gcs,
          bestOverFloor: { droverTar: +(best(times.droverTar) / best(times.floor)).toFixed(2), droverDedup: +(best(times.droverDedup) / best(times.floor)).toFixed(2) },
          exact: exact.every(Boolean),
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    rmSync(site.filesPath, { recursive: true, force: true });
    await closeActivityDeps(deps);
  }
}

runMain(main);

/**
 * Restore benchmark (docs/benchmarks.md) on the local Galera + S3 + sshd, one or two sites measured side by side
 * in one run on one machine (see measure.ts):
 *   realistic  — a database of long posts (default 200 MB) and a docroot of photos and sources (default 1 GiB);
 *   small rows — with `--postmeta-rows N`: the WordPress database plus N wp_postmeta rows of a few dozen bytes
 *                (a shop's product meta) and a small docroot: what costs per row rather than per byte.
 * Each site is backed up as a tar point and as a deduplicated point (issue 19) and restored by the floor (the
 * same tools by hand on the tar point: curl GET | age -d | zstd -d | mariadb and … | tar -x, alone and both at
 * once), by Drover to a new name (the tar point, then the deduplicated one) and by Drover over the live site (the
 * deduplicated point), each checked exact by fingerprints; ratios are against the floor of the same run. The report gives throughput per step and extrapolates the realistic site's RTO to
 * larger sites (linear in bytes). `--db-mb 0` skips the realistic site. `--pairs N` measures, for the realistic
 * site, the floor (both at once) and the deduplicated restore to a new name N times in all, one after the other, and reports each pair's
 * ratio and their median (one pair of single runs varies by a third from one run to the next).
 *   npx vite-node bench/restore/run.ts -- --db-mb 200 --files-mb 1024 [--postmeta-rows 2000000] [--pairs 5] [--state-dir D --port-offset N] [--perf DIR]
 */
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { devUp } from '../../devkit/dev-env';
import { mergedEnv, parseEnv, workerEnvSchema, type WorkerEnv } from '../../lib/env';
import { droverDataConverter } from '../../lib/data-converter';
import type { RestoreSiteResult } from '../../workflows/restore-site';
import { measureSite, timed, type BenchContext, type SiteMeasurement } from './measure';
import { log, MB, postsDatabase, siteFiles, smallRowsDatabase, type SiteSpec } from './sites';
import { runMain } from '../lib/shell';
import { text, whole } from '../lib/args';

const DB_MB = whole('db-mb', 200);
const FILES_MB = whole('files-mb', 1024);
const POSTMETA_ROWS = whole('postmeta-rows', 0);
const PAIRS = whole('pairs', 1);
if (PAIRS < 1) {
  process.stderr.write('--pairs: at least 1\n');
  process.exit(2);
}
// Another environment (its state folder and port offset) when the bench one's ports are taken.
const STATE = path.resolve(text('state-dir', '.drover-bench'));
const PORT_OFFSET = whole('port-offset', 200);
const s = (ms: number) => +(ms / 1000).toFixed(1);

const steps = (r: RestoreSiteResult) => Object.fromEntries(r.steps.map((st) => [st.name, s(st.ms)]));
const stepMs = (r: Pick<RestoreSiteResult, 'steps'>, name: string) => r.steps.find((st) => st.name.startsWith(name))?.ms ?? 0;
const databaseMs = (r: Pick<RestoreSiteResult, 'steps'>) => stepMs(r, 'download, verify, decrypt, load database') + stepMs(r, 'verify staging');
const filesMs = (r: Pick<RestoreSiteResult, 'steps'>) => stepMs(r, 'download, verify, decrypt, extract files');

/**
 * What both sites report: sizes, the floor, Drover's restores against it (the tar point to a new name, the
 * deduplicated point to a new name and over the live site), exactness, step times.
 */
function common(m: SiteMeasurement) {
  const { manifest, floorMs, copy, dedupCopy, live } = m;
  const ratio = (ms: number) => +(ms / floorMs.both).toFixed(2);
  return {
    site: {
      databasePlainMiB: +(manifest.database.plainBytes / MB).toFixed(0),
      databaseStoredMiB: +(manifest.database.bytes / MB).toFixed(0),
      filesPlainMiB: +(manifest.files.plainBytes / MB).toFixed(0),
      filesStoredMiB: +(manifest.files.bytes / MB).toFixed(0),
      filesDedupMiB: +(m.dedupManifest.files.bytes / MB).toFixed(0),
      tables: manifest.database.tables.length,
      rows: manifest.database.tables.reduce((a, t) => a + t.rows, 0),
    },
    backupSeconds: { tar: s(m.backupMs.tar), dedup: s(m.backupMs.dedup) },
    floorSeconds: { database: s(floorMs.database), files: s(floorMs.files), both: s(floorMs.both) },
    droverSeconds: { tarCopy: s(copy.rtoMs), dedupCopy: s(dedupCopy.rtoMs), dedupLive: s(live.rtoMs) },
    overFloor: { tarCopy: ratio(copy.rtoMs), dedupCopy: ratio(dedupCopy.rtoMs), dedupLive: ratio(live.rtoMs) },
    ...(m.pairs.length > 1 ? { pairs: pairsReport(m.pairs) } : {}),
    exact: m.exact,
    loadAverage: m.loadAverage,
    cpuSeconds: m.cpuSeconds,
    copySteps: steps(copy),
    dedupCopySteps: steps(dedupCopy),
    liveSteps: steps(live),
  };
}

/** Each pair (the floor, then the deduplicated restore to a new name): seconds and ratio; the ratios' median. */
function pairsReport(pairs: SiteMeasurement['pairs']) {
  const ratios = pairs.map((p) => p.dedupMs / p.floorMs);
  const sorted = [...ratios].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median = sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return {
    // The restore's two branches side by side (its database step with the staging's verification; its files step),
    // the steps outside them (lock, look-ups, swaps, check, clean-up), and the CPU each of the pair used.
    each: pairs.map((p, i) => ({
      floorSeconds: s(p.floorMs),
      dedupCopySeconds: s(p.dedupMs),
      ratio: +ratios[i].toFixed(2),
      dedupBranchesSeconds: { database: s(databaseMs({ steps: p.dedupSteps })), files: s(filesMs({ steps: p.dedupSteps })) },
      dedupOutsideBranchesSeconds: s(p.dedupMs - Math.max(databaseMs({ steps: p.dedupSteps }), filesMs({ steps: p.dedupSteps }))),
      cpuSeconds: { floor: p.floorCpu, dedupCopy: p.dedupCpu },
    })),
    medianRatio: +median.toFixed(2),
    within1_5: ratios.filter((r) => r <= 1.5).length,
  };
}

/** The realistic site's throughputs on this box, the fixed part of an RTO, and RTOs extrapolated from them. */
function extrapolation(m: SiteMeasurement) {
  const dbMiB = m.manifest.database.plainBytes / MB;
  const filesMiB = m.manifest.files.plainBytes / MB;
  const dbMs = databaseMs(m.copy);
  const filesStepMs = filesMs(m.copy);
  const safetyMs = stepMs(m.live, 'safety point');
  const rate = { databaseMiBps: dbMiB / (dbMs / 1000), filesMiBps: filesMiB / (filesStepMs / 1000), safetyPointMiBps: (dbMiB + filesMiB) / (safetyMs / 1000) };
  const fixedMs = m.copy.rtoMs - Math.max(dbMs, filesStepMs);
  const project = (d: number, f: number, withSafety: boolean) =>
    +((fixedMs / 1000 + Math.max(d / rate.databaseMiBps, f / rate.filesMiBps) + (withSafety ? (d + f) / rate.safetyPointMiBps : 0)) / 60).toFixed(1);
  const sizes = [[200, 1024], [1024, 5 * 1024], [2048, 10 * 1024], [5 * 1024, 25 * 1024]];
  return {
    throughputMiBps: Object.fromEntries(Object.entries(rate).map(([k, v]) => [k, +v.toFixed(1)])),
    fixedSeconds: s(fixedMs),
    projectedMinutes: Object.fromEntries(sizes.map(([d, f]) => [`db ${d} MiB + files ${f} MiB`, { newName: project(d, f, false), overLive: project(d, f, true) }])),
  };
}

/** Rows loaded per second: the measure that matters when a database is millions of small rows. */
function rowRates(m: SiteMeasurement) {
  const rows = m.manifest.database.tables.reduce((a, t) => a + t.rows, 0);
  return { floorDatabase: Math.round(rows / (m.floorMs.database / 1000)), droverDatabase: Math.round(rows / (databaseMs(m.copy) / 1000)) };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  log(`environment in ${STATE}`);
  const env0 = await devUp({ stateDir: STATE, portOffset: PORT_OFFSET, log });
  if (!env0.healthy) throw new Error('bench environment not healthy');
  const env: WorkerEnv = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const ctx: BenchContext = { stateDir: STATE, portOffset: PORT_OFFSET, env, deps, client: new Client({ connection, dataConverter: droverDataConverter(env) }) };
  const stamp = Date.now().toString(36);
  const spec = (kind: string): SiteSpec => {
    const domain = `${kind}-bench-${stamp}.demo.drover.test`;
    return { domain, database: `wp_${kind}_bench_${stamp}`, filesPath: path.join(STATE, 'sites', domain) };
  };
  const report: Record<string, unknown> = { cores: os.cpus().length, loadAverageAtStart: os.loadavg().map((l) => +l.toFixed(1)) };
  try {
    if (DB_MB > 0) {
      const site = spec('restore');
      log(`generating ${site.domain}: ${DB_MB} MiB database, ${FILES_MB} MiB files (not timed)`);
      await postsDatabase(deps, site, DB_MB);
      await siteFiles(deps, site, FILES_MB);
      const m = await measureSite(ctx, site, `r${stamp}`, PAIRS);
      report.realistic = { ...common(m), ...extrapolation(m) };
    }
    if (POSTMETA_ROWS > 0) {
      const site = spec('rows');
      log(`generating ${site.domain}: ${POSTMETA_ROWS.toLocaleString('en')} wp_postmeta rows, a small docroot`);
      const made = await timed(() => smallRowsDatabase(deps, site, POSTMETA_ROWS));
      await siteFiles(deps, site, 0);
      const m = await measureSite(ctx, site, `m${stamp}`);
      report.smallRows = { postmetaRows: POSTMETA_ROWS, generatedSeconds: s(made.ms), ...common(m), rowsPerSecond: rowRates(m) };
    }
    report.loadAverageAtEnd = os.loadavg().map((l) => +l.toFixed(1));
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    await connection.close();
    await closeActivityDeps(deps);
  }
}

runMain(main);

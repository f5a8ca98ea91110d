/**
 * One large site's files step alone, Drover against the floor, side by side in one run (docs/benchmarks.md,
 * issue 18): the production-shaped night's tail is its two large sites' files. One docroot of `--files-mb` MiB of
 * incompressible uploads (and 2,000 PHP-like files) is backed up `--rounds` times by each, the order alternating
 * round by round:
 *   floor  — the backup bench's reference (`ssh … tar | zstd | age > tmp; curl -T`): OpenSSH, curl, no Node;
 *   drover — archiveSiteFilesToSpaces as a tar point (ssh2 in process, `zstd | age` beside it, multipart upload).
 * Nothing else runs meanwhile: it shows the per-byte cost of Drover's path apart from a night's contention. Runs on
 * a development environment (started if it is not up: its state folder and port offset; the backup bench's own,
 * `.drover-bench` at 200, will do) and leaves what it stored in the bucket (under `bench/files-step/` and the
 * generated site's points), as the backup bench does.
 *   npx vite-node bench/backup/files-step.ts -- --state-dir .drover-bench --port-offset 200 --files-mb 96 --rounds 5
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { createStorageArchiveActivities } from '../../activities/storage-archive';
import { devUp } from '../../devkit/dev-env';
import { mergedEnv, parseEnv, workerEnvSchema, type WorkerEnv } from '../../lib/env';
import { shellQuote } from '../../lib/shell-quote';
import { timed } from '../restore/measure';
import { log, MB, siteFiles } from '../restore/sites';
import { runMain, sh } from '../lib/shell';
import { text, whole } from '../lib/args';
import { busyCpuSeconds, floorFilesPipeline } from '../lib/floor';

const STATE = path.resolve(text('state-dir', '.drover-bench'));
const OFFSET = whole('port-offset', 200);
const FILES_MB = whole('files-mb', 96);
const ROUNDS = whole('rounds', 5);
if (ROUNDS < 1 || ROUNDS > 28) {
  process.stderr.write(`--rounds must be 1 to 28 (one night of February 2031 each), got ${ROUNDS}\n`);
  process.exit(2);
}
const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => new MockActivityEnvironment().run(fn, a) as Promise<R>;
function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return (s[Math.floor((s.length - 1) / 2)] + s[Math.ceil((s.length - 1) / 2)]) / 2;
}

async function main(): Promise<void> {
  const up = await devUp({ stateDir: STATE, portOffset: OFFSET, log });
  if (!up.healthy) throw new Error('environment not healthy');
  const env: WorkerEnv = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  // A tar point, as the backup bench's nights write (the environment's own dedup key left out).
  const archive = createStorageArchiveActivities({ ...deps, backup: { recipients: deps.backup.recipients, identityFile: deps.backup.identityFile } }).archiveSiteFilesToSpaces;
  const stamp = Date.now().toString(36);
  const domain = `files-step-${stamp}.demo.drover.test`;
  const site = { domain, database: `wp_files_step_${stamp}`, filesPath: path.join(STATE, 'sites', domain) };
  const s3 = new URL(env.DROVER_S3_ENDPOINT);
  const scratch = mkdtempSync(path.join(os.tmpdir(), 'drover-files-step-'));
  const out = shellQuote(path.join(scratch, 'files'));
  const floor = (n: number) =>
    floorFilesPipeline({ keyFile: env.DROVER_SSH_KEY_FILE, target: deps.ssh.defaultTarget, recipients: deps.backup.recipients, files: shellQuote(site.filesPath), out }) +
    ` && curl -sf --aws-sigv4 "aws:amz:${env.DROVER_S3_REGION}:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T ${out} "${s3.origin}/${env.DROVER_S3_BUCKET}/bench/files-step/${stamp}-${n}" >/dev/null`;
  try {
    log(`generating ${FILES_MB} MiB of files (not timed)`);
    await siteFiles(deps, site, FILES_MB);
    const seconds: Record<'floor' | 'drover', number[]> = { floor: [], drover: [] };
    const cpu: Record<keyof typeof seconds, number[]> = { floor: [], drover: [] };
    let plainBytes = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of r % 2 ? (['drover', 'floor'] as const) : (['floor', 'drover'] as const)) {
        log(`round ${r + 1}: ${name}`);
        const c0 = busyCpuSeconds();
        const { ms, value } = await timed(async () =>
          name === 'floor'
            ? sh(floor(r), { AK: env.DROVER_S3_ACCESS_KEY_ID, SK: env.DROVER_S3_SECRET_ACCESS_KEY })
            : run(archive, { site: domain, date: `2031-02-${String(r + 1).padStart(2, '0')}`, filesPath: site.filesPath, storageHost: null }),
        );
        if (value) plainBytes = value.plainBytes;
        seconds[name].push(+(ms / 1000).toFixed(2));
        cpu[name].push(+(busyCpuSeconds() - c0).toFixed(1));
      }
    }
    const ratios = seconds.drover.map((d, i) => d / seconds.floor[i]);
    process.stdout.write(
      JSON.stringify(
        {
          cores: os.cpus().length,
          tarMiB: +(plainBytes / MB).toFixed(1),
          seconds,
          // Busy CPU seconds of the whole machine during each (all processes; 2 cores = 2 s per second).
          cpuSeconds: cpu,
          droverOverFloor: { medianOfRounds: +median(ratios).toFixed(2), bestOverBest: +(Math.min(...seconds.drover) / Math.min(...seconds.floor)).toFixed(2) },
          extraCpuSecondsMedian: +median(cpu.drover.map((c, i) => c - cpu.floor[i])).toFixed(1),
        },
        null,
        2,
      ) + '\n',
    );
  } finally {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(site.filesPath, { recursive: true, force: true });
    await closeActivityDeps(deps);
  }
}

runMain(main);

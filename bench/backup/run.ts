/**
 * Backup benchmark (docs/benchmarks.md): N generated sites on the local Galera + S3, measured side by side in one
 * run on one machine:
 *   floor   — every database dumped to /dev/null, same concurrency as Drover (the dump cost alone);
 *   drover  — one nightly backup through Temporal (database + files, zstd, age, S3 multipart, manifest);
 *   cron    — a plain sequential shell loop per database: mariadb-dump | gzip | gpg > file; curl -T file (S3).
 * Also: workflow history sizes and the worker process's peak RSS.
 *   npx vite-node bench/backup/run.ts -- --sites 500 --concurrency 16
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { devUp } from '../../lib/dev-env';
import { generateDemoSites } from '../../lib/dev-env/demo-sites';
import { mergedEnv, parseEnv, workerEnvSchema } from '../../lib/env';
import { createDroverWorker } from '../../workers/run-worker';
import { TASK_QUEUES } from '../../workflows/lib/ids';
import type { NightlyBackupResult } from '../../workflows/nightly-backup';

const run = promisify(execFile);
const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const SITES = arg('sites', 500);
const CONCURRENCY = arg('concurrency', 16);
const STATE = path.resolve('.drover-bench');
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}

async function pool<T>(items: T[], n: number, fn: (x: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  await Promise.all(Array.from({ length: n }, async () => {
    for (let x = queue.shift(); x !== undefined; x = queue.shift()) await fn(x);
  }));
}

function sh(script: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-euo', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.once('close', (c) => (c === 0 ? resolve() : reject(new Error(`exit ${c}: ${err.slice(-500)}`))));
  });
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  log(`environment in ${STATE}`);
  const env0 = await devUp({ stateDir: STATE, portOffset: 200, log });
  if (!env0.healthy) throw new Error('bench environment not healthy');
  const env = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  try {
    log(`generating ${SITES} sites (not timed)`);
    const sites = await generateDemoSites(deps, STATE, { count: SITES, prefix: 'bench', posts: 20, uploadBytes: 64 * 1024, log: () => undefined });
    const node = (await deps.galera.syncedNodes()).at(-1)!;
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-bench-'));
    const cnf = path.join(dir, 'c.cnf');
    writeFileSync(cnf, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${env.DROVER_GALERA_USER}\npassword="${env.DROVER_GALERA_PASSWORD}"\n`, { mode: 0o600 });

    log('floor: dumps to /dev/null');
    const floor = await timed(() => pool(sites, CONCURRENCY, (s) => sh(`mariadb-dump --defaults-extra-file=${cnf} --single-transaction --quick ${s.database} > /dev/null`)));

    log('drover: one backup night through Temporal');
    const date = `2030-01-${String(1 + (Date.now() % 28)).padStart(2, '0')}`;
    const { worker, close } = await createDroverWorker('backup', env, { maxConcurrentActivityTaskExecutions: 64 });
    let peakRss = 0;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 100);
    const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    const client = new Client({ connection });
    const workflowId = `nightly-backup/${date}/bench-${Date.now()}`;
    const drover = await timed(() =>
      worker.runUntil(client.workflow.execute('nightlyBackupWorkflow', { workflowId, taskQueue: TASK_QUEUES.backup, args: [{ date, sites: sites.map((s) => s.domain), concurrency: CONCURRENCY }] }) as Promise<NightlyBackupResult>),
    );
    clearInterval(sampler);
    await close();
    const runs: number[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) runs.push(wf.historyLength);
    const children: number[] = [];
    for await (const wf of client.workflow.list({ query: `WorkflowType = 'siteBackupWorkflow' AND StartTime > '${new Date(Date.now() - drover.ms - 60_000).toISOString()}'` })) children.push(wf.historyLength);
    await connection.close();

    log('cron: sequential dump | gzip | gpg > file; curl -T file');
    const gnupg = mkdtempSync(path.join(os.tmpdir(), 'gnupg-'));
    await run('gpg', ['--homedir', gnupg, '--batch', '--passphrase', '', '--quick-gen-key', 'bench@drover.test', 'default', 'default', 'never']);
    const s3 = new URL(env.DROVER_S3_ENDPOINT);
    const cron = await timed(async () => {
      for (const s of sites) {
        await sh(
          `f=$(mktemp); mariadb-dump --defaults-extra-file=${cnf} --single-transaction --quick ${s.database} | gzip | gpg --homedir ${gnupg} --batch --trust-model always -e -r bench@drover.test > "$f"; ` +
            `curl -sf --aws-sigv4 "aws:amz:${env.DROVER_S3_REGION}:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T "$f" "${s3.origin}/${env.DROVER_S3_BUCKET}/cron/${s.domain}/${date}.sql.gz.gpg"; rm -f "$f"`,
          { AK: env.DROVER_S3_ACCESS_KEY_ID, SK: env.DROVER_S3_SECRET_ACCESS_KEY },
        );
      }
    });

    const r = drover.value;
    const report = {
      sites: SITES,
      concurrency: CONCURRENCY,
      cores: os.cpus().length,
      floorSeconds: +(floor.ms / 1000).toFixed(1),
      droverSeconds: +(drover.ms / 1000).toFixed(1),
      cronSeconds: +(cron.ms / 1000).toFixed(1),
      droverOverFloor: +(drover.ms / floor.ms).toFixed(2),
      cronOverDrover: +(cron.ms / drover.ms).toFixed(2),
      created: r.created,
      failed: r.failed.length,
      parentRuns: runs.length,
      parentHistoryEvents: { max: Math.max(...runs), total: runs.reduce((a, b) => a + b, 0) },
      childHistoryEvents: { max: Math.max(...children), median: children.sort((a, b) => a - b)[Math.floor(children.length / 2)] },
      workerPeakRssMiB: Math.round(peakRss / 1024 / 1024),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    await closeActivityDeps(deps);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);

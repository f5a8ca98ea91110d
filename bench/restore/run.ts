/**
 * Restore benchmark (docs/benchmarks.md): one site of a realistic size (default 200 MB database, 1 GiB of files)
 * on the local Galera + S3 + sshd, measured side by side in one run on one machine:
 *   floor   — the same restore done by hand with the same tools: curl GET | age -d | zstd -d | mariadb (database)
 *             and curl GET | age -d | zstd -d | tar -x (files), each alone and both at once;
 *   copy    — restoreSiteWorkflow to a new name (no safety point): Drover's RTO and each step's time;
 *   live    — restoreSiteWorkflow over the live site: the operator's path, safety point of the live site included.
 * The report gives throughput per step and extrapolates the RTO to larger sites (linear in bytes).
 *   npx vite-node bench/restore/run.ts -- --db-mb 200 --files-mb 1024
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { closeActivityDeps, createActivityDeps, type ActivityDeps } from '../../activities';
import { createSpacesActivities } from '../../activities/spaces';
import { SshClient } from '../../activities/lib/ssh-client';
import { objectKey } from '../../lib/backup-layout';
import { devUp } from '../../lib/dev-env';
import { mergedEnv, parseEnv, workerEnvSchema, type WorkerEnv } from '../../lib/env';
import { generateSiteDatabase, generateSiteFiles } from '../../lib/site-generator';
import { siteFingerprint } from '../../lib/site-fingerprint';
import { upsertSite, type SiteRecord } from '../../lib/site-registry';
import { createDroverWorker } from '../../workers/run-worker';
import { TASK_QUEUES } from '../../workflows/lib/ids';
import type { RestoreSiteResult } from '../../workflows/restore-site';

const arg = (name: string, dflt: number) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : dflt;
};
const DB_MB = arg('db-mb', 200);
const FILES_MB = arg('files-mb', 1024);
const STATE = path.resolve('.drover-bench');
const MB = 1024 * 1024;
const log = (m: string) => process.stderr.write(`[bench] ${m}\n`);

async function timed<T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> {
  const t = process.hrtime.bigint();
  const value = await fn();
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, value };
}

function sh(script: string, env: NodeJS.ProcessEnv = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn('bash', ['-euo', 'pipefail', '-c', script], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.once('close', (c) => (c === 0 ? resolve() : reject(new Error(`exit ${c}: ${err.slice(-500)}`))));
  });
}

/** A WordPress database grown to about `mb` MiB of posts (long block-markup content, like a real blog's). */
async function bigDatabase(deps: ActivityDeps, site: { domain: string; database: string; filesPath: string }, mb: number): Promise<void> {
  const writer = (await deps.galera.syncedNodes())[0];
  const pool = deps.galera.pool(writer);
  await generateSiteDatabase(pool, { ...site, posts: 200 });
  const words = 'lorem ipsum dolor sit amet café garden coffee roast bakery studio harbour shipping cart checkout review recipe weekend market seasonal fresh local'.split(' ');
  let seed = 1;
  const rand = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
  const paragraph = () => `<!-- wp:paragraph -->\n<p>${Array.from({ length: 120 }, () => words[Math.floor(rand() * words.length)]).join(' ')}.</p>\n<!-- /wp:paragraph -->\n`;
  // Counted as inserted (InnoDB's table statistics lag behind bulk inserts).
  let inserted = 0;
  for (let n = 0; inserted < mb * MB; n++) {
    const rows = Array.from({ length: 500 }, (_, i) => {
      const title = `Bench post ${n}-${i}`;
      return [1, '2025-01-01 00:00:00', '2025-01-01 00:00:00', Array.from({ length: 6 }, paragraph).join(''), title, '', 'publish', 'open', 'open', '', `bench-post-${n}-${i}`, '', '', '2025-01-01 00:00:00', '2025-01-01 00:00:00', '', 0, '', 0, 'post', '', 0];
    });
    await pool.query(
      `INSERT INTO \`${site.database}\`.wp_posts (post_author, post_date, post_date_gmt, post_content, post_title, post_excerpt, post_status, comment_status, ping_status, post_password, post_name, to_ping, pinged, post_modified, post_modified_gmt, post_content_filtered, post_parent, guid, menu_order, post_type, post_mime_type, comment_count) VALUES ?`,
      [rows],
    );
    inserted += rows.reduce((a, r) => a + String(r[3]).length, 0);
    if (n % 20 === 0) log(`  database ${(inserted / MB).toFixed(0)} MiB`);
  }
}

/** A docroot with `mb` MiB of uploads (2,048 incompressible "photos") plus 2,000 small PHP-like text files. */
async function bigFiles(deps: ActivityDeps, site: { domain: string; database: string; filesPath: string }, mb: number): Promise<void> {
  const ssh = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
  try {
    await generateSiteFiles(ssh, { ...site, uploadBytes: 4096 });
    const each = Math.max(1, Math.floor((mb * MB) / 2048));
    await ssh.execOrThrow(
      `set -e; cd '${site.filesPath}'; for m in 01 02 03 04 05 06 07 08; do mkdir -p wp-content/uploads/2025/$m; done; ` +
        `head -c ${each * 2048} /dev/urandom | split -b ${each} -d -a 4 - wp-content/uploads/2025/photo-; ` +
        `i=0; for f in wp-content/uploads/2025/photo-*; do i=$((i+1)); mv "$f" "wp-content/uploads/2025/0$(( (i % 8) + 1 ))/$(basename "$f").jpg"; done; ` +
        `mkdir -p wp-includes/bench; for i in $(seq 1 2000); do yes "<?php /* WordPress core-like source line $i */ echo esc_html( get_the_title() );" | head -c 20000 > wp-includes/bench/file-$i.php; done`,
    );
  } finally {
    ssh.close();
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  log(`environment in ${STATE}`);
  const env0 = await devUp({ stateDir: STATE, portOffset: 200, log });
  if (!env0.healthy) throw new Error('bench environment not healthy');
  const env: WorkerEnv = parseEnv(workerEnvSchema, mergedEnv(STATE));
  const deps = createActivityDeps(env);
  const connection = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
  const client = new Client({ connection });
  const stamp = Date.now().toString(36);
  try {
    const domain = `restore-bench-${stamp}.demo.drover.test`;
    const spec = { domain, database: `wp_rbench_${stamp}`, filesPath: path.join(STATE, 'sites', domain) };
    log(`generating ${domain}: ${DB_MB} MiB database, ${FILES_MB} MiB files (not timed)`);
    await bigDatabase(deps, spec, DB_MB);
    await bigFiles(deps, spec, FILES_MB);
    const site: SiteRecord = await upsertSite(deps.galera, { ...spec, storageHost: null });
    const before = await siteFingerprint(deps, site);

    const date = '2030-02-01';
    log('backing up (timed for reference)');
    const backupWorker = await createDroverWorker('backup', env);
    const backup = await timed(() =>
      backupWorker.worker.runUntil(client.workflow.execute('siteBackupWorkflow', { workflowId: `backup/${domain}/${date}`, taskQueue: TASK_QUEUES.backup, args: [{ site: domain, date }] })),
    );
    await backupWorker.close();
    const manifest = await createSpacesActivities(deps).readManifest({ site: domain, date });

    // The floor: the same tools by hand, no Temporal, no verification, no staging, no swap.
    const node = await deps.galera.writerNode();
    const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-rbench-'));
    const cnf = path.join(dir, 'c.cnf');
    writeFileSync(cnf, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${env.DROVER_GALERA_USER}\npassword="${env.DROVER_GALERA_PASSWORD}"\n`, { mode: 0o600 });
    const s3 = new URL(env.DROVER_S3_ENDPOINT);
    const get = (key: string) => `curl -sf --aws-sigv4 "aws:amz:${env.DROVER_S3_REGION}:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" "${s3.origin}/${env.DROVER_S3_BUCKET}/${key}"`;
    const creds = { AK: env.DROVER_S3_ACCESS_KEY_ID, SK: env.DROVER_S3_SECRET_ACCESS_KEY };
    const id = env.DROVER_BACKUP_AGE_IDENTITY_FILE!;
    const floorDb = (db: string) =>
      sh(`mariadb --defaults-extra-file=${cnf} -e 'DROP DATABASE IF EXISTS ${db}; CREATE DATABASE ${db}'; ${get(objectKey(domain, date, 'database'))} | age -d -i ${id} | zstd -dc | mariadb --defaults-extra-file=${cnf} --binary-mode ${db}`, creds);
    const floorFiles = (to: string) => sh(`rm -rf ${to}; mkdir -p ${to}; ${get(objectKey(domain, date, 'files'))} | age -d -i ${id} | zstd -dc | tar -C ${to} -xf -`, creds);
    log('floor: database alone');
    const fDb = await timed(() => floorDb(`floor_db_${stamp}`));
    log('floor: files alone');
    const fFiles = await timed(() => floorFiles(path.join(dir, 'files')));
    log('floor: both at once');
    const fBoth = await timed(() => Promise.all([floorDb(`floor_db2_${stamp}`), floorFiles(path.join(dir, 'files2'))]));
    await sh(`mariadb --defaults-extra-file=${cnf} -e 'DROP DATABASE floor_db_${stamp}; DROP DATABASE floor_db2_${stamp}'`);
    rmSync(dir, { recursive: true, force: true });

    // A fresh worker per restore (a worker runs once), created before the clock starts.
    const restore = async (args: object, workflowId: string) => {
      const w = await createDroverWorker('restore', env);
      try {
        return await timed(() => w.worker.runUntil(client.workflow.execute('restoreSiteWorkflow', { workflowId, taskQueue: TASK_QUEUES.restore, args: [args] }) as Promise<RestoreSiteResult>));
      } finally {
        await w.close();
      }
    };
    log('drover: restore to a new name');
    const copyName = `copy-${domain}`;
    const copy = await restore({ site: domain, at: date, to: copyName }, `restore/${domain}/${date}/to/${copyName}`);
    const copyFingerprint = await siteFingerprint(deps, { database: copy.value.database, filesPath: copy.value.filesPath, storageHost: null });
    log('drover: restore over the live site (safety point first)');
    const live = await restore({ site: domain, at: date }, `restore/${domain}/${date}`);
    const after = await siteFingerprint(deps, site);
    const acts = createActivityDeps(env);
    await acts.galera.query(await acts.galera.writerNode(), `DROP DATABASE IF EXISTS \`${copy.value.database}\``);
    await closeActivityDeps(acts);
    await sh(`rm -rf '${copy.value.filesPath}'`);

    const steps = (r: RestoreSiteResult) => Object.fromEntries(r.steps.map((s) => [s.name, +(s.ms / 1000).toFixed(1)]));
    const stepMs = (r: RestoreSiteResult, name: string) => r.steps.find((s) => s.name.startsWith(name))?.ms ?? 0;
    const dbPlain = manifest.database.plainBytes;
    const filesPlain = manifest.files.plainBytes;
    // Throughputs measured on this box (MiB of plain data per second) and the fixed part of an RTO.
    const dbMs = stepMs(copy.value, 'download, verify, decrypt, load database') + stepMs(copy.value, 'verify staging');
    const filesMs = stepMs(copy.value, 'download, verify, decrypt, extract files');
    const safetyMs = stepMs(live.value, 'safety point');
    const rate = { databaseMiBps: dbPlain / MB / (dbMs / 1000), filesMiBps: filesPlain / MB / (filesMs / 1000), safetyPointMiBps: (dbPlain + filesPlain) / MB / (safetyMs / 1000) };
    const fixedMs = copy.value.rtoMs - Math.max(dbMs, filesMs);
    const projectMin = (dbMiB: number, filesMiB: number, withSafety: boolean) =>
      +((fixedMs / 1000 + Math.max(dbMiB / rate.databaseMiBps, filesMiB / rate.filesMiBps) + (withSafety ? (dbMiB + filesMiB) / rate.safetyPointMiBps : 0)) / 60).toFixed(1);
    const report = {
      cores: os.cpus().length,
      site: { databasePlainMiB: +(dbPlain / MB).toFixed(0), databaseStoredMiB: +(manifest.database.bytes / MB).toFixed(0), filesPlainMiB: +(filesPlain / MB).toFixed(0), filesStoredMiB: +(manifest.files.bytes / MB).toFixed(0), tables: manifest.database.tables.length, rows: manifest.database.tables.reduce((a, t) => a + t.rows, 0) },
      backupSeconds: +(backup.ms / 1000).toFixed(1),
      floorSeconds: { database: +(fDb.ms / 1000).toFixed(1), files: +(fFiles.ms / 1000).toFixed(1), both: +(fBoth.ms / 1000).toFixed(1) },
      droverCopySeconds: +(copy.value.rtoMs / 1000).toFixed(1),
      droverLiveSeconds: +(live.value.rtoMs / 1000).toFixed(1),
      copyOverFloor: +(copy.value.rtoMs / fBoth.ms).toFixed(2),
      liveOverFloor: +(live.value.rtoMs / fBoth.ms).toFixed(2),
      exact: { copy: copyFingerprint.database === before.database && copyFingerprint.files === before.files, live: after.database === before.database && after.files === before.files },
      copySteps: steps(copy.value),
      liveSteps: steps(live.value),
      throughputMiBps: Object.fromEntries(Object.entries(rate).map(([k, v]) => [k, +v.toFixed(1)])),
      fixedSeconds: +(fixedMs / 1000).toFixed(1),
      projectedMinutes: Object.fromEntries(
        [
          [200, 1024],
          [1024, 5 * 1024],
          [2048, 10 * 1024],
          [5 * 1024, 25 * 1024],
        ].map(([d, f]) => [`db ${d} MiB + files ${f} MiB`, { newName: projectMin(d, f, false), overLive: projectMin(d, f, true) }]),
      ),
    };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } finally {
    await connection.close();
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

/**
 * One large site's files step alone, Drover against the floor, side by side in one run (docs/benchmarks.md,
 * issue 18): the production-shaped night's tail is its two large sites' files. One docroot of `--files-mb` MiB of
 * incompressible uploads (and 2,000 PHP-like files) is backed up `--rounds` times by each method, the order
 * reversed round by round:
 *   floor     — the backup bench's reference (`ssh … tar | zstd | age > tmp; curl -T`): OpenSSH, curl, no Node;
 *   drover    — archiveSiteFilesToSpaces as a tar point (ssh2 in process, `zstd | age` beside it, multipart upload).
 * With `--methods`, also transports Drover does not have, measured to see what each would buy (not used by any
 * night; each makes the same object, and hashes its ciphertext as Drover does for the manifest):
 *   fileOut   — ssh2 in process into `zstd | age`, whose ciphertext goes to a file, not back into the worker; its
 *               SHA-256 read from the file, and one `curl` PUT of a presigned URL;
 *   openssh   — no byte in Node: OpenSSH's client (AES-128-GCM, Drover's cipher) into `zstd | age` into a file,
 *               then as fileOut;
 *   onStorage — the storage node does it all in one SSH command: `tar | zstd | age` into a file there, `openssl dgst`,
 *               and `curl` PUT of a presigned URL given on the command's stdin; only the hash comes back.
 * Nothing else runs meanwhile: it shows the per-byte cost of each path apart from a night's contention. Runs on
 * a development environment (started if it is not up: its state folder and port offset; the backup bench's own,
 * `.drover-bench` at 200, will do) and leaves what it stored in the bucket (under `bench/files-step/` and the
 * generated site's points), as the backup bench does.
 *   npx vite-node bench/backup/files-step.ts -- --state-dir .drover-bench --port-offset 200 --files-mb 96 --rounds 5 [--methods floor,drover,fileOut,openssh,onStorage]
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, createReadStream, mkdtempSync, openSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import os from 'node:os';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { createStorageArchiveActivities, filesArchiveCommand } from '../../activities/storage-archive';
import { SshClient } from '../../lib/clients/ssh-client';
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
const METHODS = ['floor', 'drover', 'fileOut', 'openssh', 'onStorage'] as const;
type Method = (typeof METHODS)[number];
const methods = text('methods', 'floor,drover').split(',') as Method[];
for (const m of methods) {
  if (!METHODS.includes(m)) {
    process.stderr.write(`--methods: unknown method "${m}" (one of ${METHODS.join(', ')})\n`);
    process.exit(2);
  }
}
if (!methods.includes('floor')) {
  process.stderr.write('--methods must include floor (every ratio is against it)\n');
  process.exit(2);
}
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
  // The floor's files half into `out`; with `cipher`, OpenSSH's client with another cipher than its default.
  const filesPipeline = (cipher?: string) => floorFilesPipeline({ keyFile: env.DROVER_SSH_KEY_FILE, target: deps.ssh.defaultTarget, recipients: deps.backup.recipients, files: shellQuote(site.filesPath), out, cipher });
  const floor = (n: number) =>
    filesPipeline() +
    ` && curl -sf --aws-sigv4 "aws:amz:${env.DROVER_S3_REGION}:s3" --user "$AK:$SK" -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" -T ${out} "${s3.origin}/${env.DROVER_S3_BUCKET}/bench/files-step/${stamp}-${n}" >/dev/null`;
  try {
    log(`generating ${FILES_MB} MiB of files (not timed)`);
    await siteFiles(deps, site, FILES_MB);
    const seconds = Object.fromEntries(methods.map((m) => [m, [] as number[]])) as Record<Method, number[]>;
    const cpu = Object.fromEntries(methods.map((m) => [m, [] as number[]])) as Record<Method, number[]>;
    const creds = { AK: env.DROVER_S3_ACCESS_KEY_ID, SK: env.DROVER_S3_SECRET_ACCESS_KEY };
    const recipients = deps.backup.recipients.map((r) => `-r ${r}`).join(' ');
    const keyOf = (m: Method, r: number) => `bench/files-step/${stamp}-${m}-${r}`;
    const presignedPut = (key: string) => getSignedUrl(deps.s3, new PutObjectCommand({ Bucket: env.DROVER_S3_BUCKET, Key: key }), { expiresIn: 900 });
    const curlPut = (file: string) => `curl -q -sf -T ${file} "$URL" >/dev/null`;
    // The ciphertext's SHA-256 read back from its file in large reads (what Drover's manifest needs).
    const hashOf = async (file: string) => {
      const h = createHash('sha256');
      await pipeline(createReadStream(file, { highWaterMark: 8 * MB }), h);
      return h.digest('hex');
    };
    const cipherFile = path.join(scratch, 'files');
    const fileOut = async (key: string) => {
      const client = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
      try {
        const run = await client.execStream(filesArchiveCommand(site.filesPath));
        const fd = openSync(cipherFile, 'w');
        const chain = spawn('bash', ['-o', 'pipefail', '-c', `zstd -3 -q -c -T2 | age ${recipients}`], { stdio: ['pipe', fd, 'inherit'] });
        closeSync(fd);
        const exited = new Promise<void>((resolve, reject) => chain.once('close', (c) => (c === 0 ? resolve() : reject(new Error(`zstd | age exited ${c}`)))));
        await Promise.all([pipeline(run.stdout, chain.stdin!), run.exit, exited]);
      } finally {
        client.close();
      }
      await Promise.all([hashOf(cipherFile), presignedPut(key).then((URL) => sh(curlPut(out), { URL }))]);
    };
    const openssh = async (key: string) => {
      await sh(filesPipeline('aes128-gcm@openssh.com'));
      await Promise.all([hashOf(cipherFile), presignedPut(key).then((URL) => sh(curlPut(out), { URL }))]);
    };
    const onStorage = async (key: string) => {
      const client = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
      try {
        const tmp = `/tmp/drover-files-step-${stamp}.age`;
        const script =
          `set -o pipefail; trap 'rm -f ${tmp}' EXIT; read -r URL; ` +
          `tar -C ${shellQuote(site.filesPath)} --numeric-owner -cf - . | zstd -3 -q -c -T2 | age ${recipients} > ${tmp} && openssl dgst -sha256 -r ${tmp} && ${curlPut(tmp)}`;
        const run = await client.execStream(`bash -c ${shellQuote(script)}`, { stdin: `${await presignedPut(key)}\n` });
        let said = '';
        run.stdout.on('data', (d: Buffer) => (said += d));
        await run.exit;
        if (!/^[0-9a-f]{64} /.test(said)) throw new Error(`onStorage: no SHA-256 came back: ${said.slice(0, 200)}`);
      } finally {
        client.close();
      }
    };
    let plainBytes = 0;
    for (let r = 0; r < ROUNDS; r++) {
      for (const name of r % 2 ? [...methods].reverse() : methods) {
        log(`round ${r + 1}: ${name}`);
        // What the method before wrote is on its way to the disk before this one is measured.
        execFileSync('sync');
        const c0 = busyCpuSeconds();
        const { ms } = await timed(async () => {
          if (name === 'floor') return sh(floor(r), creds);
          if (name === 'fileOut') return fileOut(keyOf(name, r));
          if (name === 'openssh') return openssh(keyOf(name, r));
          if (name === 'onStorage') return onStorage(keyOf(name, r));
          plainBytes = (await run(archive, { site: domain, date: `2031-02-${String(r + 1).padStart(2, '0')}`, filesPath: site.filesPath, storageHost: null })).plainBytes;
        });
        seconds[name].push(+(ms / 1000).toFixed(2));
        cpu[name].push(+(busyCpuSeconds() - c0).toFixed(1));
      }
    }
    const overFloor = (m: Method) => ({
      medianOfRounds: +median(seconds[m].map((d, i) => d / seconds.floor[i])).toFixed(2),
      bestOverBest: +(Math.min(...seconds[m]) / Math.min(...seconds.floor)).toFixed(2),
      extraCpuSecondsMedian: +median(cpu[m].map((c, i) => c - cpu.floor[i])).toFixed(1),
    });
    process.stdout.write(
      JSON.stringify(
        {
          cores: os.cpus().length,
          tarMiB: plainBytes ? +(plainBytes / MB).toFixed(1) : null,
          seconds,
          // Busy CPU seconds of the whole machine during each (all processes; 2 cores = 2 s per second).
          cpuSeconds: cpu,
          // Each method against the floor: the median of the rounds' time ratios, best against best, and the median
          // of the rounds' CPU-seconds over the floor's.
          overFloor: Object.fromEntries(methods.filter((m) => m !== 'floor').map((m) => [m, overFloor(m)])),
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

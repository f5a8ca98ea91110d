/**
 * The worker image, built from the repository's Dockerfile by the real Docker and run for real. No registry is
 * reachable, so its bases are stood in for: node:20-bookworm-slim by scripts/build-node-base-image.sh (Debian
 * bookworm from the Debian mirror plus this machine's Node 20, in the official image's layout), golang:1.25-bookworm
 * by scripts/build-go-base-image.sh (that image plus this machine's Go in /usr/local/go). Everything after the FROM
 * lines is the Dockerfile as operators build it (drover-packs built from its Go modules, npm install, tsc, the
 * workflow bundle, prune, apt-get of the tools, the non-root user), with --network host for the Go module proxy,
 * the npm registry and the Debian mirror.
 *
 * Asserted: the image runs as uid 10001 with the tools activities call and production dependencies only; its
 * infra worker, given its secrets as files (as the drover stack mounts Docker secrets), runs the smoke workflow
 * in a namespace no other worker polls (S3, all three Galera nodes, SSH and Docker reached from inside the
 * container) and Docker reports it healthy through the image's own health check.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { Connection, Client } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TASK_QUEUES } from '../../lib/contract/ids';
import type { smokeWorkflow } from '../../workflows/smoke';
import { ROOT } from '../helpers/paths';
import { testDataConverter, testEnv } from '../helpers/temporal';
import { keyIdOfFile } from '../../lib/payload-codec';
import { scratchDir } from '../helpers/scratch';

const exec = promisify(execFile);
const env = testEnv();
const DOCKER_HOST = env.DROVER_DOCKER_HOST;
const BASE = 'drover-local/node:20-bookworm-slim';
const GO_BASE = 'drover-local/golang:bookworm';
const IMAGE = `drover-local/drover:test-${randomBytes(3).toString('hex')}`;
const NAMESPACE = `image-${randomBytes(3).toString('hex')}`;
const CONTAINER = `drover-image-${randomBytes(3).toString('hex')}`;
const METRICS_PORT = 19464 + (process.pid % 400);
const docker = (args: string[], timeout = 600_000) => exec('docker', args, { env: { ...process.env, DOCKER_HOST }, timeout, maxBuffer: 64 << 20 });
const inImage = async (script: string) => (await docker(['run', '--rm', '--network', 'none', '--entrypoint', 'sh', IMAGE, '-c', script])).stdout.trim();

// In the default suite: about 2 minutes on the 2-core test machine with Docker's overlay2 driver (it took about 15
// with vfs, which copies the whole image at every step, and was opt-in then: a .dockerignore that left out devkit/
// broke the build unnoticed).
describe('the worker image', () => {
  let connection: Connection | undefined;

  beforeAll(async () => {
    await exec('bash', [path.join(ROOT, 'scripts/build-node-base-image.sh'), BASE], { env: { ...process.env, DOCKER_HOST }, timeout: 600_000 });
    await exec('bash', [path.join(ROOT, 'scripts/build-go-base-image.sh'), GO_BASE, BASE], { env: { ...process.env, DOCKER_HOST }, timeout: 600_000 });
    await docker(['build', '--network', 'host', '--build-arg', `NODE_IMAGE=${BASE}`, '--build-arg', `GO_IMAGE=${GO_BASE}`, '-t', IMAGE, ROOT], 1_200_000);
  }, 1_800_000);

  afterAll(async () => {
    await docker(['rm', '-f', CONTAINER]).catch(() => undefined);
    await docker(['rmi', '-f', IMAGE]).catch(() => undefined);
    await connection?.close();
  });

  it('runs as uid 10001 with the tools activities call, the prebuilt bundle and production dependencies only', async () => {
    // One container for all the facts (under vfs every `docker run` copies the whole image).
    const facts = await inImage(
      [
        'echo "uid=$(id -u) gid=$(id -g)"',
        'for t in mariadb-dump mariadb zstd age ssh tini wget node curl openssl tee bash drover-packs; do command -v $t >/dev/null && echo "tool=$t"; done',
        'echo "node=$(node --version)"',
        // The fetcher runs in the image (static, no libc needed): without its argument it says how to use it, exit 2.
        'drover-packs 2>/dev/null; echo "packs-exit=$?"',
        'test -s dist/workflow-bundle.infra.js && test -s dist/workflow-bundle.backup.js && test -s dist/workflow-bundle.restore.js && test -f dist/workers/infra.js && echo bundle=ok',
        'for d in typescript vitest eslint; do test -e node_modules/$d && echo "dev=$d"; done',
        'touch dist/x 2>/dev/null || echo code=read-only',
      ].join('\n'),
    );
    const lines = facts.split('\n');
    expect(lines).toContain('uid=10001 gid=10001');
    expect(lines.filter((l) => l.startsWith('tool=')).sort()).toEqual(['age', 'bash', 'curl', 'drover-packs', 'mariadb', 'mariadb-dump', 'node', 'openssl', 'ssh', 'tee', 'tini', 'wget', 'zstd'].map((t) => `tool=${t}`));
    expect(facts).toMatch(/^node=v20\./m);
    expect(lines).toContain('packs-exit=2');
    expect(lines).toContain('bundle=ok');
    // Dev dependencies pruned; root owns the code, so the worker cannot rewrite what it runs.
    expect(lines.filter((l) => l.startsWith('dev='))).toEqual([]);
    expect(lines).toContain('code=read-only');
  }, 600_000);

  it('its infra worker runs the smoke workflow against the real services and is reported healthy', async () => {
    // Secrets as files readable by the image's user, as Docker secrets are mounted.
    const secrets = scratchDir('drover-image-');
    chownSync(secrets, 10001, 10001);
    const put = (name: string, content: string | Buffer) => {
      const f = path.join(secrets, name);
      writeFileSync(f, content, { mode: 0o400 });
      chownSync(f, 10001, 10001);
      return `/run/secrets/${name}`;
    };
    const sshKey = put('ssh_key', readFileSync(env.DROVER_SSH_KEY_FILE));
    const s3Secret = put('s3_secret', env.DROVER_S3_SECRET_ACCESS_KEY);
    const galeraPassword = put('galera_password', env.DROVER_GALERA_PASSWORD);
    // The payload codec's keys, by reference as the stack gives them (the file name carries the key ID).
    const codecKeys = env.DROVER_CODEC_KEYS.split(',').map((f) => put(`drover_codec_key_${keyIdOfFile(f)}`, readFileSync(f)));
    const socket = DOCKER_HOST.replace(/^unix:\/\//, '');

    const conn = await Connection.connect({ address: env.TEMPORAL_ADDRESS });
    connection = conn;
    await conn.workflowService.registerNamespace({ namespace: NAMESPACE, workflowExecutionRetentionPeriod: msToTs('1 day') });

    const vars: Record<string, string> = {
      TEMPORAL_ADDRESS: env.TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: NAMESPACE,
      DROVER_S3_ENDPOINT: env.DROVER_S3_ENDPOINT,
      DROVER_S3_REGION: env.DROVER_S3_REGION,
      DROVER_S3_ACCESS_KEY_ID: env.DROVER_S3_ACCESS_KEY_ID,
      DROVER_S3_SECRET_ACCESS_KEY_FILE: s3Secret,
      DROVER_S3_BUCKET: env.DROVER_S3_BUCKET,
      DROVER_GALERA_NODES: env.DROVER_GALERA_NODES,
      DROVER_GALERA_USER: env.DROVER_GALERA_USER,
      DROVER_GALERA_PASSWORD_FILE: galeraPassword,
      DROVER_SSH_TARGET: env.DROVER_SSH_TARGET,
      DROVER_SSH_KEY_FILE: sshKey,
      DROVER_SSH_HOST_KEYS: env.DROVER_SSH_HOST_KEYS,
      DROVER_DOCKER_HOST: DOCKER_HOST,
      DROVER_CODEC_KEYS: codecKeys.join(','),
      DROVER_CODEC_CURRENT_KEY: env.DROVER_CODEC_CURRENT_KEY,
      DROVER_METRICS_PORT: String(METRICS_PORT),
    };
    await docker([
      'run', '-d', '--name', CONTAINER, '--network', 'host',
      '-v', `${secrets}:/run/secrets:ro`, '-v', `${socket}:${socket}`, '--group-add', String(statSync(socket).gid),
      '--health-interval', '1s', '--health-start-period', '60s',
      ...Object.entries(vars).flatMap(([k, v]) => ['-e', `${k}=${v}`]),
      IMAGE, 'dist/workers/infra.js',
    ]);

    const client = new Client({ connection: conn, namespace: NAMESPACE, dataConverter: testDataConverter() });
    const label = `image-${randomBytes(3).toString('hex')}`;
    let result: Awaited<ReturnType<typeof smokeWorkflow>>;
    try {
      result = await client.workflow.execute<typeof smokeWorkflow>('smokeWorkflow', { workflowId: `smoke/${label}`, taskQueue: TASK_QUEUES.infra, args: [{ label }], workflowExecutionTimeout: '3 minutes' });
    } catch (err) {
      const logs = await docker(['logs', '--tail', '60', CONTAINER]).catch((e: { stderr?: string }) => ({ stdout: '', stderr: e.stderr ?? '' }));
      throw new Error(`${(err as Error).message}\n--- worker container ---\n${logs.stdout}${logs.stderr}`);
    }
    expect(result.s3.key).toBe(`smoke/${label}.txt`);
    expect(result.galera.nodes.every((n) => n.state === 'Synced')).toBe(true);
    expect(result.galera.replication.readBack.every((r) => r.seen)).toBe(true);
    expect(result.ssh.code).toBe(0);
    expect(result.docker.serverVersion).toMatch(/^\d+\.\d+/);

    // The image's HEALTHCHECK (metrics answering) as Docker runs it.
    let health = '';
    for (let i = 0; i < 60 && health !== 'healthy'; i++) {
      health = (await docker(['inspect', '--format', '{{.State.Health.Status}}', CONTAINER])).stdout.trim();
      if (health !== 'healthy') await new Promise((r) => setTimeout(r, 1000));
    }
    expect(health).toBe('healthy');
    // Stops on SIGTERM (tini forwards it; the worker drains and exits 0).
    await docker(['stop', '--time', '40', CONTAINER]);
    expect((await docker(['inspect', '--format', '{{.State.ExitCode}}', CONTAINER])).stdout.trim()).toBe('0');
  }, 600_000);
});

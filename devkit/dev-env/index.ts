/**
 * `drover dev up | down | status`: the real local environment — Temporal dev server, 3-node Galera, versitygw
 * (Spaces), sshd, dockerd and the front (varnishd) — under one state folder. Every step is idempotent; a part that fails is reported
 * with the tail of its log, never hidden.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { devLayout, type DevLayout } from './layout';
import type { DevPart, PartStatus } from './part';
import { temporalPart } from './temporal-server';
import { galeraPart, DROVER_DB_USER, servicesAddressUp } from './galera-cluster';
import { s3Part } from './s3-server';
import { sshPart, sshPaths, fingerprint } from './ssh-server';
import { dockerPart } from './docker-engine';
import { codecPart, devCodecKey } from './codec-server';
import { frontPart } from './front';
import { execFileP } from './processes';
import { LOCAL_SERVICES_ADDRESS } from '../../lib/local-services';

export type { PartStatus } from './part';
export { devLayout } from './layout';

export const PART_NAMES = ['temporal', 'galera', 's3', 'ssh', 'docker', 'codec', 'front'] as const;
export type PartName = (typeof PART_NAMES)[number];

export interface DevEnvOptions {
  stateDir: string;
  portOffset?: number;
  log?: (msg: string) => void;
  /** Galera is reported unhealthy when a DDL has run or waited this long (default 60 s). */
  ddlWaitSeconds?: number;
}

export interface DevEnvReport {
  stateDir: string;
  healthy: boolean;
  parts: PartStatus[];
  envFile: string;
  webUi: string;
}

/** A secret generated once and kept (mode 0600) in the state folder's secrets/. */
function secret(l: DevLayout, name: string, bytes = 18): string {
  mkdirSync(l.secretsDir, { recursive: true, mode: 0o700 });
  const f = path.join(l.secretsDir, name);
  if (!existsSync(f)) writeFileSync(f, randomBytes(bytes).toString('base64url'), { mode: 0o600 });
  return readFileSync(f, 'utf8').trim();
}

function parts(l: DevLayout, ddlWaitSeconds?: number): DevPart[] {
  return [
    temporalPart(l),
    galeraPart(l, () => secret(l, 'galera-password'), ddlWaitSeconds),
    s3Part(l, () => ({ accessKeyId: 'drover' + secret(l, 's3-access-key', 6).toLowerCase().replace(/[^a-z0-9]/g, ''), secretAccessKey: secret(l, 's3-secret-key', 30) })),
    sshPart(l),
    dockerPart(l),
    codecPart(l),
    frontPart(l),
  ];
}

/** The secret droplet host keys are derived from (32 random bytes, made once). */
function hostKeySeed(l: DevLayout): string {
  const file = path.join(l.secretsDir, 'host-key-seed');
  mkdirSync(l.secretsDir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, randomBytes(32), { mode: 0o600 });
  return file;
}

/**
 * The dedup key deduplicated file backups name their pieces with (docs/backups.md): 32 random bytes, made once,
 * mode 0600, given to workers by reference (its path in the env file) and never printed. A MAC key: it decrypts
 * no backup, so backup workers may hold it.
 */
function dedupKeyFile(l: DevLayout): string {
  const file = path.join(l.secretsDir, 'backup-dedup-key');
  mkdirSync(l.secretsDir, { recursive: true, mode: 0o700 });
  if (!existsSync(file)) writeFileSync(file, randomBytes(32), { mode: 0o600 });
  return file;
}

/**
 * The age key pair backups are encrypted with. Backup workers only get the public recipient; the identity file
 * (private key) is for restore workers.
 */
async function backupKeys(l: DevLayout): Promise<{ recipient: string; identityFile: string }> {
  mkdirSync(l.secretsDir, { recursive: true, mode: 0o700 });
  const identityFile = path.join(l.secretsDir, 'backup-age-identity.txt');
  if (!existsSync(identityFile)) await execFileP('age-keygen', ['-o', identityFile]);
  const { stdout } = await execFileP('age-keygen', ['-y', identityFile]);
  return { recipient: stdout.trim(), identityFile };
}

/** The variables Drover's workers and CLI read, pointing at this environment. Written mode 0600. */
async function writeEnvFile(l: DevLayout): Promise<void> {
  const ssh = sshPaths(l);
  const keys = await backupKeys(l);
  const hostKey = existsSync(`${ssh.hostKey}.pub`) ? await fingerprint(`${ssh.hostKey}.pub`) : '';
  const codecKey = devCodecKey(l);
  const vars: Record<string, string | number> = {
    TEMPORAL_ADDRESS: `127.0.0.1:${l.temporal.grpc}`,
    TEMPORAL_NAMESPACE: 'default',
    DROVER_TEMPORAL_UI: `http://127.0.0.1:${l.temporal.ui}`,
    // Payloads are encrypted here as on a farm: the key by reference, and the codec server the Web UI calls.
    DROVER_CODEC_KEYS: codecKey.file,
    DROVER_CODEC_CURRENT_KEY: codecKey.id,
    DROVER_CODEC_UI_ORIGIN: `http://127.0.0.1:${l.temporal.ui}`,
    DROVER_CODEC_ENDPOINT: `http://127.0.0.1:${l.codec.port}`,
    DROVER_S3_ENDPOINT: `http://127.0.0.1:${l.s3.port}`,
    DROVER_S3_REGION: 'us-east-1',
    DROVER_S3_ACCESS_KEY_ID: 'drover' + secret(l, 's3-access-key', 6).toLowerCase().replace(/[^a-z0-9]/g, ''),
    DROVER_S3_SECRET_ACCESS_KEY: secret(l, 's3-secret-key', 30),
    DROVER_S3_BUCKET: l.s3.bucket,
    DROVER_S3_FORCE_PATH_STYLE: 'true',
    DROVER_GALERA_NODES: l.galera.nodes.map((n) => `${n.name}=127.0.0.1:${n.mysql}`).join(','),
    DROVER_GALERA_USER: DROVER_DB_USER,
    // Where a site's containers on a local cluster's nodes reach the database (WORDPRESS_DB_HOST's host:port form):
    // node1's SQL port on the services address the nodes route to (lib/local-services.ts). Production: ProxySQL.
    ...((await servicesAddressUp()) ? { DROVER_SITE_DB_HOST: `${LOCAL_SERVICES_ADDRESS}:${l.galera.nodes[0].mysql}` } : {}),
    // A local cluster's site is counted started once its first health check passed, one interval after its start.
    DROVER_SITE_HEALTH_INTERVAL: '2s',
    // A killed worker's cached workflows go to another worker after 2 s, not Temporal's 10 (tests kill workers).
    DROVER_STICKY_TIMEOUT_MS: '2000',
    DROVER_GALERA_PASSWORD: secret(l, 'galera-password'),
    DROVER_SSH_TARGET: `root@127.0.0.1:${l.ssh.port}`,
    DROVER_SSH_KEY_FILE: ssh.clientKey,
    DROVER_SSH_HOST_KEYS: hostKey,
    // Contractor SFTP grants check their chroot in this sshd's configuration (it ends with SFTP_SSHD_MATCH_BLOCK).
    DROVER_SFTP_SSHD_CONFIG: ssh.config,
    DROVER_DOCKER_HOST: `unix://${l.docker.socket}`,
    // One SDK metrics port per queue, so `drover worker infra|backup|restore` run side by side.
    DROVER_METRICS_PORT_INFRA: 9464 + l.portOffset,
    DROVER_METRICS_PORT_BACKUP: 9466 + l.portOffset,
    DROVER_METRICS_PORT_RESTORE: 9467 + l.portOffset,
    DROVER_METRICS_PORT_MIGRATE: 9468 + l.portOffset,
    DROVER_BACKUP_METRICS_PORT: 9465 + l.portOffset,
    DROVER_BACKUP_AGE_RECIPIENTS: keys.recipient,
    DROVER_BACKUP_AGE_IDENTITY_FILE: keys.identityFile,
    // Files are stored deduplicated here, as the production stack's workers do (the test suite overrides this
    // with an empty value: see vitest.config.ts).
    DROVER_BACKUP_DEDUP_KEY_FILE: dedupKeyFile(l),
    DROVER_HOST_KEY_SEED_FILE: hostKeySeed(l),
    // The local front (varnishd) the sites of local clusters are served through, by Host.
    DROVER_FRONT_URL: `http://127.0.0.1:${l.front.port}`,
    DROVER_FRONT_DIR: l.front.dir,
    DROVER_FRONT_ADMIN: `127.0.0.1:${l.front.admin}`,
    // The local provider's nodes live with the environment, so two environments never share a farm folder.
    DROVER_LOCAL_NODES_DIR: path.join(l.stateDir, 'nodes'),
    // Contractor FileBrowser/Adminer grants are written here (over SSH, as on the manager); no contractor stack reads them locally.
    DROVER_CONTRACTOR_CONFIG_DIR: path.join(l.stateDir, 'contractor'),
  };
  writeFileSync(l.envFile, Object.entries(vars).map(([k, v]) => `${k}=${v}`).join('\n') + '\n', { mode: 0o600 });
}

function pick(all: DevPart[], only?: PartName[]): DevPart[] {
  return only?.length ? all.filter((p) => only.includes(p.name as PartName)) : all;
}

export async function devStatus(opts: DevEnvOptions, only?: PartName[]): Promise<DevEnvReport> {
  const l = devLayout(opts.stateDir, opts.portOffset);
  const statuses = await Promise.all(pick(parts(l, opts.ddlWaitSeconds), only).map((p) => p.status()));
  return { stateDir: l.stateDir, healthy: statuses.every((s) => s.healthy), parts: statuses, envFile: l.envFile, webUi: `http://127.0.0.1:${l.temporal.ui}` };
}

export async function devUp(opts: DevEnvOptions, only?: PartName[]): Promise<DevEnvReport> {
  const l = devLayout(opts.stateDir, opts.portOffset);
  const log = opts.log ?? (() => undefined);
  mkdirSync(l.stateDir, { recursive: true });
  const failures = new Map<string, string>();
  await Promise.all(
    pick(parts(l), only).map(async (p) => {
      try {
        await p.up(log);
      } catch (err) {
        failures.set(p.name, (err as Error).message);
      }
    }),
  );
  await writeEnvFile(l);
  const report = await devStatus(opts, only);
  for (const s of report.parts) {
    const f = failures.get(s.name);
    if (f && !s.healthy) s.error = `start failed: ${f}${s.error ? `; ${s.error}` : ''}`;
  }
  return report;
}

export async function devDown(opts: DevEnvOptions, only?: PartName[]): Promise<DevEnvReport> {
  const l = devLayout(opts.stateDir, opts.portOffset);
  await Promise.all(pick(parts(l), only).map((p) => p.down()));
  return devStatus(opts, only);
}

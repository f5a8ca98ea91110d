/**
 * The outside systems activities talk to, built once per worker from the parsed environment. Secrets (keys,
 * passwords) live here, in the worker process, and never travel through workflow history.
 */
import { readFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { EnvError, type ServicesEnv } from '../env';
import { DigitalOceanClient } from './digitalocean-client';
import { createSpacesClient } from './spaces-client';
import { GaleraClient, parseGaleraNodes } from './galera-client';
import { parseSshTarget, type SshOptions, type SshTarget } from './ssh-client';
import type { DockerEndpoint } from './docker-client';
import { ProxysqlAdminClient } from './proxysql-admin-client';

/** The dedup key file: at least 32 bytes of secret (hex or raw; the file's bytes are the key). */
export function readDedupKey(file: string): Buffer {
  const raw = readFileSync(file);
  if (raw.length < 32) throw new EnvError([{ field: 'DROVER_BACKUP_DEDUP_KEY_FILE', message: `${file} holds ${raw.length} bytes; at least 32 are required` }]);
  return raw;
}

export interface ActivityDeps {
  s3: S3Client;
  bucket: string;
  galera: GaleraClient;
  ssh: { defaultTarget: SshTarget; options: SshOptions };
  /** SSH to old hosts (migrations): the key they authorize and their pinned host keys. */
  migrateSsh: SshOptions;
  docker: DockerEndpoint;
  /**
   * age recipients (public), the identity file (restore workers only) and the dedup key (a MAC key: names file
   * pieces and opens refs, decrypts no backup; when set, files are stored deduplicated, issue 19), and the room a
   * restore leaves free on the worker's disk when it keeps an object there (restore-spool.ts).
   */
  backup: { recipients: string[]; identityFile?: string; dedupKey?: Buffer; spoolReserveBytes?: number };
  /**
   * How long a step streaming bytes with a remote program (a night's archive, a restore's extract, a migration's
   * dump, a migration's rsync by what it reports) may wait on it before it fails StepStalled
   * (DROVER_STEP_STALL_SECONDS; heartbeat.ts withProgressWatch).
   */
  stepStallMs: number;
  /** The farm's caches and front door, as far as this worker is told about them (all optional). */
  front: { varnishUrls: string[]; redisUrl?: string; siteCheckUrl?: string; sentinels: { host: string; port: number }[]; redisMasterName: string; varnishMetricsUrls: string[] };
  /** DigitalOcean's API (the token stays in the worker; null when this worker has none). */
  digitalocean: DigitalOceanClient | null;
  /** The secret droplet host keys are derived from (lib/clients/host-keys.ts); null when not configured. */
  hostKeySeed: Buffer | null;
  /** The local provider's folder. */
  localNodes: { dir: string };
  /** What a site's containers are given: the database address (WORDPRESS_DB_HOST), their health check's interval. */
  sites: { dbHost: string; healthInterval: string };
  /** ProxySQL's admin interfaces, where each site's own user is kept; null where sites reach Galera directly. */
  proxysql: ProxysqlAdminClient | null;
  /** The local front (a varnishd routing by Host to published ports); null on the farm (Traefik routes by labels). */
  localFront: { url: string; dir: string; admin: string } | null;
  /** Contractor SFTP grants: the storage node's sshd configuration they check the chroot in. */
  sftp: { sshdConfig: string };
  /** Contractor FileBrowser/Adminer grants: the manager's directory the contractor stack reads them from. */
  contractor: { configDir: string };
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

function readSeed(file: string): Buffer {
  const seed = readFileSync(file);
  if (seed.length < 32) throw new EnvError([{ field: 'DROVER_HOST_KEY_SEED_FILE', message: `${file} holds ${seed.length} bytes; at least 32 random bytes are needed` }]);
  return seed;
}

function proxysqlFrom(env: ServicesEnv): ProxysqlAdminClient | null {
  const endpoints = list(env.DROVER_PROXYSQL_ADMIN);
  if (!endpoints.length) return null;
  if (!env.DROVER_PROXYSQL_ADMIN_PASSWORD) throw new EnvError([{ field: 'DROVER_PROXYSQL_ADMIN_PASSWORD', message: 'is not set (DROVER_PROXYSQL_ADMIN is): give it or DROVER_PROXYSQL_ADMIN_PASSWORD_FILE' }]);
  return new ProxysqlAdminClient({ endpoints, user: env.DROVER_PROXYSQL_ADMIN_USER, password: env.DROVER_PROXYSQL_ADMIN_PASSWORD });
}

export function createActivityDeps(env: ServicesEnv): ActivityDeps {
  const privateKey = readFileSync(env.DROVER_SSH_KEY_FILE);
  const pinnedHostKeys = env.DROVER_SSH_HOST_KEYS.split(',').map((s) => s.trim()).filter(Boolean);
  return {
    s3: createSpacesClient({
      endpoint: env.DROVER_S3_ENDPOINT,
      region: env.DROVER_S3_REGION,
      accessKeyId: env.DROVER_S3_ACCESS_KEY_ID,
      secretAccessKey: env.DROVER_S3_SECRET_ACCESS_KEY,
      bucket: env.DROVER_S3_BUCKET,
      forcePathStyle: env.DROVER_S3_FORCE_PATH_STYLE,
    }),
    bucket: env.DROVER_S3_BUCKET,
    galera: new GaleraClient(parseGaleraNodes(env.DROVER_GALERA_NODES), { user: env.DROVER_GALERA_USER, password: env.DROVER_GALERA_PASSWORD }),
    ssh: {
      defaultTarget: parseSshTarget(env.DROVER_SSH_TARGET),
      options: { privateKey, pinnedHostKeys, insecureAnyHostKey: env.DROVER_SSH_INSECURE_ANY_HOST_KEY },
    },
    migrateSsh: {
      privateKey: env.DROVER_MIGRATE_SSH_KEY_FILE ? readFileSync(env.DROVER_MIGRATE_SSH_KEY_FILE) : privateKey,
      pinnedHostKeys: list(env.DROVER_MIGRATE_HOST_KEYS),
      insecureAnyHostKey: env.DROVER_SSH_INSECURE_ANY_HOST_KEY,
    },
    docker: { host: env.DROVER_DOCKER_HOST, sshPrivateKey: privateKey, sshPinnedHostKeys: pinnedHostKeys, sshInsecureAnyHostKey: env.DROVER_SSH_INSECURE_ANY_HOST_KEY },
    backup: {
      recipients: env.DROVER_BACKUP_AGE_RECIPIENTS.split(',').map((s) => s.trim()).filter(Boolean),
      identityFile: env.DROVER_BACKUP_AGE_IDENTITY_FILE,
      ...(env.DROVER_BACKUP_DEDUP_KEY_FILE ? { dedupKey: readDedupKey(env.DROVER_BACKUP_DEDUP_KEY_FILE) } : {}),
      spoolReserveBytes: env.DROVER_RESTORE_SPOOL_RESERVE_MB * 1024 * 1024,
    },
    stepStallMs: env.DROVER_STEP_STALL_SECONDS * 1000,
    front: {
      varnishUrls: env.DROVER_VARNISH_URLS.split(',').map((s) => s.trim()).filter(Boolean),
      redisUrl: env.DROVER_REDIS_URL,
      siteCheckUrl: env.DROVER_SITE_CHECK_URL,
      sentinels: list(env.DROVER_REDIS_SENTINELS).map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })),
      redisMasterName: env.DROVER_REDIS_MASTER_NAME,
      varnishMetricsUrls: list(env.DROVER_VARNISH_METRICS_URLS),
    },
    localNodes: { dir: env.DROVER_LOCAL_NODES_DIR },
    sites: { dbHost: env.DROVER_SITE_DB_HOST, healthInterval: env.DROVER_SITE_HEALTH_INTERVAL },
    proxysql: proxysqlFrom(env),
    localFront: env.DROVER_FRONT_DIR && env.DROVER_FRONT_ADMIN ? { url: env.DROVER_FRONT_URL ?? '', dir: env.DROVER_FRONT_DIR, admin: env.DROVER_FRONT_ADMIN } : null,
    hostKeySeed: env.DROVER_HOST_KEY_SEED_FILE ? readSeed(env.DROVER_HOST_KEY_SEED_FILE) : null,
    digitalocean: env.DROVER_DO_TOKEN ? new DigitalOceanClient(env.DROVER_DO_API_URL, env.DROVER_DO_TOKEN) : null,
    sftp: { sshdConfig: env.DROVER_SFTP_SSHD_CONFIG },
    contractor: { configDir: env.DROVER_CONTRACTOR_CONFIG_DIR },
  };
}

export async function closeActivityDeps(deps: ActivityDeps): Promise<void> {
  deps.s3.destroy();
  await deps.galera.close();
}

/**
 * Drover's environment, parsed once with zod into a frozen config. Every missing or malformed variable is named.
 * Values come from process.env, falling back to the env file `drover dev up` writes into its state folder, so
 * the CLI, the workers and the tests all find the local environment without extra setup.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

const bool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no', ''])
  .transform((v) => v === 'true' || v === '1' || v === 'yes');

const port = z.coerce.number().int().min(0).max(65535);
/** A port that may be left empty (`X=` in an env file) to mean unset. */
const optionalPort = z.preprocess((v) => (v === '' ? undefined : v), port.optional());

/** Where the local provider keeps its nodes when DROVER_LOCAL_NODES_DIR is not set (`dev up` sets it). */
export const DEFAULT_LOCAL_NODES_DIR = '/var/lib/drover/nodes';

export const temporalEnvSchema = z.object({
  TEMPORAL_ADDRESS: z.string().min(1).default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_API_KEY: z.string().optional(),
  TEMPORAL_TLS: bool.optional(),
  TEMPORAL_TLS_CERT_PATH: z.string().optional(),
  TEMPORAL_TLS_KEY_PATH: z.string().optional(),
  TEMPORAL_TLS_CA_PATH: z.string().optional(),
  TEMPORAL_TLS_SERVER_NAME: z.string().optional(),
});

/**
 * The payload codec's keys (docs/security.md): DROVER_CODEC_KEYS lists key files by reference (comma-separated,
 * Docker secrets such as /run/secrets/drover_codec_key_2026a), each file's name minus `drover_codec_key_` being
 * its key ID; DROVER_CODEC_CURRENT_KEY names the one new payloads are encrypted with. The others only decrypt
 * (rotation). Required by everything that talks to Temporal: the CLI, every worker, the codec server.
 */
export const codecEnvSchema = z.object({
  DROVER_CODEC_KEYS: z.string().regex(/^[^,\s]+(,[^,\s]+)*$/, 'comma-separated key file paths'),
  DROVER_CODEC_CURRENT_KEY: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'a key ID: letters, digits, . _ - (at most 64)'),
});

/**
 * What the CLI needs to talk to Temporal: the connection and the payload codec's keys; DROVER_OPERATOR names the
 * operator in the audit record (default: the OS user).
 */
export const clientEnvSchema = temporalEnvSchema.extend(codecEnvSchema.shape).extend({
  DROVER_OPERATOR: z.string().regex(/^[^\s,]{1,255}$/, 'a name without spaces or commas, at most 255 characters').optional(),
});

/** Disk a restore worker leaves free beside a download it keeps (MiB): DROVER_RESTORE_SPOOL_RESERVE_MB's default. */
export const DEFAULT_RESTORE_SPOOL_RESERVE_MB = 256;

export const servicesEnvSchema = z.object({
  DROVER_S3_ENDPOINT: z.url(),
  DROVER_S3_REGION: z.string().min(1).default('us-east-1'),
  DROVER_S3_ACCESS_KEY_ID: z.string().min(1),
  DROVER_S3_SECRET_ACCESS_KEY: z.string().min(1),
  DROVER_S3_BUCKET: z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'an S3 bucket name'),
  DROVER_S3_FORCE_PATH_STYLE: bool.default(true),
  DROVER_GALERA_NODES: z.string().min(1),
  DROVER_GALERA_USER: z.string().min(1),
  DROVER_GALERA_PASSWORD: z.string().min(1),
  DROVER_SSH_TARGET: z.string().min(1),
  DROVER_SSH_KEY_FILE: z.string().min(1),
  /** SHA256:… fingerprints the default SSH target's host key must match (comma-separated); none: SSH refuses. */
  DROVER_SSH_HOST_KEYS: z.string().default(''),
  /** Development only: SSH without pins accepts any host key instead of refusing (never on a real farm). */
  DROVER_SSH_INSECURE_ANY_HOST_KEY: bool.default(false),
  DROVER_DOCKER_HOST: z.string().min(1),
  /**
   * Migrations: the key old hosts authorize for the migration worker (default: DROVER_SSH_KEY_FILE) and the
   * SHA256:… fingerprints of the old hosts' SSH host keys (comma-separated; none: SSH to an old host refuses,
   * unless DROVER_SSH_INSECURE_ANY_HOST_KEY on a development machine).
   */
  DROVER_MIGRATE_SSH_KEY_FILE: z.string().min(1).optional(),
  DROVER_MIGRATE_HOST_KEYS: z.string().default(''),
  /** age public keys backups are encrypted to (comma-separated). Public: safe on every worker. */
  DROVER_BACKUP_AGE_RECIPIENTS: z.string().default(''),
  /** The age identity (private key) file; set only on restore workers. */
  DROVER_BACKUP_AGE_IDENTITY_FILE: z.string().optional(),
  /**
   * The dedup key file (≥ 32 secret bytes): set on backup workers (and wherever retention runs) to store files
   * deduplicated (issue 19). A MAC key: it names pieces and opens the refs, and decrypts no backup.
   */
  DROVER_BACKUP_DEDUP_KEY_FILE: z.string().optional(),
  /**
   * Restore workers: MiB a restore leaves free on the worker's disk when it keeps an object there to decrypt the
   * very bytes it checked; without that room it checks and uses the object in two downloads (docs/decisions.md).
   */
  DROVER_RESTORE_SPOOL_RESERVE_MB: z.coerce.number().int().min(0).default(DEFAULT_RESTORE_SPOOL_RESERVE_MB),
  /**
   * How long a step streaming a site's files or a source's dump (a night's archive, a restore's extract, a
   * migration's load) may move no byte, or a migration's file copy may have rsync report nothing, before it fails
   * StepStalled (ActivityDeps.stepStallMs, activities/lib/heartbeat.ts withProgressWatch).
   */
  DROVER_STEP_STALL_SECONDS: z.coerce.number().int().min(10, 'at least 10 (s)').max(3600, 'at most 3600 (s)').default(300),
  /** Varnish instances a restore bans a site from (comma-separated http://host:port); none: no purge. */
  DROVER_VARNISH_URLS: z.string().default(''),
  /** The Redis holding the WordPress object cache (redis://[:password@]host:port[/db]); unset: no purge. */
  // Parsed here (the message never repeats the value: it holds the password): a URL that does not parse would
  // otherwise fail in the activity, whose error (Node's, carrying the whole input) the worker logs.
  DROVER_REDIS_URL: z.string().regex(/^rediss?:\/\//, 'a redis:// or rediss:// URL').refine(parsesAsUrl, 'not a valid URL (a password with / ? # @ or % must be percent-encoded)').optional(),
  /** The object-cache Sentinels (comma-separated host:port) and the master name they watch; unset: not checked. */
  DROVER_REDIS_SENTINELS: z.string().regex(/^$|^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$/, 'comma-separated host:port').default(''),
  DROVER_REDIS_MASTER_NAME: z.string().regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, . _ -').default('wp-cache'),
  /** Varnish exporters' metrics URLs (comma-separated) `drover status` reads the hit ratio from; unset: not checked. */
  DROVER_VARNISH_METRICS_URLS: z.string().default(''),
  /** Where sites answer HTTP (the farm's front, e.g. http://traefik:80), asked with each site's Host; unset: no check. */
  DROVER_SITE_CHECK_URL: z.url().optional(),
  /** DigitalOcean API base URL (the emulator's in tests) and token; the token only where bring-up runs. */
  DROVER_DO_API_URL: z.url().default('https://api.digitalocean.com'),
  DROVER_DO_TOKEN: z.string().min(1).optional(),
  /**
   * The secret droplet host keys are derived from (a file of at least 32 random bytes): every droplet gets its
   * SSH host key through cloud-init and is pinned from the first connection. Needed where bring-up runs.
   */
  DROVER_HOST_KEY_SEED_FILE: z.string().min(1).optional(),
  /**
   * The database address a site's containers are given (WORDPRESS_DB_HOST, host:port): on the farm ProxySQL in the
   * database stack; on a local cluster the local Galera on the services address (written by `dev up`).
   */
  DROVER_SITE_DB_HOST: z.string().regex(/^[A-Za-z0-9._-]+(:\d{1,5})?$/, 'host or host:port').default('database_proxysql:6033'),
  /**
   * How often a site's container checks its own health (the wordpress service's healthcheck interval, whole seconds).
   * Swarm counts a task started only once its first check passed, and Docker runs the first check one interval after
   * the start: a site's create, restore or restart waits at least this long. 30s on the farm; the local environment
   * writes 2s (its sites are on this machine, and the tests create many).
   */
  DROVER_SITE_HEALTH_INTERVAL: z.string().regex(/^[1-9][0-9]{0,2}s$/, 'whole seconds from 1s to 999s, e.g. 30s').default('30s'),
  /**
   * ProxySQL's admin interfaces (comma-separated host:port; a name such as tasks.database_proxysql:6032 stands for
   * every instance it resolves to), where each site's own user is added on create and removed on delete. Unset:
   * the farm's sites reach Galera without ProxySQL (a local cluster) and nothing is written.
   */
  DROVER_PROXYSQL_ADMIN: z.string().regex(/^$|^[^,:\s]+:\d+(,[^,:\s]+:\d+)*$/, 'comma-separated host:port').default(''),
  /** ProxySQL's admin user for remote logins (its `admin` may only log in locally) and its password (or _FILE). */
  DROVER_PROXYSQL_ADMIN_USER: z.string().regex(/^[A-Za-z0-9_]+$/, 'letters, digits, _').default('drover'),
  DROVER_PROXYSQL_ADMIN_PASSWORD: z.string().min(1).optional(),
  /**
   * The local front (devkit/dev-env/front.ts, a varnishd): its URL, folder and admin address. Set by `dev up`; unset
   * on the farm, where Traefik routes each site by its service labels and ensureSiteBackend has nothing to do.
   */
  DROVER_FRONT_URL: z.url().optional(),
  DROVER_FRONT_DIR: z.string().min(1).optional(),
  DROVER_FRONT_ADMIN: z.string().regex(/^[^\s:]+:\d{1,5}$/, 'host:port').optional(),
  /** Where the local provider keeps its nodes (network namespaces with sshd and dockerd). */
  /**
   * The storage node's sshd configuration a contractor's SFTP grant checks (`sshd -T -f …`): the login it creates
   * must come out chrooted and confined to internal-sftp (lib/access-grants.ts SFTP_SSHD_MATCH_BLOCK).
   */
  DROVER_SFTP_SSHD_CONFIG: z.string().regex(/^\/[^\s'"]*$/, 'an absolute path').default('/etc/ssh/sshd_config'),
  DROVER_LOCAL_NODES_DIR: z.string().default(DEFAULT_LOCAL_NODES_DIR),
  /**
   * The manager's directory the contractor stack reads its grants from (`drover access grant --files`): Authentik
   * blueprints, FileBrowser users, Adminer's allowed databases (stacks/contractor.yml mounts its subdirectories).
   */
  DROVER_CONTRACTOR_CONFIG_DIR: z.string().regex(/^\/[A-Za-z0-9._/-]*$/, 'an absolute path').default('/srv/drover/contractor'),
});

export const workerEnvSchema = clientEnvSchema.extend(servicesEnvSchema.shape).extend({
  /**
   * SDK metrics: each queue has its own port (DROVER_METRICS_PORT_INFRA / _BACKUP / _RESTORE, default 9464, 9466,
   * 9467; 9465 is the backup metrics), so the three workers run side by side on one host with one environment.
   * DROVER_METRICS_PORT, when set, is this one process's port whatever its queue (a container per worker).
   */
  DROVER_METRICS_PORT: optionalPort,
  DROVER_METRICS_PORT_INFRA: optionalPort,
  DROVER_METRICS_PORT_BACKUP: optionalPort,
  DROVER_METRICS_PORT_RESTORE: optionalPort,
  DROVER_METRICS_PORT_MIGRATE: optionalPort,
  DROVER_METRICS_HOST: z.string().default('127.0.0.1'),
  DROVER_BACKUP_METRICS_PORT: port.default(9465),
  DROVER_SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).default(30_000),
  /**
   * How long a workflow's next task waits for the worker that has the workflow cached (its sticky queue) before any
   * worker of the queue takes it and replays the history (the worker's stickyQueueScheduleToStartTimeout). After a
   * worker dies, each workflow it had cached stalls this long at its next step. 10 s (Temporal's default) on the
   * farm; the local environment writes 2 s (its tests kill workers on purpose).
   */
  DROVER_STICKY_TIMEOUT_MS: z.coerce.number().int().min(1000, 'at least 1000 (ms)').max(600_000, 'at most 600000 (ms)').default(10_000),
});

export type TemporalEnv = z.infer<typeof temporalEnvSchema>;
export type CodecEnv = z.infer<typeof codecEnvSchema>;
export type ClientEnv = z.infer<typeof clientEnvSchema>;
export type ServicesEnv = z.infer<typeof servicesEnvSchema>;
export type WorkerEnv = z.infer<typeof workerEnvSchema>;

export class EnvError extends Error {
  override readonly name = 'EnvError';
  constructor(readonly issues: { field: string; message: string }[]) {
    super('invalid environment: ' + issues.map((i) => `${i.field}: ${i.message}`).join('; '));
  }
}

export const DEFAULT_STATE_DIR = '.drover';

export function stateDirFrom(env: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(env.DROVER_STATE_DIR ?? DEFAULT_STATE_DIR);
}

/** Reads KEY=VALUE lines (no shell expansion); a missing file is an empty map. */
export function readEnvFile(file: string): Record<string, string> {
  if (!existsSync(file)) return {};
  const out: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line.trim());
    if (m) out[m[1]] = m[2];
  }
  return out;
}

/** process.env layered over the state folder's env file. */
export function mergedEnv(stateDir = stateDirFrom()): Record<string, string | undefined> {
  return { ...readEnvFile(path.join(stateDir, 'env')), ...process.env };
}

/** Secrets that may be given as a file instead (X_FILE=/run/secrets/…, as Docker secrets are), never both. */
function parsesAsUrl(v: string): boolean {
  try {
    new URL(v);
    return true;
  } catch {
    return false;
  }
}

export const SECRET_FILE_VARS = ['DROVER_S3_SECRET_ACCESS_KEY', 'DROVER_GALERA_PASSWORD', 'DROVER_DO_TOKEN', 'DROVER_REDIS_URL', 'TEMPORAL_API_KEY', 'DROVER_PROXYSQL_ADMIN_PASSWORD'] as const;

/** Replaces each X_FILE of SECRET_FILE_VARS by X read from that file (trailing newline dropped). */
export function resolveSecretFiles(env: Record<string, string | undefined>): Record<string, string | undefined> {
  const out = { ...env };
  const issues: { field: string; message: string }[] = [];
  for (const k of SECRET_FILE_VARS) {
    const file = env[`${k}_FILE`];
    if (!file) continue;
    if (env[k]) issues.push({ field: `${k}_FILE`, message: `set together with ${k}; give one of them` });
    else if (!existsSync(file)) issues.push({ field: `${k}_FILE`, message: `${file} does not exist` });
    else out[k] = readFileSync(file, 'utf8').replace(/\r?\n$/, '');
    delete out[`${k}_FILE`];
  }
  if (issues.length) throw new EnvError(issues);
  return out;
}

export function parseEnv<S extends z.ZodType>(schema: S, rawEnv: Record<string, string | undefined> = mergedEnv()): Readonly<z.infer<S>> {
  const env = resolveSecretFiles(rawEnv);
  const r = schema.safeParse(env);
  if (!r.success) {
    throw new EnvError(
      r.error.issues.map((i) => ({
        field: String(i.path[0] ?? '?'),
        message: i.code === 'invalid_type' && (env as Record<string, unknown>)[String(i.path[0])] === undefined ? 'is not set' : i.message,
      })),
    );
  }
  return Object.freeze(r.data);
}

/**
 * The outside systems activities talk to, built once per worker from the parsed environment. Secrets (keys,
 * passwords) live here, in the worker process, and never travel through workflow history.
 */
import { readFileSync } from 'node:fs';
import type { S3Client } from '@aws-sdk/client-s3';
import { EnvError, type ServicesEnv } from '../lib/env';
import { DigitalOceanClient } from './lib/digitalocean-client';
import { createSpacesClient } from './lib/spaces-client';
import { GaleraClient, parseGaleraNodes } from './lib/galera-client';
import { parseSshTarget, type SshOptions, type SshTarget } from './lib/ssh-client';
import type { DockerEndpoint } from './lib/docker-client';

export interface ActivityDeps {
  s3: S3Client;
  bucket: string;
  galera: GaleraClient;
  ssh: { defaultTarget: SshTarget; options: SshOptions };
  docker: DockerEndpoint;
  backup: { recipients: string[]; identityFile?: string };
  /** The farm's caches and front door, as far as this worker is told about them (all optional). */
  front: { varnishUrls: string[]; redisUrl?: string; siteCheckUrl?: string; sentinels: { host: string; port: number }[]; redisMasterName: string; varnishMetricsUrls: string[] };
  /** DigitalOcean's API (the token stays in the worker; null when this worker has none). */
  digitalocean: DigitalOceanClient | null;
  /** The secret droplet host keys are derived from (activities/lib/host-keys.ts); null when not configured. */
  hostKeySeed: Buffer | null;
  /** The local provider's folder. */
  localNodes: { dir: string };
}

const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

function readSeed(file: string): Buffer {
  const seed = readFileSync(file);
  if (seed.length < 32) throw new EnvError([{ field: 'DROVER_HOST_KEY_SEED_FILE', message: `${file} holds ${seed.length} bytes; at least 32 random bytes are needed` }]);
  return seed;
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
      options: { privateKey, pinnedHostKeys },
    },
    docker: { host: env.DROVER_DOCKER_HOST, sshPrivateKey: privateKey, sshPinnedHostKeys: pinnedHostKeys },
    backup: {
      recipients: env.DROVER_BACKUP_AGE_RECIPIENTS.split(',').map((s) => s.trim()).filter(Boolean),
      identityFile: env.DROVER_BACKUP_AGE_IDENTITY_FILE,
    },
    front: {
      varnishUrls: env.DROVER_VARNISH_URLS.split(',').map((s) => s.trim()).filter(Boolean),
      redisUrl: env.DROVER_REDIS_URL,
      siteCheckUrl: env.DROVER_SITE_CHECK_URL,
      sentinels: list(env.DROVER_REDIS_SENTINELS).map((s) => ({ host: s.slice(0, s.lastIndexOf(':')), port: Number(s.slice(s.lastIndexOf(':') + 1)) })),
      redisMasterName: env.DROVER_REDIS_MASTER_NAME,
      varnishMetricsUrls: list(env.DROVER_VARNISH_METRICS_URLS),
    },
    localNodes: { dir: env.DROVER_LOCAL_NODES_DIR },
    hostKeySeed: env.DROVER_HOST_KEY_SEED_FILE ? readSeed(env.DROVER_HOST_KEY_SEED_FILE) : null,
    digitalocean: env.DROVER_DO_TOKEN ? new DigitalOceanClient(env.DROVER_DO_API_URL, env.DROVER_DO_TOKEN) : null,
  };
}

export async function closeActivityDeps(deps: ActivityDeps): Promise<void> {
  deps.s3.destroy();
  await deps.galera.close();
}

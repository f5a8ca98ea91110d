/**
 * Read-only checks of the object cache's Redis Sentinels: which master each sentinel names, the quorum, and
 * whether that master answers as a master. For `drover status`; changes nothing.
 */
import { createClient } from 'redis';
import type { ActivityDeps } from '../lib/clients/deps';

export interface SentinelView {
  address: string;
  /** host:port of the master this sentinel names; null when it could not be asked. */
  master: string | null;
  quorum: number | null;
  /** Sentinel's flags for the master (e.g. "master", "s_down,master"). */
  flags: string | null;
  replicas: number | null;
  error?: string;
}

export interface SentinelReport {
  configured: boolean;
  masterName: string;
  sentinels: SentinelView[];
  /** What the named master answers to ROLE ("master", "slave", …), asked at the address most sentinels name. */
  masterRole: string | null;
  masterError?: string;
}

const pairs = (flat: unknown): Record<string, string> => {
  const a = (flat as string[]) ?? [];
  const out: Record<string, string> = {};
  for (let i = 0; i + 1 < a.length; i += 2) out[String(a[i])] = String(a[i + 1]);
  return out;
};

async function withRedis<T>(url: string, fn: (c: ReturnType<typeof createClient>) => Promise<T>): Promise<T> {
  const c = createClient({ url, socket: { connectTimeout: 3_000, reconnectStrategy: false } });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return await fn(c);
  } finally {
    await c.close().catch(() => undefined);
  }
}

export function createRedisSentinelActivities({ front }: Pick<ActivityDeps, 'front'>) {
  return {
    /** Asks every configured sentinel for the master, then asks that master for its role. */
    async describeRedisSentinels(): Promise<SentinelReport> {
      const name = front.redisMasterName;
      if (!front.sentinels.length) return { configured: false, masterName: name, sentinels: [], masterRole: null };
      const sentinels = await Promise.all(
        front.sentinels.map(async ({ host, port }): Promise<SentinelView> => {
          const address = `${host}:${port}`;
          try {
            return await withRedis(`redis://${host}:${port}`, async (c) => {
              const addr = (await c.sendCommand(['SENTINEL', 'get-master-addr-by-name', name])) as string[] | null;
              const info = pairs(await c.sendCommand(['SENTINEL', 'master', name]));
              return { address, master: addr ? `${addr[0]}:${addr[1]}` : null, quorum: Number(info.quorum) || null, flags: info.flags ?? null, replicas: info['num-slaves'] !== undefined ? Number(info['num-slaves']) : null };
            });
          } catch (err) {
            return { address, master: null, quorum: null, flags: null, replicas: null, error: (err as Error).message };
          }
        }),
      );
      const named = sentinels.map((s) => s.master).filter((m): m is string => m !== null);
      const master = named.sort((a, b) => named.filter((x) => x === b).length - named.filter((x) => x === a).length)[0];
      if (!master) return { configured: true, masterName: name, sentinels, masterRole: null };
      // The master's password, if any, is the object cache's (DROVER_REDIS_URL); it stays in this process.
      const auth = front.redisUrl ? new URL(front.redisUrl) : null;
      const cred = auth && auth.password ? `${encodeURIComponent(decodeURIComponent(auth.username))}:${encodeURIComponent(decodeURIComponent(auth.password))}@` : '';
      try {
        const role = await withRedis(`redis://${cred}${master}`, async (c) => ((await c.sendCommand(['ROLE'])) as unknown[])[0] as string);
        return { configured: true, masterName: name, sentinels, masterRole: String(role) };
      } catch (err) {
        return { configured: true, masterName: name, sentinels, masterRole: null, masterError: (err as Error).message };
      }
    },
  };
}

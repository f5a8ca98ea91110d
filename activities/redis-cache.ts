/**
 * Activities on the Redis holding the WordPress object cache. Each site's keys carry its domain as prefix
 * (`<domain>:`, the WP_REDIS_PREFIX the wordpress stack sets), so one site's cache can be dropped alone.
 */
import { heartbeat } from '@temporalio/activity';
import { createClient } from 'redis';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';

/** A glob pattern matching exactly the keys that start with `prefix` (glob metacharacters escaped). */
export function prefixPattern(prefix: string): string {
  return prefix.replace(/[*?[\]\\]/g, (c) => `\\${c}`) + '*';
}

export function createRedisCacheActivities({ front }: Pick<ActivityDeps, 'front'>) {
  return {
    /** Deletes a site's object-cache keys (SCAN + UNLINK in batches; never KEYS or FLUSHDB on a shared Redis). */
    async purgeObjectCache(input: { domain: string }): Promise<{ deleted: number; skipped: boolean }> {
      if (!front.redisUrl) return { deleted: 0, skipped: true };
      const client = createClient({ url: front.redisUrl, socket: { connectTimeout: 5_000, reconnectStrategy: false } });
      client.on('error', () => undefined);
      try {
        await client.connect();
      } catch (err) {
        throw failure('CacheUnavailable', `Redis object cache: ${(err as Error).message}`, { cause: err });
      }
      try {
        let deleted = 0;
        for await (const keys of client.scanIterator({ MATCH: prefixPattern(`${input.domain}:`), COUNT: 1000 })) {
          if (keys.length) deleted += await client.unlink(keys);
          heartbeat({ deleted });
        }
        return { deleted, skipped: false };
      } catch (err) {
        throw failure('CacheUnavailable', `Redis object cache: ${(err as Error).message}`, { cause: err });
      } finally {
        await client.close().catch(() => undefined);
      }
    },
  };
}

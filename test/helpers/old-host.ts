/**
 * The old host of the migration tests (devkit/old-host): its own sshd and mariadbd beside the test environment,
 * on ports derived from the test port offset, authorizing the environment's SSH client key (the migration key).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { createActivityDeps, type ActivityDeps } from '../../activities';
import { startOldHost, type OldHost } from '../../devkit/old-host';
import { TEST_PORT_OFFSET, TEST_STATE_DIR } from './paths';
import { testEnv } from './temporal';

export const OLD_HOST_SSH_PORT = 12232 + TEST_PORT_OFFSET;
export const OLD_HOST_DB_PORT = 13315 + TEST_PORT_OFFSET;

export function useOldHost(opts: { mysql8?: boolean; name?: string; sshPort?: number; dbPort?: number } = {}): { host: OldHost; deps: ActivityDeps } {
  const ctx = {} as { host: OldHost; deps: ActivityDeps };
  beforeAll(async () => {
    const env = testEnv();
    ctx.host = await startOldHost({
      dir: path.join(TEST_STATE_DIR, opts.name ?? 'old-host'),
      sshPort: opts.sshPort ?? OLD_HOST_SSH_PORT,
      dbPort: opts.dbPort ?? OLD_HOST_DB_PORT,
      authorizedKeys: readFileSync(`${env.DROVER_SSH_KEY_FILE}.pub`, 'utf8'),
      mysql8: opts.mysql8,
    });
    const deps = createActivityDeps(env);
    ctx.deps = { ...deps, migrateSsh: { ...deps.migrateSsh, pinnedHostKeys: [ctx.host.hostKeyFingerprint], insecureAnyHostKey: false } };
  }, 180_000);
  afterAll(async () => {
    await ctx.host?.stop();
  }, 120_000);
  return ctx;
}

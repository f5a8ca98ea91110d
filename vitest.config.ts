import { defineConfig } from 'vitest/config';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// Two projects: unit tests (pure logic, no services) and integration tests, which get one real local environment
// (Temporal, Galera, S3, sshd, dockerd) per run from test/global-setup.ts, under .drover-test with ports offset by
// 100 so it never collides with a developer's `drover dev up`.
export default defineConfig({
  test: {
    pool: 'forks',
    // The integration tests share one Galera cluster and one dockerd; on 2 cores they run one file at a time.
    fileParallelism: false,
    // One process runs every file of a project, one after the other, its modules loaded once: in their own process each
    // (the default) the files spent about 2 s apiece loading the Temporal client, the AWS SDK and the rest again. A
    // file puts back what it changes in process.env and closes what it opens (workers, pools, clients).
    isolate: false,
    // Scratch folders a file made outside its tests are removed once it has ended (test/helpers/scratch.ts).
    setupFiles: ['test/helpers/scratch-teardown.ts'],
    testTimeout: 180_000,
    hookTimeout: 600_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
    projects: [
      { extends: true, test: { name: 'unit', include: ['test/unit/**/*.test.ts'] } },
      {
        extends: true,
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          // The local environment stores files deduplicated (its env file names a dedup key); the suite turns that
          // off (an empty value wins over the env file, for test workers and the CLI workers tests spawn alike), so
          // the backup and restore tests keep covering tar points, the format of every point written before.
          // test/integration/dedup-backup.test.ts gives its workers a key and covers deduplicated points.
          env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true', DROVER_BACKUP_DEDUP_KEY_FILE: '' },
        },
      },
    ],
  },
});

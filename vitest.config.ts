import { defineConfig } from 'vitest/config';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

// One real local environment (Temporal, Galera, S3, sshd, dockerd) per run, started by test/global-setup.ts
// under .drover-test with ports offset by 100, so it never collides with a developer's `drover dev up`.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    pool: 'forks',
    // The integration tests share one Galera cluster and one dockerd; on 2 cores they run one file at a time.
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 600_000,
    env: { AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' },
  },
});

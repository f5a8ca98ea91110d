/**
 * Starts the real local environment once per test run (the same code as `drover dev up`) and prebuilds the
 * workflow bundle every test worker loads. Set DROVER_KEEP_TEST_ENV=1 to leave the environment running.
 */
import path from 'node:path';
import { devDown, devUp } from '../devkit/dev-env';
import { buildWorkflowBundle } from '../workers/build-bundle';
import { TEST_BUNDLE, TEST_ENV } from './helpers/paths';

export async function setup(): Promise<void> {
  const log = (m: string) => process.stderr.write(`[test env] ${m}\n`);
  const [report] = await Promise.all([devUp({ ...TEST_ENV, log }), buildWorkflowBundle(TEST_BUNDLE)]);
  if (!report.healthy) {
    const bad = report.parts.filter((p) => !p.healthy).map((p) => `${p.name}: ${p.error}\n${p.logTail ?? ''}`);
    throw new Error(`test environment not healthy:\n${bad.join('\n')}`);
  }
  log(`environment ready in ${path.relative(process.cwd(), report.stateDir)}`);
}

export async function teardown(): Promise<void> {
  if (process.env.DROVER_KEEP_TEST_ENV) return;
  await devDown(TEST_ENV);
}

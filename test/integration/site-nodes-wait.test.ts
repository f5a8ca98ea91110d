/**
 * `drover site list` asks drover-infra where created sites' tasks run. The server remembers a poller for about two
 * minutes after its worker is gone, so "a worker polls" can be stale: the lookup then waits a bounded time and the
 * nodes are reported unknown, saying why; the list still prints (found by the clean-clone run, where `site list`
 * after a test that had killed its infra worker waited until the test's timeout).
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createActivityDeps, closeActivityDeps, type ActivityDeps } from '../../activities';
import { markSiteDeleted, upsertSite } from '../../lib/site-registry';
import { livePollers } from '../../client/worker-option';
import { CLI, drover } from '../helpers/cli';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { connectTestServer, testEnv } from '../helpers/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

let deps: ActivityDeps;
let tw: TestWorkflowEnvironment;
const tag = randomBytes(3).toString('hex');
const domain = `nodes-${tag}.drover.test`;

beforeAll(async () => {
  deps = createActivityDeps(testEnv());
  tw = await connectTestServer();
});
afterAll(async () => {
  await markSiteDeleted(deps.galera, domain).catch(() => undefined);
  await closeActivityDeps(deps);
  await tw?.teardown();
});

it('a created site listed while the only infra poller the server remembers is dead: nodes unknown with the reason, within the bounded wait', async () => {
  await upsertSite(deps.galera, { domain, database: `wp_nodes_${tag}`, filesPath: `/srv/nodes-${tag}`, storageHost: null });
  await deps.galera.query(await deps.galera.writerNode(), "UPDATE drover_meta.sites SET farm = ?, status = 'active' WHERE domain = ?", [`gone${tag}`, domain]);

  // An infra worker polls, then dies without a word (SIGKILL): the server still lists it as a poller.
  const worker = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'infra'], { cwd: ROOT, env: { ...process.env, DROVER_METRICS_PORT: '0' }, stdio: 'ignore' });
  const exited = new Promise((r) => worker.once('close', r));
  for (let i = 0; i < 120 && (await livePollers(tw.client, 'infra')) === 0; i++) await new Promise((r) => setTimeout(r, 500));
  worker.kill('SIGKILL');
  await exited;
  expect(await livePollers(tw.client, 'infra')).toBeGreaterThan(0);

  const list = await drover(['site', 'list', '--json'], { timeoutMs: 90_000 });
  expect(list.code, list.stderr).toBe(0);
  const row = (list.json() as { sites: { domain: string; nodes: unknown; nodesUnknown?: string }[] }).sites.find((s) => s.domain === domain);
  expect(row).toMatchObject({ nodes: null, nodesUnknown: expect.stringMatching(/no drover-infra worker answered within \d+ s|no worker polls/) });
}, 180_000);

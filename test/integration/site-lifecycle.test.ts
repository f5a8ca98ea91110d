/**
 * A site's whole life on a real local cluster (network-namespace nodes, swarm, the local WordPress image, the local
 * Galera and the environment's Varnish front), through the built CLI as an operator runs it:
 * - `site create` twice: one registry row, one database, one user, one stack; the home page, fetched through the
 *   front with the site's Host, is rendered by PHP from its own database and shows the title given;
 * - `site show` names its database, files, farm and the curl through the front;
 * - `site delete --yes`: a final restore point exists; service, user, secret, database, files and the front's
 *   backend are gone; `restore site --at <final point>` brings it back and it serves its page again.
 * - `site show` / `site list --json` give the node, address and port of its tasks and the front's address; when its
 *   task is restarted elsewhere (a new host-mode port), the entity's front check moves the route and the page serves;
 * - a worker killed between two steps of the create (after the service deploy), with two operators running the same
 *   `site create` at once, for a 253-character Unicode (IDNA) domain: one site, one database, user, secret, stack;
 * - that site damaged (blogname changed, index.php removed), then the farm lost and recovered onto an empty cluster
 *   (destroyed and brought up again) from the point taken before the damage: it serves its page again.
 * No password in any of its workflows' histories.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { domainToASCII } from 'node:url';
import type { RowDataPacket } from 'mysql2/promise';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLocalNodeActivities } from '../../activities/local-nodes';
import { buildLocalImageTar, LOCAL_IMAGE } from '../../devkit/local-image';
import { buildWordpressImageTar, WORDPRESS_IMAGE, WORDPRESS_IMAGE_CHANGES } from '../../devkit/wordpress-image';
import { loadPlan } from '../../lib/plan/load';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { requestWithHost } from '../../lib/clients/http-request';
import { siteNames } from '../../lib/site-names';
import { getSite } from '../../lib/site-registry';
import { listSiteRestorePoints } from '../../lib/restore-points';
import { clusterBringUpWorkflow, type ClusterBringUpInput } from '../../workflows/cluster-bring-up';
import { siteStateQuery } from '../../workflows/site';
import { siteEntity } from '../../client/commands/site-lifecycle';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { markSiteDeleted } from '../../lib/site-registry';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { CLI, drover, stopWorkerProcess } from '../helpers/cli';
import { livePollers } from '../../client/worker-option';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { freeSubnet } from '../helpers/subnet';
import { testEnv, useRunningWorker } from '../helpers/temporal';

const NODES_DIR = path.join(TEST_STATE_DIR, 'nodes');
const ctx = useRunningWorker('site-life', (d) => ({ ...d, localNodes: { dir: NODES_DIR } }));
const farm = `sl${process.pid % 10000}`;

async function removeLeftovers(): Promise<void> {
  const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
  for (const f of existsSync(NODES_DIR) ? readdirSync(NODES_DIR) : []) if (f.startsWith('sl')) await new MockActivityEnvironment().run(acts.destroyLocalFarm, { farm: f });
}

let managerDocker: () => ReturnType<typeof createDockerClient>;
// The drover-infra worker as production runs it (the site's entity and its operations run there; a restore run by
// its own in-process restore worker holds the entity through it), and a backup worker.
const workers: Partial<Record<'infra' | 'backup', ChildProcess>> = {};
let infraOutput = '';
let images: ClusterBringUpInput['images'] = [];

/** The farm brought up (again, after it was destroyed: an empty cluster), with the cache password every site reads. */
async function bringUpFarm(): Promise<void> {
  const input: ClusterBringUpInput = { provider: 'local', farm, nodes: 2, subnet: freeSubnet(233), networks: loadPlan().networks, stacks: [], images };
  const r = await ctx.tw.client.workflow.execute(clusterBringUpWorkflow, { workflowId: `bringup/${farm}/${Date.now()}`, taskQueue: ctx.taskQueue, args: [input] });
  const m = r.nodes[0];
  managerDocker = () => createDockerClient({ host: `ssh://root@${m.ip}:22${m.dockerSocket}`, sshPrivateKey: ctx.deps.ssh.options.privateKey, sshPinnedHostKeys: [m.hostKey] });
  const d = managerDocker();
  try {
    const have = (await d.listSecrets({ filters: { name: ['redis_password'] } })) as unknown[];
    if (!have.length) await d.createSecret({ Name: 'redis_password', Data: Buffer.from('local-test').toString('base64') });
  } finally {
    closeDockerClient(d);
  }
}

/** A production worker of `queue` (DROVER_FAULT_CRASH_AT armed when given), polling before it returns. */
async function startWorker(queue: 'infra' | 'backup', crashAt?: string): Promise<ChildProcess> {
  const env: NodeJS.ProcessEnv = { ...process.env, DROVER_METRICS_PORT: '0', DROVER_BACKUP_METRICS_PORT: '0' };
  if (crashAt) env.DROVER_FAULT_CRASH_AT = crashAt;
  else delete env.DROVER_FAULT_CRASH_AT;
  const w = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', queue], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  workers[queue] = w;
  w.stdout!.on('data', (d) => (infraOutput = (infraOutput + d).slice(-8000)));
  w.stderr!.on('data', (d) => (infraOutput = (infraOutput + d).slice(-8000)));
  // Polling before the first command (the CLI refuses to wait on a queue nobody polls).
  for (let i = 0; (await livePollers(ctx.tw.client, queue)) === 0; i++) {
    if (i > 120 || w.exitCode !== null) throw new Error(`drover worker ${queue} is not polling:\n${infraOutput}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return w;
}

async function stopWorker(w: ChildProcess | undefined): Promise<void> {
  if (w) await stopWorkerProcess(w, () => infraOutput);
}

beforeAll(async () => {
  await removeLeftovers();
  images = [
    { image: LOCAL_IMAGE, tarPath: await buildLocalImageTar(path.join(TEST_STATE_DIR, 'images')) },
    { image: WORDPRESS_IMAGE, tarPath: await buildWordpressImageTar(), changes: WORDPRESS_IMAGE_CHANGES },
  ];
  await bringUpFarm();
  // The infra worker runs the entity and its operations; a delete's final restore point is a site backup on
  // drover-backup, so a backup worker runs too (as in production).
  await Promise.all([startWorker('infra'), startWorker('backup')]);
}, 1_800_000);
afterAll(async () => {
  const stopped = await Promise.allSettled(Object.values(workers).map((w) => stopWorker(w)));
  await removeLeftovers();
  for (const s of stopped) if (s.status === 'rejected') throw s.reason;
}, 300_000);

let fetches = 0;
/** The home page through the front, with a query of its own (so the front's cache never answers for PHP). */
async function page(domain: string): Promise<{ status: number; body: string }> {
  const front = testEnv().DROVER_FRONT_URL;
  if (!front) throw new Error('DROVER_FRONT_URL unset: the test environment has no front');
  return requestWithHost(new URL(`/?drover-test=${Date.now()}-${fetches++}`, front).toString(), { method: 'GET', host: domain, unavailable: 'SiteUnavailable', maxBody: 262_144, timeoutMs: 60_000 }).catch((err: Error) => ({ status: 0, body: err.message }));
}

/** Waits (up to `ms`) until the page through the front answers 200 showing `text`. */
async function servesWithin(domain: string, text: string, ms: number): Promise<{ status: number; body: string }> {
  const deadline = Date.now() + ms;
  for (;;) {
    const r = await page(domain);
    if ((r.status === 200 && r.body.includes(text)) || Date.now() > deadline) return r;
    await new Promise((res) => setTimeout(res, 500));
  }
}

async function secretCount(name: string): Promise<number> {
  const d = managerDocker();
  try {
    return ((await d.listSecrets({ filters: { name: [name] } })) as { Spec: { Name: string } }[]).filter((x) => x.Spec.Name === name).length;
  } finally {
    closeDockerClient(d);
  }
}

/** The host-mode ports of the site's running wordpress tasks (two while an update starts the new one first). */
async function wordpressPorts(stack: string): Promise<(number | null)[]> {
  const d = managerDocker();
  try {
    const tasks = (await d.listTasks({ filters: { service: [`${stack}_wordpress`] } })) as { Status: { State: string; PortStatus?: { Ports?: { PublishedPort?: number }[] } } }[];
    return tasks.filter((t) => t.Status.State === 'running').map((t) => t.Status.PortStatus?.Ports?.[0]?.PublishedPort ?? null);
  } finally {
    closeDockerClient(d);
  }
}

/** A valid domain of exactly 253 characters in ASCII, whose first label is Unicode (IDNA). */
function longUnicodeDomain(tag: string): { unicode: string; ascii: string } {
  const head = `bücher-café-${tag}`;
  const tail = 'drover.test';
  const headAscii = domainToASCII(head);
  let rest = 253 - headAscii.length - 1 - tail.length;
  const middle: string[] = [];
  while (rest > 0) {
    // Each middle label with its dot; never leave a single character (a label needs one plus its dot).
    const len = rest - 1 <= 63 ? rest - 1 : rest - 1 - 63 < 2 ? 60 : 63;
    middle.push('m'.repeat(len));
    rest -= len + 1;
  }
  const unicode = [head, ...middle, tail].join('.');
  const ascii = domainToASCII(unicode);
  if (ascii.length !== 253) throw new Error(`built a ${ascii.length}-character domain`);
  return { unicode, ascii };
}

async function count(sql: string, params: unknown[]): Promise<number> {
  const rows = await ctx.deps.galera.query<RowDataPacket[]>(await ctx.deps.galera.writerNode(), sql, params);
  return Number(rows[0].n);
}

async function stackServices(stack: string): Promise<string[]> {
  const d = managerDocker();
  try {
    return ((await d.listServices({ filters: { label: [`com.docker.stack.namespace=${stack}`] } })) as { Spec: { Name: string } }[]).map((s) => s.Spec.Name).sort();
  } finally {
    closeDockerClient(d);
  }
}

describe('site lifecycle on a local cluster', () => {
  it('create twice → one site that renders its title through the front; delete → final point, all gone; restore → serves again', async () => {
    const domain = `life-${ctx.taskQueue.slice(-6)}.drover.test`;
    const n = siteNames(domain);
    const title = 'Café Ünïcode & <Sons>';
    const args = ['site', 'create', domain, '--farm', farm, '--title', title];
    // The site's entity started first, checking its front every 3 s instead of every minute (the task's move below
    // waits for a check): the CLI attaches to an entity that runs, as a second operator's would.
    await siteEntity(ctx.tw.client, domain, { frontCheckEveryMs: 3000 });
    const first = await drover(args, { timeoutMs: 900_000 });
    expect(first.code, first.stdout + first.stderr + infraOutput).toBe(0);
    const second = await drover(args, { timeoutMs: 300_000 });
    expect(second.code, second.stdout + second.stderr).toBe(0);
    expect(second.stdout).toMatch(/already created/);

    expect(await count('SELECT COUNT(*) AS n FROM drover_meta.sites WHERE domain = ?', [domain])).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [n.database])).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = '%'", [n.dbUser])).toBe(1);
    expect(await stackServices(n.stack)).toEqual([`${n.stack}_cron`, `${n.stack}_wordpress`]);
    expect(await getSite(ctx.deps.galera, domain)).toMatchObject({ status: 'active', dbUser: n.dbUser, farm, title, lastOperation: 'created' });
    const served = await page(domain);
    expect(served.status).toBe(200);
    expect(served.body).toContain('Café Ünïcode &amp; &lt;Sons&gt;');
    // WordPress's installer stored them: the title as WordPress escapes it, home and siteurl from the request's Host.
    expect(await count(`SELECT COUNT(*) AS n FROM \`${n.database}\`.wp_options WHERE option_name = 'blogname' AND option_value = ?`, ['Café Ünïcode &amp; &lt;Sons&gt;'])).toBe(1);
    expect(await count(`SELECT COUNT(*) AS n FROM \`${n.database}\`.wp_options WHERE option_name IN ('home', 'siteurl') AND option_value = ?`, [`http://${domain}`])).toBe(2);
    // The installer's check of pretty permalinks requested the site by its own domain and reached it (a local node has
    // no DNS: the site's stack maps the domain to its container, lib/local-services.ts), so it kept them, as on a
    // farm: the first post's link is one, and it renders through the front.
    expect(await count(`SELECT COUNT(*) AS n FROM \`${n.database}\`.wp_options WHERE option_name = 'permalink_structure' AND option_value <> ''`, [])).toBe(1);
    const post = new RegExp(`href="http://${domain.replace(/\./g, '\\.')}(/\\d{4}/\\d{2}/\\d{2}/hello-world/)"`).exec(served.body)?.[1];
    expect(post, served.body.slice(0, 2000)).toBeDefined();
    expect((await requestWithHost(new URL(post!, testEnv().DROVER_FRONT_URL).toString(), { method: 'GET', host: domain, unavailable: 'SiteUnavailable', maxBody: 262_144, timeoutMs: 60_000 })).status).toBe(200);

    // show and list (stdout piped, --json): the node, address and port of its tasks, the front's address.
    const [port] = await wordpressPorts(n.stack);
    const show = await drover(['site', 'show', domain, '--json']);
    expect(show.code, show.stderr).toBe(0);
    const wordpressTask = { service: `${n.stack}_wordpress`, node: expect.stringMatching(/\S/), address: expect.stringMatching(/^\d+\.\d+\.\d+\.\d+$/), state: 'running', port };
    expect(show.json()).toMatchObject({ site: { database: n.database, filesPath: n.docroot, farm }, nodes: expect.arrayContaining([wordpressTask, expect.objectContaining({ service: `${n.stack}_cron`, state: 'running' })]), front: { url: testEnv().DROVER_FRONT_URL, curl: expect.stringContaining(`Host: ${domain}`) } });
    const text = await drover(['site', 'show', domain]);
    expect(text.stdout).toMatch(new RegExp(`nodes .*wordpress on \\S+ [0-9.]+:${port} \\(running\\)`));
    expect(text.stdout).toMatch(/history +\S+/);
    const list = await drover(['site', 'list', '--json']);
    expect(list.code, list.stderr).toBe(0);
    expect((list.json() as { sites: { domain: string }[] }).sites.find((x) => x.domain === domain)).toMatchObject({ nodes: expect.arrayContaining([wordpressTask]), front: { curl: expect.stringContaining(`Host: ${domain}`) } });

    // The swarm restarts its task (a new host-mode port, maybe another node): the entity's front check follows it.
    const d = managerDocker();
    try {
      const svc = d.getService(`${n.stack}_wordpress`);
      const info = (await svc.inspect()) as { Version: { Index: number }; Spec: { TaskTemplate: { ForceUpdate?: number } } & Record<string, unknown> };
      await svc.update({ version: info.Version.Index, ...info.Spec, TaskTemplate: { ...info.Spec.TaskTemplate, ForceUpdate: (info.Spec.TaskTemplate.ForceUpdate ?? 0) + 1 } });
    } finally {
      closeDockerClient(d);
    }
    // Moved: the old task gone (start-first keeps it serving until the new one runs), one task on a new port.
    let ports = [port];
    for (const deadline = Date.now() + 300_000; !(ports.length === 1 && ports[0] !== port) && Date.now() < deadline; ) {
      await new Promise((r) => setTimeout(r, 500));
      ports = await wordpressPorts(n.stack);
    }
    const moved = ports[0];
    expect(ports.length === 1 && moved !== port, JSON.stringify({ port, ports })).toBe(true);
    const followed = await servesWithin(domain, 'Café Ünïcode &amp; &lt;Sons&gt;', 180_000);
    expect(followed.status, followed.body.slice(0, 300)).toBe(200);
    const entity = await ctx.tw.client.workflow.getHandle(workflowIds.site(domain)).query(siteStateQuery);
    expect(entity.front).toMatchObject({ port: moved, moves: expect.any(Number) });
    expect(entity.front!.moves).toBeGreaterThanOrEqual(1);
    const after = await drover(['site', 'show', domain, '--json']);
    expect(after.json()).toMatchObject({ nodes: expect.arrayContaining([expect.objectContaining({ service: `${n.stack}_wordpress`, port: moved })]), front: { backend: { port: moved } } });

    const del = await drover(['site', 'delete', domain, '--yes'], { timeoutMs: 600_000 });
    expect(del.code, del.stdout + del.stderr).toBe(0);
    const finalPoint = /final restore point (safety\/\d{8}T\d{6}Z)/.exec(del.stdout)?.[1];
    expect(finalPoint).toBeDefined();
    const points = await listSiteRestorePoints(ctx.deps.s3, ctx.deps.bucket, { site: domain });
    expect(points.find((p) => p.date === finalPoint)?.complete).toBe(true);
    expect(await count('SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [n.database])).toBe(0);
    expect(await count("SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = '%'", [n.dbUser])).toBe(0);
    expect(await stackServices(n.stack)).toEqual([]);
    expect(existsSync(n.siteRoot)).toBe(false);
    expect((await page(domain)).status).not.toBe(200);
    expect(await getSite(ctx.deps.galera, domain)).toMatchObject({ status: 'deleted' });

    const back = await drover(['restore', 'site', domain, '--at', finalPoint!, '--worker'], { timeoutMs: 900_000 });
    expect(back.code, back.stdout + back.stderr).toBe(0);
    expect(back.stdout).toMatch(/recreate the site's user, secret and service/);
    const again = await page(domain);
    expect(again.status).toBe(200);
    expect(again.body).toContain('Café Ünïcode &amp; &lt;Sons&gt;');
    expect(await stackServices(n.stack)).toEqual([`${n.stack}_cron`, `${n.stack}_wordpress`]);
  }, 3_600_000);

  it('a worker killed mid-create while two operators create the same 253-character Unicode domain: one site; damaged and restored over itself, it serves; damaged again, then recovered onto an empty cluster from its point, it serves', async () => {
    const { unicode, ascii: domain } = longUnicodeDomain(ctx.taskQueue.slice(-6));
    const n = siteNames(domain);
    const title = 'Bücher & Café';
    const shown = 'Bücher &amp; Café';
    // Its defaults do not fit (WordPress keeps an e-mail in 100 characters): exit 2 naming the option, nothing made.
    const tooLong = await drover(['site', 'create', unicode, '--farm', farm]);
    expect(tooLong.code, tooLong.stdout + tooLong.stderr).toBe(2);
    expect(tooLong.stderr).toMatch(/--admin-email: /);
    expect(await getSite(ctx.deps.galera, domain)).toBeNull();

    // The infra worker dies right after the site's service is deployed (before it is waited on). The entity runs the
    // create's long steps with a 5 s heartbeat timeout (30 s by default): the retry on the new worker comes sooner.
    await siteEntity(ctx.tw.client, domain, { frontCheckEveryMs: 3000, stepTimeouts: { heartbeat: '5 seconds' } });
    await stopWorker(workers.infra);
    const crashing = await startWorker('infra', 'site-create-after-service');
    const crashed = new Promise((r) => crashing.once('close', r));
    const args = ['site', 'create', unicode, '--farm', farm, '--title', title, '--admin-email', 'ops@drover.test'];
    const operators = [drover(args, { timeoutMs: 1_500_000 }), drover(args, { timeoutMs: 1_500_000 })];
    await crashed;
    expect(infraOutput).toContain('crashing at site-create-after-service');
    await startWorker('infra');
    const [a, b] = await Promise.all(operators);
    expect(a.code, a.stdout + a.stderr + infraOutput).toBe(0);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(`${a.stdout}\n${b.stdout}`).toContain(`created ${domain}`);

    expect(await count('SELECT COUNT(*) AS n FROM drover_meta.sites WHERE domain = ?', [domain])).toBe(1);
    expect(await count('SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [n.database])).toBe(1);
    expect(await count("SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = '%'", [n.dbUser])).toBe(1);
    expect(await secretCount(n.dbSecret)).toBe(1);
    expect(await stackServices(n.stack)).toEqual([`${n.stack}_cron`, `${n.stack}_wordpress`]);
    // One create ran (the second operator's waited behind it and was answered by it).
    const entity = await ctx.tw.client.workflow.getHandle(workflowIds.site(domain)).query(siteStateQuery);
    expect(entity).toMatchObject({ phase: 'created', operations: 1, last: { name: 'create', outcome: 'ok' } });
    expect(await count(`SELECT COUNT(*) AS n FROM \`${n.database}\`.wp_options WHERE option_name = 'home' AND option_value = ?`, [`http://${domain}`])).toBe(1);
    expect((await servesWithin(domain, shown, 60_000)).status).toBe(200);

    // Damaged after a backup: its title changed in the database and its index.php removed.
    const point = '2026-11-20';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: workflowIds.siteBackup(domain, point), taskQueue: TASK_QUEUES.backup, args: [{ site: domain, point }] });
    await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), `UPDATE \`${n.database}\`.wp_options SET option_value = 'Defaced' WHERE option_name = 'blogname'`);
    rmSync(path.join(n.docroot, 'index.php'));
    const damaged = await page(domain);
    expect(damaged.status === 200 && damaged.body.includes(shown)).toBe(false);
    // Restored over itself while its service runs: it serves its title again (the task restarted onto the restored
    // docroot: a running task kept the folder swapped out, and the front answered 503).
    const inPlace = await drover(['restore', 'site', domain, '--at', point, '--worker'], { timeoutMs: 900_000 });
    expect(inPlace.code, inPlace.stdout + inPlace.stderr).toBe(0);
    const restored = await servesWithin(domain, shown, 120_000);
    expect(restored.status, restored.body.slice(0, 300)).toBe(200);
    rmSync(path.join(n.docroot, 'index.php'));

    // Then the disaster: the cluster is gone (its nodes, swarm, services and secrets), and the site's database, user,
    // files and registry entry with it. A new, empty cluster of the same name; the farm recovery brings the site
    // back from the point taken before the damage, and it serves its title again.
    const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
    await new MockActivityEnvironment().run(acts.destroyLocalFarm, { farm });
    const node = await ctx.deps.galera.writerNode();
    await ctx.deps.galera.query(node, `DROP DATABASE \`${n.database}\``);
    await ctx.deps.galera.query(node, 'DROP USER ?@?', [n.dbUser, '%']);
    rmSync(n.siteRoot, { recursive: true, force: true });
    await markSiteDeleted(ctx.deps.galera, domain);
    await bringUpFarm();
    expect(await stackServices(n.stack)).toEqual([]);
    const sitesFile = path.join(TEST_STATE_DIR, `recover-${ctx.taskQueue.slice(-6)}.txt`);
    writeFileSync(sitesFile, `${domain}\n`);
    const recovered = await drover(['restore', 'farm', '--label', `sl-${ctx.taskQueue.slice(-6)}`, '--sites-file', sitesFile, '--at', point, '--yes', '--worker'], { timeoutMs: 1_200_000 });
    expect(recovered.code, recovered.stdout + recovered.stderr).toBe(0);
    expect(await stackServices(n.stack)).toEqual([`${n.stack}_cron`, `${n.stack}_wordpress`]);
    expect(await secretCount(n.dbSecret)).toBe(1);
    expect(await getSite(ctx.deps.galera, domain)).toMatchObject({ status: 'active', dbUser: n.dbUser, farm });
    const again = await servesWithin(domain, shown, 120_000);
    expect(again.status, again.body.slice(0, 300)).toBe(200);
    expect(existsSync(path.join(n.docroot, 'index.php'))).toBe(true);
  }, 3_600_000);
});

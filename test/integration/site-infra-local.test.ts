/**
 * The local infrastructure a created site runs on, end to end on a real local cluster (a manager and a worker,
 * network-namespace nodes): the local WordPress image (built from Debian packages, imported on every node with
 * its entrypoint and health check) runs as a swarm service on the worker, publishing its port on the node's
 * address (host mode: no routing mesh without iptables); its container reaches the local Galera on the services
 * address through the node, as a user that may use its own database only; WordPress is installed by PHP inside
 * the container (wp_install()); and the home page fetched through the local Varnish front with the site's Host
 * header is rendered from that database: its title, unicode and all. The front's backend is added twice (no
 * change the second time) and removed at the end (the front then has no site for that Host). The stack's cron
 * container, run from the image with the stack file's own entrypoint, stops on `docker stop` with exit 0.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createFrontActivities } from '../../activities/front';
import { createLocalNodeActivities } from '../../activities/local-nodes';
import { createSwarmNodeActivities } from '../../activities/swarm-nodes';
import { buildLocalImageTar, LOCAL_IMAGE } from '../../devkit/local-image';
import { WORDPRESS_IMAGE, wordpressImageInput } from '../../devkit/wordpress-image';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { withSsh } from '../../lib/clients/ssh-client';
import { LOCAL_SERVICES_ADDRESS, LOCAL_SITE_SERVICE } from '../../lib/local-services';
import { loadPlan } from '../../lib/plan/load';
import { clusterBringUpWorkflow } from '../../workflows/cluster-bring-up';
import { clusterTeardownWorkflow } from '../../workflows/cluster-teardown';
import { ROOT, TEST_STATE_DIR } from '../helpers/paths';
import { freeSubnet } from '../helpers/subnet';
import { useRunningWorker } from '../helpers/temporal';

const run = promisify(execFile);
const NODES_DIR = path.join(TEST_STATE_DIR, 'nodes');
const ctx = useRunningWorker('site-infra', (d) => ({ ...d, localNodes: { dir: NODES_DIR } }));

async function removeLeftovers(): Promise<void> {
  const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
  for (const farm of existsSync(NODES_DIR) ? readdirSync(NODES_DIR) : []) await new MockActivityEnvironment().run(acts.destroyLocalFarm, { farm });
}
beforeAll(removeLeftovers, 300_000);
afterAll(removeLeftovers, 300_000);

/** The front's answer for a Host (curl: Node's fetch will not send another Host header). */
async function throughFront(host: string, url: string): Promise<{ status: number; body: string }> {
  const { stdout } = await run('curl', ['-s', '-m', '30', '-H', `Host: ${host}`, '-w', '\n%{http_code}', url], { maxBuffer: 16 << 20 });
  const i = stdout.lastIndexOf('\n');
  return { status: Number(stdout.slice(i + 1)), body: stdout.slice(0, i) };
}

const sq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

describe('a site on the local cluster, through the local front', () => {
  it('the WordPress image on a worker reaches Galera, is installed by PHP, and its page renders its title through Varnish by Host', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const farm = `w${tag}`;
    const domain = `site-${tag}.example.com`;
    const database = `wp_infra_${tag}`;
    const dbUser = `u_infra_${tag}`;
    const password = randomBytes(18).toString('base64url');
    const title = `Bücher & Café — ${tag} ✓`;
    const docroot = path.join(TEST_STATE_DIR, 'sites-local', domain);
    const port = 20080;
    const front = createFrontActivities(ctx.deps);
    const writer = ctx.deps.galera.pool((await ctx.deps.galera.syncedNodes())[0]);
    expect(ctx.deps.sites.dbHost).toMatch(new RegExp(`^${LOCAL_SERVICES_ADDRESS.replace(/\./g, '\\.')}:\\d+$`));
    expect(ctx.deps.localFront).not.toBeNull();

    const [wordpressImage, busyboxTar] = await Promise.all([wordpressImageInput(), buildLocalImageTar(path.join(TEST_STATE_DIR, 'images'))]);
    rmSync(docroot, { recursive: true, force: true });
    mkdirSync(docroot, { recursive: true });
    // The site's database and a user who may use it alone, from the nodes' addresses (masqueraded by each node).
    await writer.query(`CREATE DATABASE IF NOT EXISTS \`${database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci`);
    await writer.query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [dbUser, '10.%', password]);
    await writer.query(`GRANT ALL PRIVILEGES ON \`${database}\`.* TO ?@?`, [dbUser, '10.%']);
    try {
      const up = await ctx.tw.client.workflow.execute(clusterBringUpWorkflow, {
        workflowId: `bringup/${farm}`,
        taskQueue: ctx.taskQueue,
        args: [{ provider: 'local', farm, nodes: 2, subnet: freeSubnet(236), networks: loadPlan().networks.filter((n) => n.name === 'wordpress'), stacks: [], images: [{ image: LOCAL_IMAGE, tarPath: busyboxTar }, wordpressImage] }],
      });
      const [manager, worker] = up.nodes;
      /** A command on the worker node over SSH (its host key pinned); a non-zero exit throws unless `check` is false. */
      const onWorker = (cmd: string, o: { check?: boolean } = {}) =>
        withSsh({ host: worker.ip, port: 22, username: 'root' }, { ...ctx.deps.ssh.options, pinnedHostKeys: [worker.hostKey] }, (c) => (o.check === false ? c.exec(cmd) : c.execOrThrow(cmd)));
      const onManager = createDockerClient({ host: `ssh://root@${manager.ip}:22${manager.dockerSocket}`, sshPrivateKey: ctx.deps.ssh.options.privateKey, sshPinnedHostKeys: [manager.hostKey] });
      try {
        // Imported with the official image's entrypoint and health check.
        const img = (await onManager.getImage(WORDPRESS_IMAGE).inspect()) as { Config: { Entrypoint: string[]; Healthcheck?: { Test: string[] } } };
        expect(img.Config.Entrypoint).toEqual(['docker-entrypoint.sh']);
        expect(img.Config.Healthcheck?.Test.join(' ')).toContain('curl');

        const secret = (await onManager.createSecret({ Name: `site-${tag}-db-password`, Data: Buffer.from(password).toString('base64') })) as { id: string };
        await onManager.createService({
          Name: `site-${tag}`,
          TaskTemplate: {
            ContainerSpec: {
              Image: WORDPRESS_IMAGE,
              Env: [
                `WORDPRESS_DB_HOST=${ctx.deps.sites.dbHost}`,
                `WORDPRESS_DB_USER=${dbUser}`,
                `WORDPRESS_DB_PASSWORD_FILE=/run/secrets/db_password`,
                `WORDPRESS_DB_NAME=${database}`,
                'WORDPRESS_TABLE_PREFIX=wx_',
                `WORDPRESS_CONFIG_EXTRA=define('WP_HOME', 'http://${domain}'); define('WP_SITEURL', 'http://${domain}');`,
              ],
              Mounts: [{ Type: 'bind', Source: docroot, Target: '/var/www/html' }],
              // The site's own domain resolves to its container, as the site stack's local override maps it
              // (LOCAL_SITE_SERVICE): a node has no DNS, and wp_install()'s check of pretty permalinks waited it out.
              Hosts: [`${LOCAL_SITE_SERVICE.selfAddress} ${domain}`],
              Secrets: [{ SecretID: secret.id, SecretName: `site-${tag}-db-password`, File: { Name: 'db_password', UID: '0', GID: '33', Mode: 0o440 } }],
            },
            // On the farm's wordpress overlay, as the stack puts it: its container then also has the node's
            // docker_gwbridge, its way out to the services address.
            Networks: [{ Target: 'wordpress' }],
            Placement: { Constraints: ['node.role == worker'] },
            RestartPolicy: { Condition: 'any', Delay: 5_000_000_000 },
          },
          Mode: { Replicated: { Replicas: 1 } },
          EndpointSpec: { Ports: [{ Protocol: 'tcp', TargetPort: 80, PublishedPort: port, PublishMode: 'host' }] },
        });

        // Running and healthy (the image's health check) on the worker.
        let state = '';
        for (let i = 0; i < 180 && state !== 'healthy'; i++) {
          await new Promise((r) => setTimeout(r, 1000));
          state = (await onWorker(`docker ps -q --filter label=com.docker.swarm.service.name=site-${tag} | head -1 | xargs -r docker inspect --format '{{.State.Health.Status}}'`, { check: false })).stdout.trim();
        }
        expect(state).toBe('healthy');
        // A stack that cannot be placed (a reservation no node has): waitForStack says why swarm does not run it
        // (before: "did not converge: … 0/1" and nothing more).
        const greedy = `greedy-${tag}`;
        await onManager.createService({
          Name: `${greedy}_app`,
          Labels: { 'com.docker.stack.namespace': greedy },
          TaskTemplate: { ContainerSpec: { Image: LOCAL_IMAGE, Command: ['sleep', '600'] }, Resources: { Reservations: { NanoCPUs: 64_000_000_000 } } },
          Mode: { Replicated: { Replicas: 1 } },
        });
        const swarm = createSwarmNodeActivities(ctx.deps);
        // Swarm gives its reason once the scheduler has tried the task: waited for first, so a slow scheduler is not a failure.
        for (let i = 0; i < 120; i++) {
          const tasks = (await onManager.listTasks({ filters: { service: [`${greedy}_app`] } })) as { Status: { Err?: string } }[];
          if (tasks.some((t) => /no suitable node/.test(t.Status.Err ?? ''))) break;
          await new Promise((r) => setTimeout(r, 500));
        }
        await expect(new MockActivityEnvironment().run(swarm.waitForStack, { manager, name: greedy, timeoutMs: 8_000 })).rejects.toThrow(
          new RegExp(`stack ${greedy} did not converge: ${greedy}_app 0/1 \\(no suitable node \\(insufficient resources on 2 nodes\\)\\)`),
        );
        await onManager.getService(`${greedy}_app`).remove();
        const inContainer = (php: string) => onWorker(`docker exec -u www-data "$(docker ps -q --filter label=com.docker.swarm.service.name=site-${tag} | head -1)" php -r ${sq(php)}`);

        // The container's own connection to Galera (as WordPress makes it), and the grant that stops at its database.
        const probe = await inContainer(`$h = explode(':', getenv('WORDPRESS_DB_HOST')); $m = new mysqli($h[0], getenv('WORDPRESS_DB_USER'), trim(file_get_contents(getenv('WORDPRESS_DB_PASSWORD_FILE'))), getenv('WORDPRESS_DB_NAME'), (int) $h[1]); echo $m->query("SHOW STATUS LIKE 'wsrep_cluster_size'")->fetch_row()[1], ' ', $m->query('SELECT COUNT(*) FROM information_schema.SCHEMATA')->fetch_row()[0], "\\n";`);
        // Three Galera nodes; the user sees information_schema and its own database only.
        expect(probe.stdout.trim()).toBe('3 2');
        const install = await inContainer(`define('WP_INSTALLING', true); $_SERVER['HTTP_HOST'] = '${domain}'; require '/var/www/html/wp-load.php'; require_once ABSPATH . 'wp-admin/includes/upgrade.php'; $r = wp_install(${JSON.stringify(title).replace(/\$/g, '\\$')}, 'admin', 'admin@${domain}', true, '', ${JSON.stringify(randomBytes(12).toString('hex'))}); echo 'user ', $r['user_id'], "\\n";`);
        // The admin's id is Galera's: each node hands out AUTO_INCREMENT values by an offset from its place in the
        // current cluster view (wsrep_auto_increment_control), which changes as nodes restart, so the first user
        // may be 1, 2 or 3.
        const userId = Number(/^user (\d+)$/m.exec(install.stdout)?.[1]);
        expect(userId, install.stdout).toBeGreaterThan(0);
        const [admins] = await writer.query(`SELECT user_login FROM \`${database}\`.wx_users WHERE ID = ?`, [userId]);
        expect(admins).toEqual([{ user_login: 'admin' }]);
        const [rows] = await writer.query(`SELECT option_value FROM \`${database}\`.wx_options WHERE option_name = 'blogname'`);
        // WordPress stores the title HTML-escaped (sanitize_option), and prints it so.
        const escaped = title.replace(/&/g, '&amp;');
        expect((rows as { option_value: string }[])[0].option_value).toBe(escaped);

        // Through the front: the backend added (again: no change), then the page by Host, rendered by PHP.
        expect(await front.ensureSiteBackend({ domain, address: worker.ip, port })).toMatchObject({ changed: true, skipped: false, frontUrl: ctx.deps.localFront!.url });
        expect(await front.ensureSiteBackend({ domain, address: worker.ip, port })).toMatchObject({ changed: false });
        const page = await throughFront(domain, `${ctx.deps.localFront!.url}/`);
        expect(page.status, page.body.slice(0, 500)).toBe(200);
        expect(page.body).toContain(`<title>${escaped}</title>`);
        // www. and an upper-case Host reach the same site (WordPress itself redirects to its canonical name);
        // another Host does not.
        const { stdout: www } = await run('curl', ['-s', '-o', '/dev/null', '-D', '-', '-m', '30', '-H', `Host: WWW.${domain}`, `${ctx.deps.localFront!.url}/`]);
        expect(www).toMatch(/^HTTP\/1\.1 301/);
        expect(www).toMatch(/^X-Redirect-By: WordPress/im);
        expect(www).toMatch(new RegExp(`^Location: http://${domain.replace(/\./g, '\\.')}/`, 'im'));
        expect((await throughFront(`other-${domain}`, `${ctx.deps.localFront!.url}/`)).status).toBe(503);
        expect(await front.removeSiteBackend({ domain })).toEqual({ removed: true, skipped: false });
        expect(await front.removeSiteBackend({ domain })).toEqual({ removed: false, skipped: false });
        expect((await throughFront(domain, `${ctx.deps.localFront!.url}/`)).status).toBe(503);

        // The stack's cron container (its shell is PID 1, which the kernel gives no signal it does not handle)
        // stops on `docker stop`'s SIGTERM: exit 0, not 137 (killed at the end of the grace period).
        const cron = (parse(readFileSync(path.join(ROOT, 'stacks/wordpress.yml'), 'utf8')) as { services: { cron: { entrypoint: string[] } } }).services.cron.entrypoint;
        // `docker stack deploy` reads `$$` as one `$`.
        const [shell, ...shellArgs] = cron.map((a) => a.replace(/\$\$/g, '$'));
        const name = `cron-stop-${tag}`;
        await onWorker(`docker run -d --name ${name} --network none --entrypoint ${sq(shell)} ${WORDPRESS_IMAGE} ${shellArgs.map(sq).join(' ')}`);
        try {
          expect((await onWorker(`docker inspect --format '{{.State.Running}}' ${name}`)).stdout.trim()).toBe('true');
          await onWorker(`docker stop -t 30 ${name}`);
          expect((await onWorker(`docker inspect --format '{{.State.ExitCode}}' ${name}`)).stdout.trim()).toBe('0');
        } finally {
          await onWorker(`docker rm -f ${name}`).catch(() => undefined);
        }
      } finally {
        closeDockerClient(onManager);
      }
    } finally {
      await front.removeSiteBackend({ domain }).catch(() => undefined);
      await ctx.tw.client.workflow.execute(clusterTeardownWorkflow, { workflowId: `teardown/${farm}`, taskQueue: ctx.taskQueue, args: [{ provider: 'local', farm }] });
      await writer.query(`DROP DATABASE IF EXISTS \`${database}\``);
      await writer.query('DROP USER IF EXISTS ?@?', [dbUser, '10.%']);
      rmSync(docroot, { recursive: true, force: true });
    }
  }, 1_200_000);
});

/**
 * A created site's service on the farm's workers (the stack `site-<id>` from stacks/wordpress.yml, deployed on a
 * manager), and WordPress's own installer run through the farm's front door, the way a person installing it
 * would: POST /wp-admin/install.php?step=2 with the site's Host, then the home page checked for the title.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { cancellationSignal, heartbeat, sleep } from '@temporalio/activity';
import type Docker from 'dockerode';
import { stringify } from 'yaml';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { requestWithHost } from '../lib/clients/http-request';
import { withSsh } from '../lib/clients/ssh-client';
import { droverRoot } from '../lib/version';
import { runStackDeploy, withNodeDocker, type NodeAddress } from './swarm-nodes';
import { withHeartbeat } from './lib/heartbeat';
import { faultPoint } from './lib/fault-points';
import type { SiteNames } from '../lib/site-names';
import { runningTasks, tasksOnLiveNodes, type SwarmNodeLike } from '../lib/swarm-running';

/** The site's names (lib/site-names.ts; a restored site's database may be its registry's) and where it runs. */
export interface SiteServiceInput extends Pick<SiteNames, 'domain' | 'id' | 'stack' | 'database' | 'dbUser' | 'dbSecret'> {
  manager: NodeAddress;
  docroot: string;
  phpVersion: string;
  /** Docker's --resolve-image: `never` on the local provider (images imported, no registry). */
  resolveImage?: 'always' | 'changed' | 'never';
  /** The WordPress image, when not the stack file's default (the local provider's imported stand-in). */
  image?: string;
  /** The scheme of WP_HOME and WP_SITEURL (default https; a local cluster's front speaks plain HTTP). */
  scheme?: 'http' | 'https';
  /**
   * The address the site's own domain resolves to in its wordpress containers (`extra_hosts`): 127.0.0.1 on a local
   * cluster, whose nodes reach no DNS server (lib/local-services.ts LOCAL_SITE_SERVICE); unset on a farm.
   */
  selfAddress?: string;
  /** WordPress's `$table_prefix` when not wp_ (a migrated site keeps its old host's). */
  tablePrefix?: string;
}

/** One task of a site's stack that should be running: where it runs and what it publishes. */
export interface SiteTask {
  service: string;
  /** The node's hostname and swarm address ('' while the task is not yet assigned). */
  node: string;
  address: string;
  /** Docker's task state; `running (node down)` for a task the manager still lists on a node that is down or gone. */
  state: string;
  /** The host-mode port published for port 80 (the wordpress service), or null. */
  port: number | null;
}

/** The variables stacks/wordpress.yml reads, for one site. */
export function siteStackEnv(input: SiteServiceInput, sites: ActivityDeps['sites']): Record<string, string> {
  return {
    SITE_DB_HOST: sites.dbHost,
    SITE_HEALTH_INTERVAL: sites.healthInterval,
    ...(input.image ? { SITE_IMAGE: input.image } : {}),
    ...(input.scheme ? { SITE_SCHEME: input.scheme } : {}),
    ...(input.tablePrefix ? { SITE_TABLE_PREFIX: input.tablePrefix } : {}),
    SITE_ID: input.id,
    SITE_DOMAIN: input.domain,
    SITE_DB: input.database,
    SITE_DB_USER: input.dbUser,
    SITE_DB_SECRET: input.dbSecret,
    SITE_DOCROOT: input.docroot,
    SITE_PHP: input.phpVersion,
  };
}

/** What one site's deploy merges over stacks/wordpress.yml (a second compose file), if anything: `selfAddress`'s hosts line. */
export function siteStackOverrides(input: Pick<SiteServiceInput, 'domain' | 'selfAddress'>): string[] {
  if (!input.selfAddress) return [];
  return [stringify({ version: '3.8', services: { wordpress: { extra_hosts: [`${input.domain}:${input.selfAddress}`] } } })];
}

const escapeHtml = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#039;');

export function createSiteServiceActivities({ ssh, front, sites, localFront }: Pick<ActivityDeps, 'ssh' | 'front' | 'sites' | 'localFront'>) {
  const onManager = <T>(n: NodeAddress, fn: (d: Docker) => Promise<T>): Promise<T> => withNodeDocker(ssh.options.privateKey, n, fn);
  const stackServices = (d: Docker, stack: string) =>
    d.listServices({ filters: { label: [`com.docker.stack.namespace=${stack}`] } }) as Promise<{ ID: string; Spec: { Name: string } }[]>;
  // The local front (varnishd of the local environment) or the farm's front door.
  // Read when used: the factory only closes over its dependencies.
  const frontBase = () => localFront?.url || front.siteCheckUrl;
  const frontUrl = (p: string) => {
    if (!frontBase()) throw failure('ConfigMissing', 'DROVER_FRONT_URL or DROVER_SITE_CHECK_URL: the front\'s address is needed to install and check a created site');
    return new URL(p, frontBase()).toString();
  };

  return {
    /**
     * `docker stack deploy` of stacks/wordpress.yml as the site's stack (the same deploy again changes nothing):
     * placement on workers by label, Traefik's routing labels, the health check, the site's user and secret.
     */
    async deploySiteService(input: SiteServiceInput): Promise<{ stack: string; services: string[] }> {
      const compose = readFileSync(path.join(droverRoot(), 'stacks/wordpress.yml'), 'utf8');
      const target = { host: input.manager.ip, port: input.manager.sshPort, username: 'root' };
      const opts = { ...ssh.options, pinnedHostKeys: [input.manager.hostKey] };
      const deploy = { name: input.stack, compose, overrides: siteStackOverrides(input), env: siteStackEnv(input, sites), resolveImage: input.resolveImage ?? 'always' } as const;
      await withHeartbeat(() => ({ stack: input.stack }), () => withSsh(target, opts, (c) => runStackDeploy(c, deploy, input.manager.name), cancellationSignal()));
      faultPoint('site-create-after-service');
      const services = await onManager(input.manager, (d) => stackServices(d, input.stack));
      return { stack: input.stack, services: services.map((s) => s.Spec.Name).sort() };
    },

    /**
     * Restarts the site's `wordpress` tasks (a forced service update) and waits until one task started after it runs
     * and no older one is left: a task bind-mounts its docroot by inode, so after a restore swapped the docroot
     * folder (renames) a running task would still serve the folder moved aside, then deleted.
     */
    async restartSiteService(input: { manager: NodeAddress; stack: string; timeoutMs?: number }): Promise<{ restarted: string }> {
      if (!/^site-[a-z0-9-]{1,35}$/.test(input.stack)) throw failure('InvalidInput', `stack: ${input.stack} is not a site stack`);
      const deadline = Date.now() + (input.timeoutMs ?? 300_000);
      const name = `${input.stack}_wordpress`;
      return onManager(input.manager, async (d) => {
        const svc = d.getService(name);
        const info = (await svc.inspect()) as { Version: { Index: number }; Spec: { TaskTemplate: { ForceUpdate?: number } } & Record<string, unknown> };
        // The tasks before the update, by ID (not by time: the worker's clock is not the manager's).
        // Counted as `docker service ls` counts (lib/swarm-running.ts): a task left on a dead node is not waited for.
        type Task = { ID: string; NodeID?: string; Status: { State: string } };
        const running = async () => tasksOnLiveNodes((await d.listTasks({ filters: { service: [name], 'desired-state': ['running'] } })) as Task[], (await d.listNodes()) as SwarmNodeLike[]);
        const before = new Set((await running()).map((t) => t.ID));
        await svc.update({ version: info.Version.Index, ...info.Spec, TaskTemplate: { ...info.Spec.TaskTemplate, ForceUpdate: (info.Spec.TaskTemplate.ForceUpdate ?? 0) + 1 } });
        for (;;) {
          const tasks = await running();
          const fresh = tasks.filter((t) => !before.has(t.ID));
          heartbeat({ stack: input.stack, tasks: tasks.map((t) => t.Status.State) });
          if (fresh.some((t) => t.Status.State === 'running') && fresh.length === tasks.length) return { restarted: name };
          if (Date.now() > deadline) throw failure('RemoteCommandFailed', `stack ${input.stack}: its restarted wordpress task is not running (tasks: ${tasks.map((t) => t.Status.State).join(', ') || 'none'})`);
          await sleep(1000);
        }
      });
    },

    /** Removes the site's stack and waits until none of its tasks runs any more (so its secret can go). Idempotent. */
    async removeSiteService(input: { manager: NodeAddress; stack: string; timeoutMs?: number }): Promise<{ removed: string[] }> {
      if (!/^site-[a-z0-9-]{1,35}$/.test(input.stack)) throw failure('InvalidInput', `stack: ${input.stack} is not a site stack`);
      const deadline = Date.now() + (input.timeoutMs ?? 300_000);
      return onManager(input.manager, async (d) => {
        const services = await stackServices(d, input.stack);
        for (const s of services) await d.getService(s.ID).remove().catch((err: { statusCode?: number }) => (err.statusCode === 404 ? undefined : Promise.reject(err)));
        for (;;) {
          const tasks = (await d.listTasks({ filters: { label: [`com.docker.stack.namespace=${input.stack}`] } })) as unknown[];
          heartbeat({ stack: input.stack, tasks: tasks.length });
          if (!tasks.length) break;
          if (Date.now() > deadline) throw failure('RemoteCommandFailed', `stack ${input.stack}: ${tasks.length} tasks still there after its services were removed`);
          await sleep(1000);
        }
        return { removed: services.map((s) => s.Spec.Name).sort() };
      });
    },

    /**
     * Where the front reaches the site: the swarm address of the node running its `wordpress` task and the port the
     * task publishes there (host mode: the local nodes have no routing mesh). Waits, heartbeating, for a running
     * task with a published port.
     */
    async siteServiceAddress(input: { manager: NodeAddress; stack: string; timeoutMs?: number }): Promise<{ node: string; address: string; port: number }> {
      const deadline = Date.now() + (input.timeoutMs ?? 300_000);
      return onManager(input.manager, async (d) => {
        for (;;) {
          const tasks = (await d.listTasks({ filters: { service: [`${input.stack}_wordpress`], 'desired-state': ['running'] } })) as { NodeID: string; Status: { State: string; PortStatus?: { Ports?: { PublishedPort?: number; TargetPort?: number }[] } } }[];
          // Not a task the manager still lists as running on a node that is down: the front would point at nothing.
          const t = runningTasks(tasks, (await d.listNodes()) as SwarmNodeLike[]).find((x) => x.Status.PortStatus?.Ports?.some((p) => p.TargetPort === 80 && p.PublishedPort));
          if (t) {
            const node = (await d.getNode(t.NodeID).inspect()) as { Description: { Hostname: string }; Status: { Addr: string } };
            const port = t.Status.PortStatus!.Ports!.find((p) => p.TargetPort === 80)!.PublishedPort!;
            return { node: node.Description.Hostname, address: node.Status.Addr, port };
          }
          heartbeat({ stack: input.stack, tasks: tasks.map((x) => x.Status.State) });
          if (Date.now() > deadline) throw failure('RemoteCommandFailed', `stack ${input.stack}: no running wordpress task publishing port 80 (tasks: ${tasks.map((x) => x.Status.State).join(', ') || 'none'}); does stacks/wordpress.yml publish it in host mode?`);
          await sleep(1000);
        }
      });
    },

    /**
     * The tasks of the sites' stacks that should be running, and where (`docker service ps` over the manager): per
     * stack, each task's service, node (hostname and swarm address), state and the port it publishes (host mode).
     * Three Docker calls however many stacks (`drover site list` asks for a whole farm's sites at once).
     */
    async siteServiceTasks(input: { manager: NodeAddress; stacks: string[] }): Promise<{ tasks: Record<string, SiteTask[]> }> {
      for (const st of input.stacks) if (!/^site-[a-z0-9-]{1,35}$/.test(st)) throw failure('InvalidInput', `stack: ${st} is not a site stack`);
      const wanted = new Set(input.stacks);
      return onManager(input.manager, async (d) => {
        const services = ((await d.listServices()) as { ID: string; Spec: { Name: string; Labels?: Record<string, string> } }[]).filter((s) => wanted.has(s.Spec.Labels?.['com.docker.stack.namespace'] ?? ''));
        const byId = new Map(services.map((s) => [s.ID, s]));
        const tasks = ((await d.listTasks({ filters: { 'desired-state': ['running'] } })) as { ServiceID: string; NodeID?: string; Status: { State: string; PortStatus?: { Ports?: { PublishedPort?: number; TargetPort?: number }[] } } }[]).filter((t) => byId.has(t.ServiceID));
        const listed = (await d.listNodes()) as (SwarmNodeLike & { Description?: { Hostname?: string }; Status: { Addr?: string } })[];
        const nodes = new Map(listed.map((n) => [n.ID, { node: n.Description?.Hostname ?? n.ID, address: n.Status.Addr ?? '' }]));
        // A task the manager still lists on a dead or removed node runs nowhere: reported as such, not as running
        // (one not yet placed on a node keeps its own state).
        const live = new Set(tasksOnLiveNodes(tasks, listed));
        const out: Record<string, SiteTask[]> = Object.fromEntries(input.stacks.map((st) => [st, []]));
        for (const t of tasks) {
          const svc = byId.get(t.ServiceID)!;
          const at = t.NodeID ? (nodes.get(t.NodeID) ?? { node: t.NodeID, address: '' }) : { node: '', address: '' };
          const port = t.Status.PortStatus?.Ports?.find((p) => p.TargetPort === 80)?.PublishedPort ?? null;
          out[svc.Spec.Labels!['com.docker.stack.namespace']].push({ service: svc.Spec.Name, node: at.node, address: at.address, state: !t.NodeID || live.has(t) ? t.Status.State : `${t.Status.State} (node down)`, port });
        }
        for (const list of Object.values(out)) list.sort((a, b) => a.service.localeCompare(b.service) || a.node.localeCompare(b.node));
        return { tasks: out };
      });
    },

    /**
     * Runs WordPress's installer through the front with the site's Host (tables, admin user, home and siteurl),
     * waiting, heartbeating, until the site answers at all. Already installed: nothing changes. The admin's
     * password is generated here and never kept: the admin sets one with "Lost your password?" (or wp-cli).
     */
    async installWordPress(input: { domain: string; title: string; adminEmail: string; timeoutMs?: number }): Promise<{ installed: boolean }> {
      const deadline = Date.now() + (input.timeoutMs ?? 300_000);
      const ask = (method: string, p: string, body?: string) =>
        requestWithHost(frontUrl(p), { method, host: input.domain, signal: cancellationSignal(), unavailable: 'SiteUnavailable', maxBody: 65_536, timeoutMs: 120_000, ...(body ? { body, headers: { 'Content-Type': 'application/x-www-form-urlencoded' } } : {}) });
      // Wait for PHP to answer the installer (the task starting, the front learning the backend). Step 1, not the
      // language page (step 0), which asks api.wordpress.org for translations and waits out its timeout offline.
      for (;;) {
        const r = await ask('GET', '/wp-admin/install.php?step=1').catch((err: Error) => ({ status: 0, body: err.message }));
        heartbeat({ waiting: r.status });
        if (r.status === 200) {
          if (/already installed/i.test(r.body)) return { installed: false };
          break;
        }
        if (Date.now() > deadline) throw failure('SiteUnavailable', `${input.domain}: the installer did not answer through the front within ${Math.round((input.timeoutMs ?? 300_000) / 1000)} s (last: ${r.status || r.body.slice(0, 200)})`);
        await sleep(2000);
      }
      const password = randomBytes(18).toString('base64url');
      const form = new URLSearchParams({ weblog_title: input.title, user_name: 'admin', admin_password: password, admin_password2: password, admin_email: input.adminEmail, blog_public: '0', language: '' });
      const r = await ask('POST', '/wp-admin/install.php?step=2', form.toString());
      if (r.status !== 200 || !/(Success!|already installed)/i.test(r.body)) {
        throw failure('RemoteCommandFailed', `${input.domain}: WordPress's installer answered ${r.status}: ${r.body.replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').split(password).join('********').slice(0, 300)}`);
      }
      faultPoint('site-create-after-install');
      return { installed: true };
    },

    /** The home page through the front with the site's Host: rendered by WordPress, and titled as given. */
    async checkSitePage(input: { domain: string; title?: string }): Promise<{ status: number; titled: boolean }> {
      const r = await requestWithHost(frontUrl('/'), { method: 'GET', host: input.domain, signal: cancellationSignal(), unavailable: 'SiteUnavailable', maxBody: 262_144, timeoutMs: 50_000 });
      if (r.status !== 200) throw failure('SiteUnavailable', `${input.domain} answers ${r.status} through ${frontBase()}`);
      const titled = input.title === undefined || r.body.includes(escapeHtml(input.title)) || r.body.includes(input.title);
      if (!titled) throw failure('SiteUnavailable', `${input.domain}: the home page does not show the title ${JSON.stringify(input.title)}`);
      return { status: r.status, titled };
    },

    /**
     * A migrated site's home page through the farm's front (its Host header): 200, the site's title, and nothing
     * (links, assets) still pointing at the old host, in any spelling the rewrite knows (plain, JSON-escaped,
     * URL-encoded). Fails MigrationVerificationFailed naming what is wrong.
     */
    async checkMigratedPage(input: { domain: string; title: string; fromUrl: string }): Promise<{ status: number; bytes: number; links: number }> {
      const r = await requestWithHost(frontUrl('/'), { method: 'GET', host: input.domain, signal: cancellationSignal(), unavailable: 'SiteUnavailable', maxBody: 1_048_576, timeoutMs: 50_000 });
      if (r.status !== 200) throw failure('MigrationVerificationFailed', `${input.domain} answers ${r.status} through ${frontBase()}: ${r.body.slice(0, 300)}`);
      if (!r.body.includes(escapeHtml(input.title)) && !r.body.includes(input.title)) throw failure('MigrationVerificationFailed', `${input.domain}: the home page does not show the site's title ${JSON.stringify(input.title)}`);
      const host = new URL(input.fromUrl).host;
      const left = [`//${host}`, `\\/\\/${host}`, `%2F%2F${host}`, `%2f%2f${host}`].filter((x) => r.body.includes(x));
      if (left.length) throw failure('MigrationVerificationFailed', `${input.domain}: the home page still refers to the old host (${left.join(', ')})`);
      return { status: r.status, bytes: Buffer.byteLength(r.body), links: (r.body.match(/(?:href|src)=/g) ?? []).length };
    },
  };
}

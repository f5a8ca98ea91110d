/**
 * The production stacks, checked by Docker itself: every file passes `docker stack config` with the variables
 * of configs/env.example, and all of them deploy (`docker stack deploy`, as operators run it) on a real local
 * swarm brought up by clusterBringUpWorkflow with the plan's nine encrypted overlays. Five namespace nodes are
 * labelled like the plan's first manager, cache, database, monitoring and worker nodes (no storage node, and only
 * ordinal 1 of each role), so some constraints resolve and some cannot.
 *
 * Asserted: every service of every stack is created; its secrets, configs and networks exist and are attached;
 * every task the scheduler placed sits on a node whose labels satisfy the service's constraints (global services
 * on each such node); a service no node satisfies is never placed and reports "no suitable node".
 * No image can be pulled here, so tasks are placed and then rejected for their image: this test proves
 * placement, not the images' behaviour.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { createLocalNodeActivities } from '../../activities/local-nodes';
import { createSwarmNodeActivities } from '../../activities/swarm-nodes';
import { loadStackBundle, StackBundleError } from '../../lib/stack-bundle';
import { localNodeDockerSocket } from '../../lib/local-node-paths';
import { loadPlan } from '../../lib/plan/load';
import { clusterBringUpWorkflow } from '../../workflows/cluster-bring-up';
import { clusterTeardownWorkflow } from '../../workflows/cluster-teardown';
import { ROOT, TEST_STATE_DIR } from '../helpers/paths';
import { freeSubnet } from '../helpers/subnet';
import { useRunningWorker } from '../helpers/temporal';

const exec = promisify(execFile);
const NODES_DIR = path.join(TEST_STATE_DIR, 'nodes');
const ctx = useRunningWorker('stacks', (d) => ({ ...d, localNodes: { dir: NODES_DIR } }));

/** configs/env.example's values; the empty ones (secrets kept elsewhere) get a placeholder. */
function exampleEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(path.join(ROOT, 'configs/env.example'), 'utf8').split('\n')) {
    const m = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(line);
    if (m) env[m[1]] = m[2] || 'unset-in-example';
  }
  return env;
}
const PATH_ONLY = { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: process.env.HOME ?? '/root' };
const STACKS = [...loadPlan().stacks.map((s) => ({ name: s.name, file: s.file })), { name: 'site-example-com', file: 'stacks/wordpress.yml' }];

describe('docker stack config', () => {
  it.each(STACKS.map((s) => [s.file, s.name]))('%s passes with the variables of configs/env.example', async (file) => {
    const { stdout } = await exec('docker', ['stack', 'config', '-c', path.join(ROOT, file)], { env: { ...PATH_ONLY, ...exampleEnv(), DOCKER_HOST: 'unix:///nonexistent' } });
    const cfg = parse(stdout);
    expect(Object.keys(cfg.services).length).toBeGreaterThan(0);
    // Every service is placed by label (global agents like node-exporter excepted) and has resource limits.
    for (const [name, svc] of Object.entries<{ deploy: { placement?: { constraints?: string[] }; mode?: string; resources?: { limits?: unknown } } }>(cfg.services)) {
      if (svc.deploy.mode !== 'global' || svc.deploy.placement) expect(svc.deploy.placement?.constraints?.join(' '), `${file} ${name}`).toMatch(/node\.(labels\.role|role) == /);
      expect(svc.deploy.resources?.limits, `${file} ${name}`).toBeDefined();
    }
  });

  it('a required variable left unset is refused, naming it', async () => {
    const env = { ...PATH_ONLY, ...exampleEnv(), DOCKER_HOST: 'unix:///nonexistent' } as Record<string, string>;
    delete env.FARM_DOMAIN;
    await expect(exec('docker', ['stack', 'config', '-c', path.join(ROOT, 'stacks/traefik.yml')], { env })).rejects.toMatchObject({ stderr: expect.stringContaining('FARM_DOMAIN') });
  });

  it('a stack bundle names a missing required variable and a missing config file', () => {
    const env = exampleEnv();
    delete env.ACME_EMAIL;
    expect(() => loadStackBundle(path.join(ROOT, 'stacks/traefik.yml'), 'traefik', [], env, 'stacks[0].file')).toThrow(StackBundleError);
    expect(() => loadStackBundle(path.join(ROOT, 'stacks/traefik.yml'), 'traefik', [], env, 'stacks[0].file')).toThrow(/needs ACME_EMAIL/);
    expect(() => loadStackBundle(path.join(ROOT, 'stacks/nope.yml'), 'nope', [], env, 'stacks[9].file')).toThrow(/cannot read/);
  });

  it('every stack file is in the plan or is the per-site template', () => {
    const files = readdirSync(path.join(ROOT, 'stacks')).filter((f) => f.endsWith('.yml') && f !== 'smoke.yml');
    expect(files.sort()).toEqual(STACKS.map((s) => path.basename(s.file)).sort());
  });
});

// ---- deployment on a real local swarm ----

type Labels = Record<string, string>;
interface SwarmNode { ID: string; Spec: { Labels: Labels; Role: string }; Description: { Hostname: string } }
interface SwarmService { ID: string; Spec: { Name: string; Labels: Labels; Mode: { Global?: object }; TaskTemplate: { Placement?: { Constraints?: string[] }; ContainerSpec: { Secrets?: { SecretName: string }[]; Configs?: { ConfigName: string }[] }; Networks?: { Target: string }[] } } }
interface SwarmTask { ServiceID: string; NodeID?: string; Status: { State: string; Err?: string; Message?: string } }

/** Swarm's constraint language for what the stacks use: node.role and node.labels.X, with == and !=. */
function satisfies(node: SwarmNode, constraints: string[]): boolean {
  return constraints.every((c) => {
    const m = /^\s*(node\.role|node\.labels\.([\w.-]+))\s*(==|!=)\s*(\S+)\s*$/.exec(c);
    if (!m) throw new Error(`constraint the test does not understand: ${c}`);
    const actual = m[1] === 'node.role' ? node.Spec.Role : node.Spec.Labels[m[2]];
    return m[3] === '==' ? actual === m[4] : actual !== m[4];
  });
}

describe('the stacks deploy on a local swarm', () => {
  const farm = `s${ctx.taskQueue.slice(-6)}`;
  const manager = `${farm}-manager-01`;
  let sock = '';
  const docker = (args: string[], env: Record<string, string> = {}) =>
    exec('docker', ['-H', `unix://${sock}`, ...args], { env: { ...PATH_ONLY, ...env }, maxBuffer: 64 << 20, cwd: ROOT });
  const inspect = async <T,>(kind: 'node' | 'service' | 'secret' | 'config' | 'network', ids: string[]): Promise<T[]> => (ids.length ? JSON.parse((await docker([kind, 'inspect', ...ids])).stdout) : []);
  const ls = async (kind: string, extra: string[] = []) => (await docker([kind, 'ls', '-q', ...extra])).stdout.split('\n').filter(Boolean);

  async function removeLeftovers(): Promise<void> {
    const acts = createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } });
    for (const f of existsSync(NODES_DIR) ? readdirSync(NODES_DIR).filter((d) => /^s[0-9a-f-]{6}$/.test(d)) : []) await new MockActivityEnvironment().run(acts.destroyLocalFarm, { farm: f });
  }
  beforeAll(removeLeftovers, 300_000);
  afterAll(async () => {
    await ctx.tw.client.workflow.execute(clusterTeardownWorkflow, { workflowId: `teardown/${farm}`, taskQueue: ctx.taskQueue, args: [{ provider: 'local', farm }] }).catch(() => undefined);
    await removeLeftovers();
  }, 300_000);

  it('creates every service with its secrets, configs and networks; places tasks only on nodes whose labels satisfy the constraints', async () => {
    const plan = loadPlan();
    await ctx.tw.client.workflow.execute(clusterBringUpWorkflow, {
      workflowId: `bringup/${farm}`,
      taskQueue: ctx.taskQueue,
      args: [{ provider: 'local', farm, nodes: 5, subnet: freeSubnet(234), networks: plan.networks, stacks: [], images: [] }],
    });
    sock = localNodeDockerSocket(path.join(NODES_DIR, farm, manager));

    // Label four workers like the plan's first node of each role (the manager is already role=manager, ordinal=1).
    const roles = ['cache', 'database', 'monitoring', 'worker'];
    for (const [i, role] of roles.entries()) await docker(['node', 'update', '--label-add', `role=${role}`, '--label-add', 'ordinal=1', `${farm}-worker-0${i + 1}`]);

    // Every secret the stacks name, with random content (operators create them with `docker secret create`).
    const env = exampleEnv();
    const secrets = new Set<string>();
    // A secret's name is its key unless it names itself (the site's own, `site-${SITE_ID}-db-password`).
    for (const s of STACKS) {
      for (const [key, spec] of Object.entries<{ name?: string }>(parse(readFileSync(path.join(ROOT, s.file), 'utf8')).secrets ?? {})) {
        secrets.add((spec.name ?? key).replace(/\$\{([A-Z0-9_]+)\}/g, (_m, v: string) => env[v]));
      }
    }
    for (const name of secrets) {
      const child = execFile('docker', ['-H', `unix://${sock}`, 'secret', 'create', name, '-'], { env: PATH_ONLY });
      child.stdin!.end(randomBytes(24).toString('base64'));
      await new Promise((res, rej) => child.on('close', (code) => (code === 0 ? res(code) : rej(new Error(`secret create ${name}: ${code}`)))));
    }

    // Deployed the way `drover up` deploys them: each stack bundled with its config files and variables
    // (lib/stack-bundle.ts), written to the manager over SSH and deployed there, in the plan's order, then one
    // site from the template. Re-deploying an unchanged stack is accepted (no error, nothing new).
    const acts = createSwarmNodeActivities({ ssh: ctx.deps.ssh });
    const described = (await new MockActivityEnvironment().run(createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } }).describeLocalFarm, { farm })) as { nodes: { name: string; ip: string; sshPort: number; hostKey: string; dockerSocket: string }[] };
    const managerAddress = described.nodes.find((n) => n.name === manager)!;
    const bundles = STACKS.map((s) => loadStackBundle(path.join(ROOT, s.file), s.name, [], env, s.name));
    expect(bundles.find((b) => b.name === 'cache')?.files?.['../configs/varnish/default.vcl']).toBe(readFileSync(path.join(ROOT, 'configs/varnish/default.vcl'), 'utf8'));
    for (const b of bundles) await new MockActivityEnvironment().run(acts.deployStack, { manager: managerAddress, name: b.name, compose: b.compose, files: b.files, env: b.env, resolveImage: 'never' as const });
    const before = await ls('service');
    await new MockActivityEnvironment().run(acts.deployStack, { manager: managerAddress, ...bundles[0], resolveImage: 'never' as const });
    expect((await ls('service')).sort()).toEqual(before.sort());

    const nodes = await inspect<SwarmNode>('node', await ls('node'));
    expect(nodes.map((n) => `${n.Description.Hostname} ${n.Spec.Labels.role}`).sort()).toEqual(
      [`${manager} manager`, ...roles.map((r, i) => `${farm}-worker-0${i + 1} ${r}`)].sort(),
    );
    const services = await inspect<SwarmService>('service', await ls('service'));
    // Every service of every stack exists.
    for (const s of STACKS) {
      const { stdout } = await exec('docker', ['stack', 'config', '-c', s.file], { cwd: ROOT, env: { ...PATH_ONLY, ...env, DOCKER_HOST: 'unix:///nonexistent' } });
      const want = Object.keys(parse(stdout).services).map((n) => `${s.name}_${n}`);
      expect(services.map((x) => x.Spec.Name).filter((n) => n.startsWith(`${s.name}_`)).sort(), s.name).toEqual(want.sort());
    }
    // Secrets, configs (created from the repository's files) and the plan's overlays are attached.
    const secretNames = new Set((await inspect<{ Spec: { Name: string } }>('secret', await ls('secret'))).map((x) => x.Spec.Name));
    const configNames = new Set((await inspect<{ Spec: { Name: string } }>('config', await ls('config'))).map((x) => x.Spec.Name));
    const networks = await inspect<{ Id: string; Name: string; Options: Labels; Driver: string }>('network', await ls('network', ['--filter', 'driver=overlay']));
    const networkById = new Map(networks.map((n) => [n.Id, n]));
    for (const svc of services) {
      for (const sec of svc.Spec.TaskTemplate.ContainerSpec.Secrets ?? []) expect(secretNames.has(sec.SecretName), `${svc.Spec.Name} secret ${sec.SecretName}`).toBe(true);
      for (const cfg of svc.Spec.TaskTemplate.ContainerSpec.Configs ?? []) expect(configNames.has(cfg.ConfigName), `${svc.Spec.Name} config ${cfg.ConfigName}`).toBe(true);
      const attached = (svc.Spec.TaskTemplate.Networks ?? []).map((n) => networkById.get(n.Target));
      expect(attached.length, svc.Spec.Name).toBeGreaterThan(0);
      for (const n of attached) {
        expect(n, svc.Spec.Name).toBeDefined();
        expect(plan.networks.map((p) => p.name)).toContain(n!.Name);
        expect(n!.Options.encrypted, `${n!.Name} is encrypted`).toBeDefined();
      }
    }
    expect(configNames).toContain('cache_varnish_vcl');
    expect(configNames).toContain('monitoring_prometheus_yml');

    // Placement: wait until the scheduler has decided for every service, then check each decision.
    const eligible = (svc: SwarmService) => nodes.filter((n) => satisfies(n, svc.Spec.TaskTemplate.Placement?.Constraints ?? []));
    let tasks: SwarmTask[] = [];
    const undecided = () =>
      services.filter((svc) => {
        const mine = tasks.filter((t) => t.ServiceID === svc.ID);
        if (eligible(svc).length === 0) return !mine.some((t) => /no suitable node/.test(`${t.Status.Err ?? ''}`));
        return svc.Spec.Mode.Global ? new Set(mine.map((t) => t.NodeID)).size < eligible(svc).length : !mine.some((t) => t.NodeID);
      });
    for (let i = 0; i < 90; i++) {
      const ids = (await docker(['service', 'ps', '-q', '--no-trunc', ...services.map((s) => s.ID)])).stdout.split('\n').filter(Boolean);
      // Tasks that cannot start (no image can be pulled here) are retried and the oldest pruned: one listed a moment
      // ago may be gone when inspected. Look again then.
      const listed = ids.length ? await docker(['inspect', '--type', 'task', ...ids]).catch((err: { stderr?: string }) => (/task \S+ not found/.test(err.stderr ?? '') ? null : Promise.reject(err))) : { stdout: '[]' };
      if (listed) {
        tasks = JSON.parse(listed.stdout);
        if (undecided().length === 0) break;
      }
      await new Promise((r) => setTimeout(r, 2000));
    }
    expect(undecided().map((s) => s.Spec.Name)).toEqual([]);

    let placed = 0;
    let unplaceable = 0;
    for (const svc of services) {
      const ok = new Set(eligible(svc).map((n) => n.ID));
      for (const t of tasks.filter((x) => x.ServiceID === svc.ID && x.NodeID)) {
        expect(ok.has(t.NodeID!), `${svc.Spec.Name} placed on ${nodes.find((n) => n.ID === t.NodeID)?.Description.Hostname}`).toBe(true);
        placed++;
      }
      if (ok.size === 0) unplaceable++;
    }
    // Both kinds occur: the check can tell a resolved constraint from an unresolvable one.
    expect(placed).toBeGreaterThan(20);
    expect(unplaceable).toBeGreaterThan(3);
    // Spot checks in words: Galera's first node on the database node, its second nowhere (no ordinal 2 here),
    // the per-site service on the worker, Traefik on the manager, a node-exporter on every node.
    const on = (name: string) => [...new Set(tasks.filter((t) => t.ServiceID === services.find((s) => s.Spec.Name === name)!.ID && t.NodeID).map((t) => nodes.find((n) => n.ID === t.NodeID)!.Description.Hostname))].sort();
    expect(on('database_galera-1')).toEqual([`${farm}-worker-02`]);
    expect(on('database_galera-2')).toEqual([]);
    expect(on('site-example-com_wordpress')).toEqual([`${farm}-worker-04`]);
    expect(on('traefik_traefik')).toEqual([manager]);
    expect(on('monitoring_node-exporter')).toEqual(nodes.map((n) => n.Description.Hostname).sort());
    expect(on('contractor_filebrowser')).toEqual([]);
  });

  it("a manager whose dockerd stops answering: the stack's deploy and the node's bootstrap fail DockerUnavailable within their bounds, naming it, and go through once it answers again", async () => {
    const acts = createSwarmNodeActivities({ ssh: ctx.deps.ssh });
    const described = (await new MockActivityEnvironment().run(createLocalNodeActivities({ ssh: ctx.deps.ssh, localNodes: { dir: NODES_DIR } }).describeLocalFarm, { farm })) as { nodes: { name: string; ip: string; sshPort: number; hostKey: string; dockerSocket: string }[] };
    const managerAddress = described.nodes.find((n) => n.name === manager)!;
    const bundle = loadStackBundle(path.join(ROOT, STACKS[0].file), STACKS[0].name, [], exampleEnv(), STACKS[0].name);
    const deploy = { manager: managerAddress, ...bundle, resolveImage: 'never' as const };
    // The manager's dockerd stopped (SIGSTOP): its socket still takes connections, and nothing answers on them.
    const dockerd = Number(readFileSync(path.join(NODES_DIR, farm, manager, 'dockerd.pid'), 'utf8').trim());
    process.kill(dockerd, 'SIGSTOP');
    try {
      let started = Date.now();
      await expect(new MockActivityEnvironment().run(acts.deployStack, { ...deploy, boundSeconds: 3 })).rejects.toMatchObject({
        type: 'DockerUnavailable',
        message: expect.stringMatching(new RegExp(`docker stack deploy of ${bundle.name} on ${manager} did not finish within 3 s`)),
      });
      expect(Date.now() - started).toBeLessThan(30_000);
      started = Date.now();
      await expect(new MockActivityEnvironment().run(acts.bootstrapNode, { node: managerAddress, bounds: { startSeconds: 4, callSeconds: 1 } })).rejects.toMatchObject({
        type: 'DockerUnavailable',
        message: expect.stringMatching(new RegExp(`^Docker on ${manager}: dockerd did not answer within 4 s \\(each call bounded to 1 s\\)`)),
      });
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      process.kill(dockerd, 'SIGCONT');
    }
    // Answering again: the bootstrap finds it running (nothing started), and the deploy goes through.
    const again = (await new MockActivityEnvironment().run(acts.bootstrapNode, { node: managerAddress })) as { changed: boolean };
    expect(again.changed).toBe(false);
    await new MockActivityEnvironment().run(acts.deployStack, deploy);
  });
});

/**
 * `drover up | down | provision`: cluster bring-up and teardown. `up --provider local` forms a real swarm of
 * network-namespace nodes on this machine (root); `provision` provisions a plan on DigitalOcean (or the emulator
 * DROVER_DO_API_URL points at); `down` removes only what carries the farm's mark, after confirmation.
 */
import { runWorkflow } from '../run-workflow';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import { z } from 'zod';
import { buildLocalImageTar, LOCAL_IMAGE } from '../../devkit/local-image';
import { droverRoot } from '../../lib/version';
import { loadStackBundle, StackBundleError, type StackBundle } from '../../lib/stack-bundle';
import { READ_ONLY_RUN_TIMEOUT_SECONDS, workflowIds } from '../../lib/contract/ids';
import { clusterBringUpWorkflow, clusterTeardownWorkflow, type ClusterBringUpInput, type ClusterBringUpResult } from '../../workflows';
import { clusterHealthWorkflow } from '../../workflows/cluster-health';
import { clusterScaleWorkflow, type ClusterScaleResult } from '../../workflows/cluster-scale';
import { provisionFarmWorkflow } from '../../workflows/provision-farm';
import { action, globals, parseOptions, UsageError, workflowInputRefusal } from '../output';
import { webUiLink, withTemporal } from '../temporal';
import { readPlanOption } from './plan';
import type { FarmPlan } from '../../lib/plan/schema';
import { plannedNodes } from '../../lib/plan/nodes';
import { farmSearchAttributes } from '../../lib/contract/search-attributes';

const collect = (v: string, prev: string[] = []) => [...prev, v];
const farmName = z.string().regex(/^[a-z][a-z0-9-]{0,20}$/, 'lower-case letters, digits and -, starting with a letter, at most 21');

export function formatBringUp(r: ClusterBringUpResult): string {
  return [
    `cluster ${r.farm}: ${r.report.nodes.length} nodes, ${r.report.networks.length} overlay networks, ${r.report.services.length} services`,
    ...r.report.nodes.map((n) => `  ${n.hostname.padEnd(22)} ${n.role.padEnd(8)} ${n.state.padEnd(6)} ${Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(' ')}`),
    `  networks: ${r.report.networks.map((n) => `${n.name}${n.encrypted ? ' (encrypted)' : ''}`).join(', ')}`,
    ...r.stacks.flatMap((s) => s.services.map((x) => `  stack ${s.name}: ${x.name} ${x.running}/${x.desired} on ${x.nodes.join(', ')}`)),
    `  created this run: ${r.created.nodes} nodes, swarm ${r.created.swarm ? 'initialised' : 'existing'}, ${r.created.joined} joined, ${r.created.networks} networks, ${r.created.images} image imports`,
  ].join('\n');
}

/** A --stack name=file, bundled with its config files and variables (stacks given on the command line are deployed together). */
function readStack(s: string): StackBundle {
  const [name, file] = [s.slice(0, s.indexOf('=')), s.slice(s.indexOf('=') + 1)];
  return bundle(file, name, [], '--stack');
}

function bundle(file: string, name: string, dependsOn: string[], field: string): StackBundle {
  try {
    return loadStackBundle(file, name, dependsOn, process.env, field);
  } catch (err) {
    if (err instanceof StackBundleError) throw new UsageError(err.field, err.message);
    throw err;
  }
}

/** What a bring-up or a scale needs besides the node count: the plan's networks, the stacks, the local image. */
export async function clusterInputs(stateDir: string, o: { farm: string; subnet: string; plan?: string; stack?: string[]; rollbackOnFailure?: boolean }) {
  const plan = readPlanOption(o.plan);
  const stacks = (o.stack ?? [`smoke=${path.join(droverRoot(), 'stacks/smoke.yml')}`]).map((s) => readStack(s));
  const tarPath = await buildLocalImageTar(path.resolve(stateDir, 'images'));
  return { provider: 'local' as const, farm: o.farm, subnet: o.subnet, networks: plan.networks, stacks, images: [{ image: LOCAL_IMAGE, tarPath }], rollbackOnFailure: o.rollbackOnFailure };
}

const subnet = z.string().regex(/^10\.\d{1,3}\.\d{1,3}\.0\/24$/, 'a private /24 such as 10.231.0.0/24');

/** The stacks a DigitalOcean bring-up deploys: --stack if given, else the plan's, in its dependency order. */
function planStacks(plan: FarmPlan, given?: string[]) {
  if (given) return given.map((s) => readStack(s));
  return plan.stacks.map((s, i) => bundle(path.resolve(droverRoot(), s.file), s.name, s.dependsOn, `stacks[${i}].file`));
}

export function upCommand(): Command {
  return new Command('up')
    .description('bring a cluster up: nodes, SSH bootstrap, swarm, labels, encrypted overlays, stacks, health report')
    .option('--provider <name>', 'local (network namespaces on this machine, needs root) or digitalocean (the plan\'s droplets)', 'local')
    .option('--nodes <n>', 'local provider: nodes (the first is the manager, the rest workers)', '4')
    .option('--farm <name>', 'local provider: the cluster\'s name (prefix of node names, its tag); on DigitalOcean the plan\'s name', 'local')
    .option('--subnet <cidr>', 'local provider: the nodes\' subnet (a /24)', '10.230.0.0/24')
    .option('--plan <file>', 'the plan (default configs/plans/farm.yml): its overlay networks; on DigitalOcean also its droplets and stacks')
    .option('--image <slug>', 'digitalocean: droplet image', 'debian-12-x64')
    .option('--stack <name=file>', 'a stack to deploy (repeatable; default: local smoke=stacks/smoke.yml, DigitalOcean the plan\'s stacks)', collect)
    .option('--rollback-on-failure', 'remove the nodes again when a step fails (default: keep them, re-run resumes)')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(
          z.object({
            provider: z.enum(['local', 'digitalocean']),
            nodes: z.coerce.number().int().min(2, 'at least 2 (a manager and a worker)').max(16),
            farm: farmName,
            subnet,
            plan: z.string().optional(),
            image: z.string().regex(/^[a-z0-9.-]+$/, 'an image slug'),
            stack: z.array(z.string().regex(/^[a-z][a-z0-9-]*=.+$/, 'name=file')).optional(),
            rollbackOnFailure: z.boolean().optional(),
            worker: z.boolean().optional(),
          }),
          raw,
        );
        let input: ClusterBringUpInput;
        let farm = o.farm;
        if (o.provider === 'local') {
          input = { ...(await clusterInputs(g.stateDir, o)), nodes: o.nodes };
        } else {
          const plan = readPlanOption(o.plan);
          if (cmd.getOptionValueSource('farm') === 'cli' && o.farm !== plan.name) throw new UsageError('--farm', `on DigitalOcean the farm is the plan's name (${plan.name}), not ${o.farm}`);
          farm = plan.name;
          input = { provider: 'digitalocean', farm, plan, image: o.image, networks: plan.networks, stacks: planStacks(plan, o.stack), images: [], rollbackOnFailure: o.rollbackOnFailure };
        }
        const workflowId = workflowIds.bringUp(farm);
        return withTemporal(g.stateDir, async (client) => {
          const r = await runWorkflow(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(o.worker), workflow: clusterBringUpWorkflow, workflowId, searchAttributes: farmSearchAttributes(farm, 'bring-up'), args: [input] }).catch((err: unknown) => {
            // A subnet another farm holds is refused before any node of this one exists.
            throw workflowInputRefusal(err, { subnet: '--subnet' }) ?? err;
          });
          return { ok: true, data: { workflowId, webUi: webUiLink(g.stateDir, workflowId), result: r }, text: formatBringUp(r) };
        });
      }),
    );
}

export function downCommand(): Command {
  return new Command('down')
    .description('tear a cluster down: only what carries the farm\'s mark; asks for --yes')
    .option('--provider <name>', 'local or digitalocean', 'local')
    .option('--farm <name>', 'the cluster\'s name', 'local')
    .option('--yes', 'confirm: really remove it')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(z.object({ provider: z.enum(['local', 'digitalocean']), farm: farmName, yes: z.boolean().optional(), worker: z.boolean().optional() }), raw);
        if (!o.yes) throw new UsageError('--yes', `this removes every node of farm ${o.farm} (${o.provider}); run again with --yes to confirm`);
        const workflowId = workflowIds.teardown(o.provider, o.farm);
        const r = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(o.worker), workflow: clusterTeardownWorkflow, workflowId, searchAttributes: farmSearchAttributes(o.farm, 'teardown'), args: [{ provider: o.provider, farm: o.farm }] }),
        );
        return { ok: true, data: { workflowId, ...r }, text: r.removed.length ? `removed from ${o.farm}: ${r.removed.join(', ')}` : `nothing of ${o.farm} was left` };
      }),
    );
}

export function provisionCommand(): Command {
  return new Command('provision')
    .description('provision a plan on DigitalOcean: VPC, droplets in parallel, volumes, firewall, load balancer, reserved IPs')
    .option('--plan <file>', 'the plan (default configs/plans/farm.yml)')
    .option('--image <slug>', 'droplet image', 'debian-12-x64')
    .option('--ssh-public-key <file>', 'the bootstrap public key put on every droplet')
    .option('--rollback-on-failure', 'delete what this run created when a step fails (default: keep it, re-run resumes)')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(z.object({ plan: z.string().optional(), image: z.string().regex(/^[a-z0-9.-]+$/, 'an image slug'), sshPublicKey: z.string(), rollbackOnFailure: z.boolean().optional(), worker: z.boolean().optional() }), raw);
        const plan = readPlanOption(o.plan);
        let key: string;
        try {
          key = readFileSync(o.sshPublicKey, 'utf8').trim();
        } catch (err) {
          throw new UsageError('--ssh-public-key', `cannot read ${o.sshPublicKey}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-\S+) \S+/.test(key)) throw new UsageError('--ssh-public-key', `${o.sshPublicKey} is not an OpenSSH public key`);
        const workflowId = workflowIds.provision(plan.name);
        return withTemporal(g.stateDir, async (client) => {
          const r = await runWorkflow(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(o.worker), workflow: provisionFarmWorkflow, workflowId, searchAttributes: farmSearchAttributes(plan.name, 'provision'), args: [{ plan, nodes: plannedNodes(plan), image: o.image, sshPublicKey: key, rollbackOnFailure: o.rollbackOnFailure }] });
          return { ok: true, data: { workflowId, result: r }, text: `farm ${r.farm}: ${r.nodes.length} droplets active (${r.created.droplets} created now), ${r.created.volumes} volumes created, load balancer ${r.loadBalancerId ?? '-'}, reserved IPs ${r.reservedIps.join(', ') || '-'}` };
        });
      }),
    );
}

/**
 * The farm a health check or a scaling looks up first: not found, it is the operator's --farm (exit 2, nothing
 * changed); a scaling also refuses its delta (removing every worker) before any change.
 */
const FARM_FLAG = { farm: '--farm' };

function formatScale(r: ClusterScaleResult): string {
  return [
    `workers scaled: ${r.before} → ${r.after} nodes${r.added.length ? `; added ${r.added.join(', ')}` : ''}${r.removed.length ? `; removed ${r.removed.join(', ')}` : ''}`,
    ...Object.entries(r.moved).map(([s, n]) => `  ${s}: ${n} task(s) started elsewhere before draining`),
    ...r.report.services.map((s) => `  ${s.name} ${s.running}/${s.desired}`),
  ].join('\n');
}

export function scaleCommand(): Command {
  const scale = new Command('scale').description('change the cluster\'s size');
  scale
    .command('workers')
    .description('add workers (+N: the bring-up steps for the new nodes) or remove them (-N: drained first, no site loses its running task)')
    .argument('<delta>', '+N or -N')
    .option('--farm <name>', 'the cluster\'s name', 'local')
    .option('--subnet <cidr>', 'the nodes\' subnet (as given to up)', '10.230.0.0/24')
    .option('--plan <file>', 'the plan whose overlay networks new nodes get')
    .option('--stack <name=file>', 'stacks to keep deployed (repeatable; default smoke=stacks/smoke.yml)', collect)
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (raw, cmd, [deltaArg]) => {
        const g = globals(cmd);
        const delta = parseOptions(z.object({ delta: z.string().regex(/^[+-][1-9]\d?$/, 'a change such as +2 or -1').transform(Number) }), { delta: deltaArg }, () => 'delta').delta;
        const o = parseOptions(z.object({ farm: farmName, subnet, plan: z.string().optional(), stack: z.array(z.string().regex(/^[a-z][a-z0-9-]*=.+$/, 'name=file')).optional(), worker: z.boolean().optional() }), raw);
        const common = await clusterInputs(g.stateDir, o);
        const workflowId = workflowIds.scale(o.farm, delta);
        const r = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(o.worker), workflow: clusterScaleWorkflow, workflowId, searchAttributes: farmSearchAttributes(common.farm, 'scale'), args: [{ ...common, delta }] }),
        ).catch((err: unknown) => {
          throw workflowInputRefusal(err, { ...FARM_FLAG, delta: 'delta' }) ?? err;
        });
        return { ok: true, data: { workflowId, result: r }, text: formatScale(r) };
      }),
    );
  return scale;
}

export function statusCommand(): Command {
  return new Command('status')
    .description('cluster health: nodes ready and labelled, services at desired replicas, Galera size and Synced, Redis master known to Sentinel, Varnish hit ratio (exit 1 when unhealthy)')
    .option('--provider <name>', 'local or digitalocean', 'local')
    .option('--farm <name>', 'the cluster\'s name', 'local')
    .option('--timeout <seconds>', 'give up (and end the health workflow) after this long', String(READ_ONLY_RUN_TIMEOUT_SECONDS))
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const o = parseOptions(z.object({ provider: z.enum(['local', 'digitalocean']), farm: farmName, timeout: z.coerce.number().int().min(5).max(3600), worker: z.boolean().optional() }), raw);
        const workflowId = workflowIds.health(o.farm, new Date());
        const r = await withTemporal(g.stateDir, (client) =>
          runWorkflow(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(o.worker), workflow: clusterHealthWorkflow, workflowId, searchAttributes: farmSearchAttributes(o.farm, 'health'), executionTimeoutMs: o.timeout * 1000, args: [{ provider: o.provider, farm: o.farm }] }),
        ).catch((err: unknown) => {
          throw workflowInputRefusal(err, FARM_FLAG, { suffix: ` (provider ${o.provider})` }) ?? err;
        });
        return { ok: r.healthy, data: { workflowId, ...r }, text: [`cluster ${r.farm}: ${r.healthy ? 'HEALTHY' : 'UNHEALTHY'}`, ...r.checks.map((c) => `  ${c.skipped ? 'skip' : c.ok ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(30)} ${c.detail}`)].join('\n') };
      }),
    );
}

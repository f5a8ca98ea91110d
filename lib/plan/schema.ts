/**
 * The farm plan: a YAML file validated here, field by field, before anything is created. Shape errors come from
 * zod; the rules that span fields (an odd number of managers, subnets that overlap, a stack depending on one that
 * does not exist, a size with no price) are checked after, and every error names its field path
 * (`pools[0].count`, `networks[3].subnet`).
 */
import { z } from 'zod';
import { DROPLET_PRICES } from './prices';

export const ROLES = ['manager', 'cache', 'worker', 'database', 'storage', 'monitoring'] as const;
export type Role = (typeof ROLES)[number];

const name = z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/, 'lower-case letters, digits and -, at most 63');
const cidr = z.string().regex(/^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/, 'an IPv4 CIDR such as 10.0.0.0/24');
const source = z.union([z.enum(['load_balancer', 'vpc']), cidr]);

export const planSchema = z.strictObject({
  name,
  region: z.string().regex(/^[a-z]{3}\d$/, 'a DigitalOcean region slug such as fra1'),
  sites: z.number().int().min(1).max(100_000),
  vpc: z.strictObject({ name, ipRange: cidr }),
  pools: z
    .array(
      z.strictObject({
        role: z.enum(ROLES),
        count: z.number().int().min(0).max(200),
        size: z.string(),
        labels: z.record(z.string().regex(/^[a-z0-9._-]+$/, 'a label key'), z.string()).default({}),
      }),
    )
    .min(1),
  volumes: z.array(z.strictObject({ name, role: z.enum(ROLES), sizeGb: z.number().int().min(1).max(16_384) })).default([]),
  firewall: z.strictObject({
    name,
    inbound: z.array(
      z.strictObject({
        protocol: z.enum(['tcp', 'udp', 'icmp', 'esp']),
        ports: z.string().regex(/^(\d+(-\d+)?)(,\d+(-\d+)?)*$/, 'ports such as "80,443" or "8000-8100"').optional(),
        sources: z.array(source).min(1),
      }),
    ),
  }),
  loadBalancer: z
    .strictObject({
      name,
      role: z.enum(ROLES),
      forwarding: z.array(z.strictObject({ entry: z.string().regex(/^(http|https|http2|tcp):\d+$/), target: z.string().regex(/^(http|https|http2|tcp):\d+$/), tlsPassthrough: z.boolean().optional() })).min(1),
      healthCheck: z.string().regex(/^(http|https|tcp):\d+(\/.*)?$/, 'protocol:port[/path]'),
    })
    .optional(),
  floatingIps: z.strictObject({ count: z.number().int().min(0).max(10), role: z.enum(ROLES) }).optional(),
  networks: z.array(z.strictObject({ name, subnet: cidr, encrypted: z.boolean().default(true) })).min(1),
  stacks: z.array(z.strictObject({ name, file: z.string().min(1), dependsOn: z.array(name).default([]) })).default([]),
  otherMonthly: z.record(z.string(), z.number().min(0)).default({}),
});

export type FarmPlan = z.infer<typeof planSchema>;

export interface PlanIssue {
  field: string;
  message: string;
}

function ipv4(addr: string): number | null {
  const parts = addr.split('.').map(Number);
  if (parts.length !== 4 || parts.some((p) => !Number.isInteger(p) || p < 0 || p > 255)) return null;
  return ((parts[0] << 24) | (parts[1] << 16) | (parts[2] << 8) | parts[3]) >>> 0;
}

/** A CIDR as [first, last] addresses, or null when malformed or not aligned to its prefix. */
export function cidrRange(c: string): [number, number] | null {
  const [addr, bits] = c.split('/');
  const base = ipv4(addr);
  const prefix = Number(bits);
  if (base === null || !Number.isInteger(prefix) || prefix < 8 || prefix > 30) return null;
  const size = 2 ** (32 - prefix);
  if (base % size !== 0) return null;
  return [base, base + size - 1];
}

/** Usable container addresses in an overlay subnet (network, broadcast and gateway taken). */
export const subnetCapacity = (c: string): number => {
  const r = cidrRange(c);
  return r ? r[1] - r[0] + 1 - 3 : 0;
};

/** The rules across fields; each issue names its field. */
export function planIssues(plan: FarmPlan): PlanIssue[] {
  const issues: PlanIssue[] = [];
  const roles = new Map<Role, number>();
  plan.pools.forEach((p, i) => {
    if (!DROPLET_PRICES[p.size]) issues.push({ field: `pools[${i}].size`, message: `unknown size "${p.size}" (known: ${Object.keys(DROPLET_PRICES).join(', ')})` });
    if (roles.has(p.role)) issues.push({ field: `pools[${i}].role`, message: `role ${p.role} has two pools` });
    roles.set(p.role, (roles.get(p.role) ?? 0) + p.count);
  });
  const managers = roles.get('manager') ?? 0;
  const managerField = `pools[${Math.max(0, plan.pools.findIndex((p) => p.role === 'manager'))}].count`;
  if (managers === 0) issues.push({ field: managerField, message: 'a swarm needs at least one manager (three for a quorum that survives one loss)' });
  else if (managers % 2 === 0) issues.push({ field: managerField, message: `${managers} managers: use an odd number (an even count adds no fault tolerance to the Raft quorum)` });
  else if (managers > 7) issues.push({ field: managerField, message: `${managers} managers: more than 7 slows the Raft quorum without adding safety` });

  const ranges: { field: string; range: [number, number]; cidr: string }[] = [];
  const vpc = cidrRange(plan.vpc.ipRange);
  if (!vpc) issues.push({ field: 'vpc.ipRange', message: `${plan.vpc.ipRange} is not an aligned CIDR with a prefix from /8 to /30` });
  else ranges.push({ field: 'vpc.ipRange', range: vpc, cidr: plan.vpc.ipRange });
  const networkNames = new Set<string>();
  plan.networks.forEach((n, i) => {
    if (networkNames.has(n.name)) issues.push({ field: `networks[${i}].name`, message: `network ${n.name} is listed twice` });
    networkNames.add(n.name);
    const r = cidrRange(n.subnet);
    if (!r) return issues.push({ field: `networks[${i}].subnet`, message: `${n.subnet} is not an aligned CIDR with a prefix from /8 to /30` });
    const clash = ranges.find((x) => x.range[0] <= r[1] && r[0] <= x.range[1]);
    if (clash) issues.push({ field: `networks[${i}].subnet`, message: `${n.subnet} overlaps ${clash.cidr} (${clash.field})` });
    ranges.push({ field: `networks[${i}].subnet`, range: r, cidr: n.subnet });
  });
  const wp = plan.networks.findIndex((n) => n.name === 'wordpress');
  if (wp >= 0 && subnetCapacity(plan.networks[wp].subnet) < plan.sites * 2) {
    issues.push({ field: `networks[${wp}].subnet`, message: `${plan.networks[wp].subnet} holds ${subnetCapacity(plan.networks[wp].subnet)} containers; ${plan.sites} sites need at least ${plan.sites * 2} (a task per site, and room to roll updates)` });
  }

  plan.volumes.forEach((v, i) => {
    if (!roles.get(v.role)) issues.push({ field: `volumes[${i}].role`, message: `no ${v.role} nodes to attach ${v.name} to` });
  });
  if (plan.loadBalancer && !roles.get(plan.loadBalancer.role)) issues.push({ field: 'loadBalancer.role', message: `no ${plan.loadBalancer.role} nodes to balance to` });
  if (plan.floatingIps && plan.floatingIps.count > (roles.get(plan.floatingIps.role) ?? 0)) {
    issues.push({ field: 'floatingIps.count', message: `${plan.floatingIps.count} floating IPs for ${roles.get(plan.floatingIps.role) ?? 0} ${plan.floatingIps.role} nodes` });
  }

  const stackNames = new Set(plan.stacks.map((s) => s.name));
  plan.stacks.forEach((s, i) => {
    s.dependsOn.forEach((d, j) => {
      if (!stackNames.has(d)) issues.push({ field: `stacks[${i}].dependsOn[${j}]`, message: `no stack named ${d}` });
    });
  });
  const cycle = stackCycle(plan.stacks);
  if (cycle) issues.push({ field: 'stacks', message: `dependency cycle: ${cycle.join(' → ')}` });
  return issues;
}

function stackCycle(stacks: { name: string; dependsOn: string[] }[]): string[] | null {
  const deps = new Map(stacks.map((s) => [s.name, s.dependsOn]));
  const state = new Map<string, 'visiting' | 'done'>();
  const path: string[] = [];
  const visit = (n: string): string[] | null => {
    if (state.get(n) === 'done' || !deps.has(n)) return null;
    if (state.get(n) === 'visiting') return [...path.slice(path.indexOf(n)), n];
    state.set(n, 'visiting');
    path.push(n);
    for (const d of deps.get(n)!) {
      const c = visit(d);
      if (c) return c;
    }
    path.pop();
    state.set(n, 'done');
    return null;
  };
  for (const s of stacks) {
    const c = visit(s.name);
    if (c) return c;
  }
  return null;
}

/** The farm plan: the default plan's nodes and cost, and bad plans refused with the field named. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_PLAN, loadPlan, PlanError, validatePlan } from '../../lib/plan/load';
import { planCost, plannedNodes } from '../../lib/plan/nodes';
import { cidrRange, subnetCapacity } from '../../lib/plan/schema';
import { stackOrder } from '../../lib/plan/stack-order';
import { scratchDir } from '../helpers/scratch';

const defaultDoc = () => parse(readFileSync(DEFAULT_PLAN, 'utf8')) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

describe('the default plan', () => {
  const plan = loadPlan();
  it('is the farm of the operators\' notes: 33 nodes, $3,733 a month, $7.47 per site', () => {
    const nodes = plannedNodes(plan);
    expect(nodes).toHaveLength(33);
    expect(Object.fromEntries(plan.pools.map((p) => [p.role, p.count]))).toEqual({ manager: 3, cache: 3, worker: 20, database: 3, storage: 2, monitoring: 2 });
    const cost = planCost(plan);
    expect(cost.monthly).toBe(3733);
    expect(cost.perSite).toBe(7.47);
    expect(plan.networks).toHaveLength(9);
    expect(plan.networks.every((n) => n.encrypted)).toBe(true);
  });
  it('names nodes stably and gives them their role label and volumes', () => {
    const nodes = plannedNodes(plan);
    expect(nodes[0]).toMatchObject({ name: 'farm-manager-01', role: 'manager', labels: { role: 'manager', ordinal: '1', tier: 'edge' } });
    expect(nodes.find((n) => n.name === 'farm-storage-02')?.volumes).toEqual([{ name: 'farm-storage-02-gluster-brick', sizeGb: 2000 }]);
    expect(new Set(nodes.map((n) => n.name)).size).toBe(33);
  });
  it('orders stacks after their dependencies', () => {
    const waves = stackOrder(plan.stacks).map((w) => w.map((s) => s.name));
    const at = (n: string) => waves.findIndex((w) => w.includes(n));
    for (const s of plan.stacks) for (const d of s.dependsOn) expect(at(d)).toBeLessThan(at(s.name));
  });
});

describe('bad plans are refused naming the field', () => {
  type Doc = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  it.each<[string, (d: Doc) => void, string, RegExp]>([
    ['an unknown role', (d) => (d.pools[2].role = 'frontend'), 'pools[2].role', /Invalid option/i],
    ['zero managers', (d) => (d.pools[0].count = 0), 'pools[0].count', /at least one manager/],
    ['an even manager count', (d) => (d.pools[0].count = 4), 'pools[0].count', /odd number/],
    ['overlapping subnets', (d) => (d.networks[3].subnet = '10.200.16.128/25'), 'networks[3].subnet', /overlaps 10.200.16.0\/24 \(networks\[2\]\.subnet\)/],
    ['a subnet inside the VPC', (d) => (d.networks[0].subnet = '10.110.4.0/24'), 'networks[0].subnet', /overlaps 10.110.0.0\/20 \(vpc.ipRange\)/],
    ['an unknown size', (d) => (d.pools[1].size = 's-4vcpu-9gb'), 'pools[1].size', /unknown size "s-4vcpu-9gb"/],
    ['a misaligned subnet', (d) => (d.networks[1].subnet = '10.200.9.0/21'), 'networks[1].subnet', /not an aligned CIDR/],
    ['a wordpress network too small for the sites', (d) => (d.networks[1].subnet = '10.200.8.0/24'), 'networks[1].subnet', /500 sites need at least 1000/],
    ['a stack depending on a missing one', (d) => (d.stacks[1].dependsOn = ['traefk']), 'stacks[1].dependsOn[0]', /no stack named traefk/],
    ['a stack cycle', (d) => (d.stacks[0].dependsOn = ['crowdsec']), 'stacks', /cycle: traefik → crowdsec → traefik/],
    ['a volume for a role with no nodes', (d) => (d.pools[5].count = 0), 'volumes[2].role', /no monitoring nodes/],
    ['an unknown key', (d) => (d.pools[0].cpus = 8), 'pools[0]', /Unrecognized key/i],
    ['a missing region', (d) => delete d.region, 'region', /expected string/i],
  ])('%s', (_label, mutate, field, message) => {
    const doc = defaultDoc();
    mutate(doc);
    let err: unknown;
    try {
      validatePlan(doc);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlanError);
    const issue = (err as PlanError).issues.find((i) => i.field === field);
    expect(issue, JSON.stringify((err as PlanError).issues)).toBeDefined();
    expect(issue!.message).toMatch(message);
  });

  it('a YAML syntax error names the line, a missing file names --plan', () => {
    const f = path.join(scratchDir('plan-'), 'bad.yml');
    writeFileSync(f, 'name: farm\nregion: fra1\npools:\n  - { role: manager, count: 3\n');
    expect(() => loadPlan(f)).toThrow(PlanError);
    try {
      loadPlan(f);
    } catch (err) {
      expect((err as PlanError).issues[0].field).toMatch(/^line \d+$/);
    }
    expect(() => loadPlan('/nonexistent/plan.yml')).toThrow(/--plan: cannot read: ENOENT/);
  });
});

describe('CIDR arithmetic', () => {
  it.each([
    ['10.0.0.0/24', [167772160, 167772415], 253],
    ['10.200.8.0/21', [180881408, 180881408 + 2047], 2045], // 10<<24 | 200<<16 | 8<<8
  ])('%s', (c, range, capacity) => {
    expect(cidrRange(c)).toEqual(range);
    expect(subnetCapacity(c)).toBe(capacity);
  });
});

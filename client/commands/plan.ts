/** `drover plan show | check`: the farm plan, its nodes by role and what it costs. Reads only; creates nothing. */
import { Command } from 'commander';
import { DEFAULT_PLAN, loadPlan, PlanError } from '../../lib/plan/load';
import { planCost, plannedNodes, type PlanCost } from '../../lib/plan/nodes';
import type { FarmPlan } from '../../lib/plan/schema';
import { stackOrder } from '../../lib/plan/stack-order';
import { action, UsageError } from '../output';

/** Loads the plan; a bad one is a UsageError naming the first bad field (exit 2), every issue in the message. */
export function readPlanOption(file: string | undefined): FarmPlan {
  try {
    return loadPlan(file ?? DEFAULT_PLAN);
  } catch (err) {
    if (err instanceof PlanError) {
      const [first] = err.issues;
      const more = err.issues.slice(1).map((i) => `; ${i.field}: ${i.message}`).join('');
      throw new UsageError(first.field, `${first.message}${more} (in ${err.file})`);
    }
    throw err;
  }
}

const usd = (n: number) => `$${n.toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;

export function formatPlan(plan: FarmPlan, cost: PlanCost): string {
  const nodes = plannedNodes(plan);
  const byRole = plan.pools.map((p) => `  ${p.role.padEnd(11)} ${String(p.count).padStart(3)} × ${p.size.padEnd(14)} ${nodes.filter((n) => n.role === p.role).map((n) => n.name).slice(0, 3).join(', ')}${p.count > 3 ? ', …' : ''}`);
  return [
    `farm ${plan.name} in ${plan.region}: ${nodes.length} nodes for ${plan.sites} sites`,
    ...byRole,
    `  networks: ${plan.networks.map((n) => `${n.name} ${n.subnet}`).join(', ')}`,
    `  stacks in order: ${stackOrder(plan.stacks).map((w) => w.map((s) => s.name).join(' + ')).join(' → ')}`,
    'monthly cost:',
    ...cost.lines.map((l) => `  ${l.item.padEnd(34)} ${String(l.quantity).padStart(5)} × ${usd(l.unitMonthly).padStart(8)} = ${usd(l.monthly).padStart(10)}`),
    `  ${'total'.padEnd(34)} ${usd(cost.monthly).padStart(27)}  (${usd(cost.perSite)} per site)`,
  ].join('\n');
}

export function planCommand(): Command {
  const plan = new Command('plan').description('the farm plan (configs/plans/farm.yml by default): nodes, networks, stacks, cost');
  plan
    .command('show')
    .description('print the plan\'s nodes by role and its monthly cost and cost per site')
    .option('--plan <file>', 'a plan file (YAML)')
    .action(
      action(async (opts) => {
        const p = readPlanOption(opts.plan as string | undefined);
        const cost = planCost(p);
        return { ok: true, data: { plan: p, nodes: plannedNodes(p), cost }, text: formatPlan(p, cost) };
      }),
    );
  plan
    .command('check')
    .description('validate a plan file; exit 2 naming the first bad field')
    .option('--plan <file>', 'a plan file (YAML)')
    .action(
      action(async (opts) => {
        const p = readPlanOption(opts.plan as string | undefined);
        return { ok: true, data: { valid: true, name: p.name, nodes: plannedNodes(p).length }, text: `plan ${p.name} is valid: ${plannedNodes(p).length} nodes` };
      }),
    );
  return plan;
}

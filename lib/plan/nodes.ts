/** The nodes a plan asks for, named the same way every time (`<farm>-<role>-<nn>`), and what they cost. */
import { DROPLET_PRICES, OTHER_PRICES } from './prices';
import type { FarmPlan, Role } from './schema';

export interface PlannedNode {
  name: string;
  role: Role;
  size: string;
  labels: Record<string, string>;
  /** Block storage volumes attached to this node. */
  volumes: { name: string; sizeGb: number }[];
}

export function plannedNodes(plan: FarmPlan): PlannedNode[] {
  return plan.pools.flatMap((pool) =>
    Array.from({ length: pool.count }, (_, i) => {
      const name = `${plan.name}-${pool.role}-${String(i + 1).padStart(2, '0')}`;
      return {
        name,
        role: pool.role,
        size: pool.size,
        // ordinal: the node's number within its role, for services pinned to one node each (galera-1 …).
        labels: { role: pool.role, ordinal: String(i + 1), ...pool.labels },
        volumes: plan.volumes.filter((v) => v.role === pool.role).map((v) => ({ name: `${name}-${v.name}`, sizeGb: v.sizeGb })),
      };
    }),
  );
}

export interface CostLine {
  item: string;
  quantity: number;
  unitMonthly: number;
  monthly: number;
}

export interface PlanCost {
  lines: CostLine[];
  monthly: number;
  perSite: number;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

export function planCost(plan: FarmPlan): PlanCost {
  const lines: CostLine[] = [];
  for (const p of plan.pools) {
    if (!p.count) continue;
    const unit = DROPLET_PRICES[p.size].monthly;
    lines.push({ item: `${p.role} droplets (${p.size})`, quantity: p.count, unitMonthly: unit, monthly: unit * p.count });
  }
  const nodes = plannedNodes(plan);
  const gb = nodes.reduce((a, n) => a + n.volumes.reduce((b, v) => b + v.sizeGb, 0), 0);
  if (gb) lines.push({ item: 'block storage (GB)', quantity: gb, unitMonthly: OTHER_PRICES.volumePerGb, monthly: round2(gb * OTHER_PRICES.volumePerGb) });
  if (plan.loadBalancer) lines.push({ item: 'load balancer', quantity: 1, unitMonthly: OTHER_PRICES.loadBalancer, monthly: OTHER_PRICES.loadBalancer });
  if (plan.floatingIps?.count) lines.push({ item: 'floating IPs', quantity: plan.floatingIps.count, unitMonthly: OTHER_PRICES.floatingIp, monthly: plan.floatingIps.count * OTHER_PRICES.floatingIp });
  for (const [item, monthly] of Object.entries(plan.otherMonthly)) lines.push({ item, quantity: 1, unitMonthly: monthly, monthly });
  const monthly = round2(lines.reduce((a, l) => a + l.monthly, 0));
  return { lines, monthly, perSite: round2(monthly / plan.sites) };
}

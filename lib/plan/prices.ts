/**
 * DigitalOcean list prices (USD per month) the plan's cost is computed from, as the operators recorded them in
 * their architecture notes (FARM.md). Sizes are DigitalOcean droplet slugs. A size not listed here is refused
 * by plan validation, so a typo never reaches the provider.
 */
export const DROPLET_PRICES: Record<string, { vcpus: number; memoryGiB: number; monthly: number }> = {
  's-1vcpu-1gb': { vcpus: 1, memoryGiB: 1, monthly: 6 },
  's-1vcpu-2gb': { vcpus: 1, memoryGiB: 2, monthly: 12 },
  's-2vcpu-2gb': { vcpus: 2, memoryGiB: 2, monthly: 18 },
  's-2vcpu-4gb': { vcpus: 2, memoryGiB: 4, monthly: 24 },
  's-4vcpu-8gb': { vcpus: 4, memoryGiB: 8, monthly: 48 },
  's-8vcpu-16gb': { vcpus: 8, memoryGiB: 16, monthly: 96 },
  'g-4vcpu-16gb': { vcpus: 4, memoryGiB: 16, monthly: 126 },
  'm-2vcpu-16gb': { vcpus: 2, memoryGiB: 16, monthly: 84 },
  'c-8': { vcpus: 8, memoryGiB: 16, monthly: 168 },
};

export const OTHER_PRICES = {
  /** Block storage volumes, per GB per month. */
  volumePerGb: 0.1,
  /** One small load balancer (one node). */
  loadBalancer: 12,
  /** A reserved (floating) IP, as the operators budget it. */
  floatingIp: 6,
} as const;

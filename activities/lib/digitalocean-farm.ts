/**
 * What DigitalOcean's provisioning and teardown activities share: the farm's marks (its tag, its role tags, the
 * balancer's droplet tag), the client bound to the activity's cancellation, and a delete for which gone is done.
 */
import { cancellationSignal } from '@temporalio/activity';
import { ROLES, type Role } from '../../lib/plan/schema';
import type { ActivityDeps } from '../../lib/clients/deps';
import type { DigitalOceanClient, DoLoadBalancer } from '../../lib/clients/digitalocean-client';
import { failure } from '../../lib/clients/errors';

export const farmTag = (farm: string): string => `drover-${farm}`;
export const roleTag = (farm: string, role: Role): string => `drover-${farm}-${role}`;
/** A load balancer is the farm's when it balances over one of the farm's role tags (it carries no tags itself). */
export const isFarmsBalancer = (lb: DoLoadBalancer, farm: string): boolean => ROLES.some((r) => lb.tag === roleTag(farm, r));

export const isType = (err: unknown, type: string) => (err as { type?: string }).type === type;
/** Deletes; gone already (404) is done. */
export async function deleteGone(client: DigitalOceanClient, path: string): Promise<boolean> {
  try {
    await client.request('DELETE', path);
    return true;
  } catch (err) {
    if (isType(err, 'CloudNotFound')) return false;
    throw err;
  }
}

/** A DigitalOcean resource as lists return it: what looking it up by name and checking its mark needs. */
export interface Named {
  id: string;
  name: string;
  tags?: string[];
  description?: string;
}

/** The worker's DigitalOcean client, bound to this activity's cancellation; ConfigMissing without a token. */
export function doClient(digitalocean: ActivityDeps['digitalocean']): DigitalOceanClient {
  if (!digitalocean) throw failure('ConfigMissing', 'this worker has no DigitalOcean token (DROVER_DO_TOKEN)');
  return digitalocean.withSignal(cancellationSignal());
}

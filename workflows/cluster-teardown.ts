/**
 * Tears a farm down, only what carries its mark: local nodes of the farm (namespaces, daemons, mounts, folders)
 * and its bridge, or on DigitalOcean every resource with the farm's tag. Safe to run twice, or twice at once.
 */
import { longApi } from './lib/proxies';

export interface ClusterTeardownInput {
  provider: 'local' | 'digitalocean';
  farm: string;
}

/** Removes the farm's nodes and resources; `removed` says what went. */
export async function clusterTeardownWorkflow(input: ClusterTeardownInput): Promise<{ removed: string[] }> {
  if (input.provider === 'local') return { removed: (await longApi.destroyLocalFarm({ farm: input.farm })).nodes };
  const r = await longApi.destroyFarm({ farm: input.farm });
  return { removed: [`${r.droplets} droplets`, `${r.volumes} volumes`, ...r.other] };
}

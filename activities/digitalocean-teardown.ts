/**
 * DigitalOcean teardown and undo: the whole farm, or one resource a provisioning run made. Only what carries the
 * farm's mark is touched (droplets, volumes and firewalls its tag; a load balancer the droplet tag it balances
 * over; a VPC its description; a reserved IP its assignment to a farm droplet). Removing something already gone
 * (404) counts as done, so two teardowns can run at once.
 */
import { heartbeat } from '@temporalio/activity';
import type { ActivityDeps } from '../lib/clients/deps';
import { cloudStatus, type DigitalOceanClient, type DoDroplet, type DoLoadBalancer } from '../lib/clients/digitalocean-client';
import { failure } from '../lib/clients/errors';
import { deleteGone, doClient, farmTag, isFarmsBalancer, isType, type Named } from './lib/digitalocean-farm';

/**
 * A delete refused because droplets still hold the resource (409: a VPC with members, an attached volume) while
 * they are being destroyed: retried (CloudUnavailable), not a permanent failure.
 */
async function stillHeld<T>(what: string, del: () => Promise<T>): Promise<T> {
  try {
    return await del();
  } catch (err) {
    if (isType(err, 'CloudRequestRejected') && cloudStatus(err) === 409) throw failure('CloudUnavailable', `${what} is still in use by droplets being destroyed: ${(err as Error).message}`);
    throw err;
  }
}

interface DoVpc {
  id: string;
  name: string;
  description?: string;
  /** The region's default VPC (the first created there): DigitalOcean refuses to delete it (403). */
  default?: boolean;
}

/**
 * Deletes one of the farm's VPCs. A region's default VPC cannot be deleted (the API answers 403, as it does for
 * a VPC that still has members): it is left in place and reported, never an error. A 403 or 409 on any other VPC
 * means droplets being destroyed still hold it: retried (CloudUnavailable) until they let go.
 */
async function deleteVpc(client: DigitalOceanClient, vpc: DoVpc): Promise<'deleted' | 'gone' | 'default'> {
  if (vpc.default) return 'default';
  try {
    return (await deleteGone(client, `/v2/vpcs/${vpc.id}`)) ? 'deleted' : 'gone';
  } catch (err) {
    if (!(isType(err, 'CloudRequestRejected') && [403, 409].includes(cloudStatus(err) ?? 0))) throw err;
    const now = (await client.list<DoVpc>('/v2/vpcs', 'vpcs')).find((v) => v.id === vpc.id);
    if (!now) return 'gone';
    if (now.default) return 'default';
    throw failure('CloudUnavailable', `VPC ${vpc.name} is still in use by droplets being destroyed: ${(err as Error).message}`);
  }
}
const keptDefault = (name: string) => `vpc ${name} left in place (the region's default VPC: DigitalOcean does not delete it)`;

export function createDigitalOceanTeardownActivities({ digitalocean }: Pick<ActivityDeps, 'digitalocean'>) {
  const api = (): DigitalOceanClient => doClient(digitalocean);

  const activities = {
    /** Undo of ensureReservedIps for droplets this run created: releases the reserved IPs assigned to them. */
    async releaseReservedIps(input: { dropletIds: number[] }): Promise<{ released: string[] }> {
      const released: string[] = [];
      for (const r of await api().list<{ ip: string; droplet: { id: number } | null }>('/v2/reserved_ips', 'reserved_ips')) {
        if (r.droplet && input.dropletIds.includes(r.droplet.id) && (await deleteGone(api(), `/v2/reserved_ips/${r.ip}`))) released.push(r.ip);
      }
      return { released };
    },

    /**
     * Tears the farm down: its load balancers (those balancing over the farm's role tags) and firewall (tagged),
     * reserved IPs on its droplets, its droplets (deleted by tag), its volumes (tagged) and its VPC (marked in
     * the description; a region's default VPC, which DigitalOcean refuses to delete, is left and reported). Nothing
     * without the farm's mark is touched. Idempotent, and safe beside another
     * teardown of the same farm: whatever is gone by the time it is deleted (404) counts as done. A volume or
     * VPC still held by droplets being deleted is retried (CloudUnavailable) until they let go.
     */
    async destroyFarm(input: { farm: string }): Promise<{ droplets: number; volumes: number; other: string[] }> {
      const tag = farmTag(input.farm);
      const other: string[] = [];
      for (const lb of await api().list<DoLoadBalancer>('/v2/load_balancers', 'load_balancers')) {
        if (isFarmsBalancer(lb, input.farm) && (await deleteGone(api(), `/v2/load_balancers/${lb.id}`))) other.push(`load_balancer ${lb.name}`);
      }
      for (const fw of await api().list<Named>('/v2/firewalls', 'firewalls')) {
        if (fw.tags?.includes(tag) && (await deleteGone(api(), `/v2/firewalls/${fw.id}`))) other.push(`firewall ${fw.name}`);
      }
      const droplets = await api().dropletsByTag(tag);
      const ids = new Set(droplets.map((d) => d.id));
      for (const r of await api().list<{ ip: string; droplet: { id: number } | null }>('/v2/reserved_ips', 'reserved_ips')) {
        if (r.droplet && ids.has(r.droplet.id) && (await deleteGone(api(), `/v2/reserved_ips/${r.ip}`))) other.push(`reserved ip ${r.ip}`);
      }
      if (droplets.length) await api().request('DELETE', `/v2/droplets?tag_name=${encodeURIComponent(tag)}`);
      heartbeat({ phase: 'volumes' });
      let volumes = 0;
      for (const v of await api().list<Named>('/v2/volumes', 'volumes')) {
        if (v.tags?.includes(tag) && (await stillHeld(`volume ${v.name}`, () => deleteGone(api(), `/v2/volumes/${v.id}`)))) volumes++;
      }
      for (const v of await api().list<DoVpc>('/v2/vpcs', 'vpcs')) {
        if (v.description !== tag) continue;
        const r = await deleteVpc(api(), v);
        if (r === 'deleted') other.push(`vpc ${v.name}`);
        if (r === 'default') other.push(keptDefault(v.name));
      }
      return { droplets: droplets.length, volumes, other };
    },

    /** Undo of ensureDroplet: deletes one droplet, only if it carries the farm's tag. Gone already is fine. */
    async destroyDroplet(input: { farm: string; id: number }): Promise<{ destroyed: boolean }> {
      let d: DoDroplet;
      try {
        d = await api().droplet(input.id);
      } catch (err) {
        if (isType(err, 'CloudNotFound')) return { destroyed: false };
        throw err;
      }
      if (!d.tags.includes(farmTag(input.farm))) throw failure('CloudRequestRejected', `droplet ${d.name} (${d.id}) does not carry ${farmTag(input.farm)}: not destroying it`);
      return { destroyed: await deleteGone(api(), `/v2/droplets/${input.id}`) };
    },

    /** Undo of the other ensure* activities: deletes one resource the farm made, after checking its mark. */
    async deleteFarmResource(input: { farm: string; kind: 'volume' | 'firewall' | 'load_balancer' | 'reserved_ip' | 'vpc'; id: string }): Promise<{ deleted: boolean; kept?: string }> {
      const tag = farmTag(input.farm);
      const path = { volume: '/v2/volumes', firewall: '/v2/firewalls', load_balancer: '/v2/load_balancers', reserved_ip: '/v2/reserved_ips', vpc: '/v2/vpcs' }[input.kind];
      if (input.kind !== 'reserved_ip') {
        const all = await api().list<Named & DoLoadBalancer & { droplet_ids?: number[]; region?: { slug: string } | string }>(path, `${input.kind}s`);
        const x = all.find((r) => r.id === input.id);
        if (!x) return { deleted: false };
        const marked = input.kind === 'vpc' ? x.description === tag : input.kind === 'load_balancer' ? isFarmsBalancer(x, input.farm) : x.tags?.includes(tag);
        if (!marked) throw failure('CloudRequestRejected', `${input.kind} ${x.name} is not ${tag}'s: not deleting it`);
        if (input.kind === 'vpc') {
          const r = await deleteVpc(api(), x as DoVpc);
          return r === 'default' ? { deleted: false, kept: keptDefault(x.name) } : { deleted: r === 'deleted' };
        }
        // An attached volume cannot be deleted: detach it first (the inverse of ensureVolume's create + attach).
        if (input.kind === 'volume') {
          const region = typeof x.region === 'string' ? x.region : x.region?.slug;
          for (const dropletId of x.droplet_ids ?? []) await api().request('POST', `/v2/volumes/${x.id}/actions`, { type: 'detach', droplet_id: dropletId, region });
        }
      }
      return { deleted: await stillHeld(`${input.kind} ${input.id}`, () => deleteGone(api(), `${path}/${input.id}`)) };
    },

    /**
     * Undo of an ensure* call that did not return (it failed after creating, e.g. a volume whose attach was
     * refused, or ran out of retries): registered before the call, it has no id, so it looks the resource up by
     * name and removes it only if it carries the farm's mark and was created since `createdSince` (the
     * provisioning run's start): what an earlier run made stays. Not found is done.
     */
    async undoCreateByName(input: { farm: string; kind: 'droplet' | 'volume' | 'firewall' | 'load_balancer' | 'vpc'; name: string; createdSince: string }): Promise<{ deleted: boolean; kept?: string }> {
      const since = Date.parse(input.createdSince);
      const fresh = (r: { created_at?: string }) => r.created_at !== undefined && Date.parse(r.created_at) >= since;
      if (input.kind === 'droplet') {
        let deleted = false;
        for (const d of (await api().dropletsByTag(farmTag(input.farm))).filter((x) => x.name === input.name && fresh(x))) {
          deleted = (await deleteGone(api(), `/v2/droplets/${d.id}`)) || deleted;
        }
        return { deleted };
      }
      const path = { volume: '/v2/volumes', firewall: '/v2/firewalls', load_balancer: '/v2/load_balancers', vpc: '/v2/vpcs' }[input.kind];
      const found = (await api().list<Named & DoLoadBalancer & { created_at?: string }>(path, `${input.kind}s`)).find((r) => r.name === input.name);
      if (!found || !fresh(found)) return { deleted: false };
      const marked = input.kind === 'vpc' ? found.description === farmTag(input.farm) : input.kind === 'load_balancer' ? isFarmsBalancer(found, input.farm) : found.tags?.includes(farmTag(input.farm));
      if (!marked) return { deleted: false };
      return activities.deleteFarmResource({ farm: input.farm, kind: input.kind, id: found.id });
    },
  };
  return activities;
}

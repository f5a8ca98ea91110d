/**
 * Activities on DigitalOcean: every one looks first and creates only what is missing, by name under the farm's
 * tag (`drover-<farm>`), so a retried or re-run activity never makes a second droplet, volume or balancer.
 * Destroying touches only what carries the farm's tag (VPCs cannot be tagged: they carry it in their
 * description). Long waits heartbeat; throttling honours Retry-After through the classified CloudThrottled.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type { FarmPlan, Role } from '../lib/plan/schema';
import type { ActivityDeps } from './deps';
import { DigitalOceanClient, privateIp, publicIp, type DoDroplet } from './lib/digitalocean-client';
import { failure } from './lib/errors';
import { deriveHostKey, hostKeyUserData } from './lib/host-keys';

export const farmTag = (farm: string): string => `drover-${farm}`;
export const roleTag = (farm: string, role: Role): string => `drover-${farm}-${role}`;

export interface ProvisionedDroplet {
  id: number;
  name: string;
  status: string;
  created: boolean;
}

export interface ReadyDroplet {
  id: number;
  name: string;
  publicIp: string;
  privateIp: string;
}

interface Named {
  id: string;
  name: string;
  tags?: string[];
  description?: string;
}

/** A resource found by name must be this farm's: adopting someone else's would later destroy it with the farm. */
function mustBeFarms<T extends Named>(x: T, farm: string, kind: string): T {
  if (!x.tags?.includes(farmTag(farm))) throw failure('CloudRequestRejected', `a ${kind} named ${x.name} exists but does not carry ${farmTag(farm)}: rename the plan's ${kind} or remove it`);
  return x;
}

const sleep = (ms: number, signal: AbortSignal) =>
  new Promise<void>((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => (clearTimeout(t), reject(signal.reason as Error)), { once: true });
  });

/** A droplet as the bring-up reaches it: SSH on its public address with its pinned host key, swarm on the VPC. */
export interface FarmNode {
  name: string;
  role: Role | null;
  publicIp: string;
  privateIp: string;
  hostKey: string;
}

export function createDigitalOceanActivities({ digitalocean, hostKeySeed }: Pick<ActivityDeps, 'digitalocean' | 'hostKeySeed'>) {
  const api = (): DigitalOceanClient => {
    if (!digitalocean) throw failure('ConfigMissing', 'this worker has no DigitalOcean token (DROVER_DO_TOKEN)');
    return digitalocean.withSignal(cancellationSignal());
  };
  const seed = (): Buffer => {
    if (!hostKeySeed) throw failure('ConfigMissing', 'this worker has no host key seed (DROVER_HOST_KEY_SEED_FILE): droplets could not be pinned from their first SSH connection');
    return hostKeySeed;
  };

  return {
    /** The farm's tags (one for the farm, one per role). Creating an existing tag changes nothing. */
    async ensureFarmTags(input: { farm: string; roles: Role[] }): Promise<{ tags: string[] }> {
      const tags = [farmTag(input.farm), ...input.roles.map((r) => roleTag(input.farm, r))];
      for (const name of tags) await api().request('POST', '/v2/tags', { name });
      return { tags };
    },

    /** The farm's VPC, found by name, else created (marked as the farm's in its description). */
    async ensureVpc(input: { farm: string; name: string; region: string; ipRange: string }): Promise<{ id: string; created: boolean }> {
      const found = (await api().list<Named & { region: string }>('/v2/vpcs', 'vpcs')).find((v) => v.name === input.name);
      if (found) {
        if (found.description !== farmTag(input.farm)) throw failure('CloudRequestRejected', `a VPC named ${input.name} exists but is not ${farmTag(input.farm)}'s: rename the plan's VPC or remove it`);
        if (found.region !== input.region) throw failure('CloudRequestRejected', `VPC ${input.name} exists in ${found.region}, the plan says ${input.region}`);
        return { id: found.id, created: false };
      }
      const r = await api().request<{ vpc: Named }>('POST', '/v2/vpcs', { name: input.name, region: input.region, ip_range: input.ipRange, description: farmTag(input.farm) });
      return { id: r.vpc.id, created: true };
    },

    /** The bootstrap SSH key on the account, by its public key (the account refuses the same key twice). */
    async ensureSshKey(input: { name: string; publicKey: string }): Promise<{ fingerprint: string }> {
      const keys = await api().list<{ fingerprint: string; public_key: string }>('/v2/account/keys', 'ssh_keys');
      const found = keys.find((k) => k.public_key.trim() === input.publicKey.trim());
      if (found) return { fingerprint: found.fingerprint };
      const r = await api().request<{ ssh_key: { fingerprint: string } }>('POST', '/v2/account/keys', { name: input.name, public_key: input.publicKey });
      return { fingerprint: r.ssh_key.fingerprint };
    },

    /**
     * Finds the droplet by name under the farm's tag, else creates it (tagged with the farm and its role), with its
     * derived SSH host key in cloud-init user data (made here, in the worker: never in workflow history).
     */
    async ensureDroplet(input: { farm: string; name: string; role: Role; size: string; region: string; image: string; vpcId: string; sshKeys: string[] }): Promise<ProvisionedDroplet> {
      const userData = hostKeyUserData(deriveHostKey(seed(), input.farm, input.name));
      const existing = (await api().dropletsByTag(farmTag(input.farm))).filter((d) => d.name === input.name).sort((a, b) => a.id - b.id);
      if (existing.length) return { id: existing[0].id, name: input.name, status: existing[0].status, created: false };
      const d = await api().createDroplet({
        name: input.name,
        region: input.region,
        size: input.size,
        image: input.image,
        tags: [farmTag(input.farm), roleTag(input.farm, input.role)],
        vpc_uuid: input.vpcId,
        ssh_keys: input.sshKeys,
        user_data: userData,
        monitoring: true,
      });
      return { id: d.id, name: d.name, status: d.status, created: true };
    },

    /** Waits for a droplet to be `active` with both addresses (polls every 2 s, heartbeating). */
    async waitForDroplet(input: { id: number; pollMs?: number }): Promise<ReadyDroplet> {
      const signal = cancellationSignal();
      for (;;) {
        const d: DoDroplet = await api().droplet(input.id);
        heartbeat({ status: d.status });
        const pub = publicIp(d);
        const priv = privateIp(d);
        if (d.status === 'active' && pub && priv) return { id: d.id, name: d.name, publicIp: pub, privateIp: priv };
        if (d.status === 'archive') throw failure('CloudRequestRejected', `droplet ${d.name} (${d.id}) is archived`);
        await sleep(input.pollMs ?? 2000, signal);
      }
    },

    /** A block storage volume for a droplet: found by name or created (tagged), then attached if it is not. */
    async ensureVolume(input: { farm: string; name: string; region: string; sizeGb: number; dropletId: number }): Promise<{ id: string; created: boolean; attached: boolean }> {
      const found = (await api().list<Named & { droplet_ids: number[] }>('/v2/volumes', 'volumes', { name: input.name, region: input.region }))[0];
      if (found) mustBeFarms(found, input.farm, 'volume');
      const volume = found ?? (await api().request<{ volume: Named & { droplet_ids: number[] } }>('POST', '/v2/volumes', { name: input.name, region: input.region, size_gigabytes: input.sizeGb, tags: [farmTag(input.farm)], filesystem_type: 'ext4' })).volume;
      if (volume.droplet_ids.includes(input.dropletId)) return { id: volume.id, created: !found, attached: false };
      if (volume.droplet_ids.length) throw failure('CloudRequestRejected', `volume ${input.name} is attached to droplet ${volume.droplet_ids[0]}, not ${input.dropletId}`);
      await api().request('POST', `/v2/volumes/${volume.id}/actions`, { type: 'attach', droplet_id: input.dropletId, region: input.region });
      return { id: volume.id, created: !found, attached: true };
    },

    /** The farm's firewall, applied to every droplet with the farm's tag. */
    async ensureFirewall(input: { farm: string; firewall: FarmPlan['firewall']; vpcRange: string; loadBalancerId: string | null }): Promise<{ id: string; created: boolean }> {
      const found = (await api().list<Named>('/v2/firewalls', 'firewalls')).find((f) => f.name === input.firewall.name);
      if (found) return { id: mustBeFarms(found, input.farm, 'firewall').id, created: false };
      const inbound_rules = input.firewall.inbound.map((r) => ({
        protocol: r.protocol,
        ...(r.ports ? { ports: r.ports } : r.protocol === 'tcp' || r.protocol === 'udp' ? { ports: 'all' } : {}),
        sources: {
          addresses: r.sources.flatMap((s) => (s === 'vpc' ? [input.vpcRange] : s === 'load_balancer' ? [] : [s])),
          load_balancer_uids: r.sources.includes('load_balancer') && input.loadBalancerId ? [input.loadBalancerId] : [],
        },
      }));
      const anywhere = { addresses: ['0.0.0.0/0', '::/0'] };
      const outbound_rules = [
        { protocol: 'tcp', ports: 'all', destinations: anywhere },
        { protocol: 'udp', ports: 'all', destinations: anywhere },
        { protocol: 'icmp', destinations: anywhere },
      ];
      const r = await api().request<{ firewall: Named }>('POST', '/v2/firewalls', { name: input.firewall.name, inbound_rules, outbound_rules, tags: [farmTag(input.farm)] });
      return { id: r.firewall.id, created: true };
    },

    /** The farm's load balancer in front of the droplets with the role's tag. */
    async ensureLoadBalancer(input: { farm: string; balancer: NonNullable<FarmPlan['loadBalancer']>; region: string; vpcId: string }): Promise<{ id: string; created: boolean }> {
      const found = (await api().list<Named>('/v2/load_balancers', 'load_balancers')).find((l) => l.name === input.balancer.name);
      if (found) return { id: mustBeFarms(found, input.farm, 'load balancer').id, created: false };
      const split = (s: string) => s.split(':') as [string, string];
      const [hcProto, hcRest] = split(input.balancer.healthCheck);
      const [hcPort, ...hcPath] = hcRest.split('/');
      const r = await api().request<{ load_balancer: Named }>('POST', '/v2/load_balancers', {
        name: input.balancer.name,
        region: input.region,
        size_unit: 1,
        vpc_uuid: input.vpcId,
        tag: roleTag(input.farm, input.balancer.role),
        tags: [farmTag(input.farm)],
        forwarding_rules: input.balancer.forwarding.map((f) => {
          const [ep, eport] = split(f.entry);
          const [tp, tport] = split(f.target);
          return { entry_protocol: ep, entry_port: Number(eport), target_protocol: tp, target_port: Number(tport), tls_passthrough: Boolean(f.tlsPassthrough) };
        }),
        health_check: { protocol: hcProto, port: Number(hcPort), ...(hcPath.length ? { path: `/${hcPath.join('/')}` } : {}), check_interval_seconds: 10, response_timeout_seconds: 5, healthy_threshold: 3, unhealthy_threshold: 3 },
      });
      return { id: r.load_balancer.id, created: true };
    },

    /** One reserved IP assigned to each of these droplets (reserved IPs carry no name: identified by assignment). */
    async ensureReservedIps(input: { dropletIds: number[] }): Promise<{ ips: string[]; created: number }> {
      const all = await api().list<{ ip: string; droplet: { id: number } | null }>('/v2/reserved_ips', 'reserved_ips');
      const ips: string[] = [];
      let created = 0;
      for (const id of input.dropletIds) {
        const have = all.find((r) => r.droplet?.id === id);
        if (have) {
          ips.push(have.ip);
          continue;
        }
        const r = await api().request<{ reserved_ip: { ip: string } }>('POST', '/v2/reserved_ips', { droplet_id: id });
        ips.push(r.reserved_ip.ip);
        created++;
      }
      return { ips, created };
    },

    /**
     * Tears the farm down: its load balancer and firewall (tagged), reserved IPs on its droplets, its droplets
     * (deleted by tag), its volumes (tagged) and its VPC (marked in the description). Nothing without the farm's
     * mark is touched. Idempotent: a second run finds nothing left.
     */
    async destroyFarm(input: { farm: string }): Promise<{ droplets: number; volumes: number; other: string[] }> {
      const tag = farmTag(input.farm);
      const other: string[] = [];
      for (const [path, key] of [
        ['/v2/load_balancers', 'load_balancers'],
        ['/v2/firewalls', 'firewalls'],
      ] as const) {
        for (const x of await api().list<Named>(path, key)) {
          if (!x.tags?.includes(tag)) continue;
          await api().request('DELETE', `${path}/${x.id}`);
          other.push(`${key.slice(0, -1)} ${x.name}`);
        }
      }
      const droplets = await api().dropletsByTag(tag);
      const ids = new Set(droplets.map((d) => d.id));
      for (const r of await api().list<{ ip: string; droplet: { id: number } | null }>('/v2/reserved_ips', 'reserved_ips')) {
        if (r.droplet && ids.has(r.droplet.id)) {
          await api().request('DELETE', `/v2/reserved_ips/${r.ip}`);
          other.push(`reserved ip ${r.ip}`);
        }
      }
      if (droplets.length) await api().request('DELETE', `/v2/droplets?tag_name=${encodeURIComponent(tag)}`);
      heartbeat({ phase: 'volumes' });
      let volumes = 0;
      for (const v of await api().list<Named>('/v2/volumes', 'volumes')) {
        if (!v.tags?.includes(tag)) continue;
        await api().request('DELETE', `/v2/volumes/${v.id}`);
        volumes++;
      }
      for (const v of await api().list<Named>('/v2/vpcs', 'vpcs')) {
        if (v.description !== tag) continue;
        await api().request('DELETE', `/v2/vpcs/${v.id}`);
        other.push(`vpc ${v.name}`);
      }
      return { droplets: droplets.length, volumes, other };
    },

    /** Undo of ensureDroplet: deletes one droplet, only if it carries the farm's tag. Gone already is fine. */
    async destroyDroplet(input: { farm: string; id: number }): Promise<{ destroyed: boolean }> {
      let d: DoDroplet;
      try {
        d = await api().droplet(input.id);
      } catch (err) {
        if ((err as { type?: string }).type === 'CloudNotFound') return { destroyed: false };
        throw err;
      }
      if (!d.tags.includes(farmTag(input.farm))) throw failure('CloudRequestRejected', `droplet ${d.name} (${d.id}) does not carry ${farmTag(input.farm)}: not destroying it`);
      await api().request('DELETE', `/v2/droplets/${input.id}`);
      return { destroyed: true };
    },

    /** Undo of the other ensure* activities: deletes one resource the farm made, after checking its mark. */
    async deleteFarmResource(input: { farm: string; kind: 'volume' | 'firewall' | 'load_balancer' | 'reserved_ip' | 'vpc'; id: string }): Promise<{ deleted: boolean }> {
      const tag = farmTag(input.farm);
      const path = { volume: '/v2/volumes', firewall: '/v2/firewalls', load_balancer: '/v2/load_balancers', reserved_ip: '/v2/reserved_ips', vpc: '/v2/vpcs' }[input.kind];
      if (input.kind === 'volume' || input.kind === 'firewall' || input.kind === 'load_balancer' || input.kind === 'vpc') {
        const all = await api().list<Named & { droplet_ids?: number[]; region?: string }>(path, `${input.kind}s`);
        const x = all.find((r) => r.id === input.id);
        if (!x) return { deleted: false };
        if (input.kind === 'vpc' ? x.description !== tag : !x.tags?.includes(tag)) throw failure('CloudRequestRejected', `${input.kind} ${x.name} does not carry ${tag}: not deleting it`);
        // An attached volume cannot be deleted: detach it first (the inverse of ensureVolume's create + attach).
        for (const dropletId of x.droplet_ids ?? []) await api().request('POST', `/v2/volumes/${x.id}/actions`, { type: 'detach', droplet_id: dropletId, region: x.region });
      }
      try {
        await api().request('DELETE', `${path}/${input.id}`);
      } catch (err) {
        if ((err as { type?: string }).type === 'CloudNotFound') return { deleted: false };
        throw err;
      }
      return { deleted: true };
    },

    /**
     * The farm's active droplets as nodes to reach: addresses, role (from its role tag) and the fingerprint of the
     * host key it was given at creation (derived again here; public, safe in history). In name order.
     */
    async farmNodes(input: { farm: string }): Promise<{ nodes: FarmNode[] }> {
      const prefix = `${farmTag(input.farm)}-`;
      const nodes = (await api().dropletsByTag(farmTag(input.farm)))
        .filter((d) => d.status === 'active' && publicIp(d) && privateIp(d))
        .map((d) => ({
          name: d.name,
          role: (d.tags.find((t) => t.startsWith(prefix))?.slice(prefix.length) ?? null) as Role | null,
          publicIp: publicIp(d) as string,
          privateIp: privateIp(d) as string,
          hostKey: deriveHostKey(seed(), input.farm, d.name).fingerprint,
        }));
      return { nodes: nodes.sort((a, b) => (a.name < b.name ? -1 : 1)) };
    },

    /** The farm's droplets as DigitalOcean sees them (names, status, addresses). */
    async listFarmDroplets(input: { farm: string }): Promise<{ id: number; name: string; status: string; publicIp: string | null }[]> {
      return (await api().dropletsByTag(farmTag(input.farm))).map((d) => ({ id: d.id, name: d.name, status: d.status, publicIp: publicIp(d) })).sort((a, b) => (a.name < b.name ? -1 : 1));
    },
  };
}

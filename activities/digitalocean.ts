/**
 * Activities on DigitalOcean: every one looks first and creates only what is missing, by name under the farm's
 * tag (`drover-<farm>`), so a retried or re-run activity never makes a second droplet, volume or balancer.
 * Teardown and the undo steps (destroyFarm, destroyDroplet, deleteFarmResource, undoCreateByName,
 * releaseReservedIps) are in digitalocean-teardown.ts; this factory returns them too.
 * A create whose answer is lost (timeout, 5xx) may still have happened: the activity looks again before failing
 * and counts what it finds as created by this run, so a rollback removes it too.
 * Long waits heartbeat; throttling honours Retry-After through the classified CloudThrottled.
 */
import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import type { FarmPlan, Role } from '../lib/plan/schema';
import type { ActivityDeps } from '../lib/clients/deps';
import { privateIp, publicIp, type DigitalOceanClient, type DoDomainRecord, type DoDroplet, type DoLoadBalancer } from '../lib/clients/digitalocean-client';
import { failure } from '../lib/clients/errors';
import { deriveHostKey, hostKeyUserData } from '../lib/clients/host-keys';
import { createDigitalOceanTeardownActivities } from './digitalocean-teardown';
import { doClient, farmTag, isFarmsBalancer, isType, roleTag, type Named } from './lib/digitalocean-farm';

export { farmTag, roleTag } from './lib/digitalocean-farm';

/** Runs a create; if its answer is lost (CloudUnavailable), looks with `find` whether it happened anyway. */
async function createOrFind<T>(create: () => Promise<T>, find: () => Promise<T | undefined>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (!isType(err, 'CloudUnavailable')) throw err;
    const found = await find().catch(() => undefined);
    if (found === undefined) throw err;
    return found;
  }
}

/** What earlier attempts of this activity recorded (heartbeat details) before they crashed or failed. */
const earlier = <T>(): Partial<T> => (activityInfo().heartbeatDetails as Partial<T> | undefined) ?? {};

export interface ProvisionedDroplet {
  id: number;
  name: string;
  status: string;
  created: boolean;
  /** The fingerprint of the host key given to the droplet through cloud-init (derived, so known before it boots). */
  hostKey: string;
}

export interface ReadyDroplet {
  id: number;
  name: string;
  publicIp: string;
  privateIp: string;
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
  const api = (): DigitalOceanClient => doClient(digitalocean);
  const seed = (): Buffer => {
    if (!hostKeySeed) throw failure('ConfigMissing', 'this worker has no host key seed (DROVER_HOST_KEY_SEED_FILE): droplets could not be pinned from their first SSH connection');
    return hostKeySeed;
  };

  const activities = {
    /** The farm's tags (one for the farm, one per role). Creating an existing tag changes nothing. */
    async ensureFarmTags(input: { farm: string; roles: Role[] }): Promise<{ tags: string[] }> {
      const tags = [farmTag(input.farm), ...input.roles.map((r) => roleTag(input.farm, r))];
      for (const name of tags) await api().request('POST', '/v2/tags', { name });
      return { tags };
    },

    /** The farm's VPC, found by name, else created (marked as the farm's in its description). */
    async ensureVpc(input: { farm: string; name: string; region: string; ipRange: string }): Promise<{ id: string; created: boolean }> {
      const find = async () => (await api().list<Named & { region: string }>('/v2/vpcs', 'vpcs')).find((v) => v.name === input.name);
      const found = await find();
      if (found) {
        if (found.description !== farmTag(input.farm)) throw failure('CloudRequestRejected', `a VPC named ${input.name} exists but is not ${farmTag(input.farm)}'s: rename the plan's VPC or remove it`);
        if (found.region !== input.region) throw failure('CloudRequestRejected', `VPC ${input.name} exists in ${found.region}, the plan says ${input.region}`);
        return { id: found.id, created: Boolean(earlier<{ creating: boolean }>().creating) };
      }
      heartbeat({ creating: true });
      const r = await createOrFind(async () => (await api().request<{ vpc: Named & { region: string } }>('POST', '/v2/vpcs', { name: input.name, region: input.region, ip_range: input.ipRange, description: farmTag(input.farm) })).vpc, find);
      return { id: r.id, created: true };
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
      const hostKey = deriveHostKey(seed(), input.farm, input.name);
      const userData = hostKeyUserData(hostKey);
      const find = async () => (await api().dropletsByTag(farmTag(input.farm))).filter((d) => d.name === input.name).sort((a, b) => a.id - b.id)[0];
      const existing = await find();
      // Found after an earlier attempt of this activity set out to create it: that attempt made it.
      if (existing) return { id: existing.id, name: input.name, status: existing.status, created: Boolean(earlier<{ creating: boolean }>().creating), hostKey: hostKey.fingerprint };
      heartbeat({ creating: true });
      const create = () => api().createDroplet({
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
      const d = await createOrFind(create, find);
      return { id: d.id, name: d.name, status: d.status, created: true, hostKey: hostKey.fingerprint };
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
      const find = async () => (await api().list<Named & { droplet_ids: number[] }>('/v2/volumes', 'volumes', { name: input.name, region: input.region }))[0];
      const found = await find();
      if (found) mustBeFarms(found, input.farm, 'volume');
      // Found after an earlier attempt of this activity set out to create it: that attempt made it.
      const made = !found || Boolean(earlier<{ creating: boolean }>().creating);
      if (!found) heartbeat({ creating: true });
      const volume = found ?? (await createOrFind(async () => (await api().request<{ volume: Named & { droplet_ids: number[] } }>('POST', '/v2/volumes', { name: input.name, region: input.region, size_gigabytes: input.sizeGb, tags: [farmTag(input.farm)], filesystem_type: 'ext4' })).volume, find));
      if (volume.droplet_ids.includes(input.dropletId)) return { id: volume.id, created: made, attached: false };
      if (volume.droplet_ids.length) throw failure('CloudRequestRejected', `volume ${input.name} is attached to droplet ${volume.droplet_ids[0]}, not ${input.dropletId}`);
      await api().request('POST', `/v2/volumes/${volume.id}/actions`, { type: 'attach', droplet_id: input.dropletId, region: input.region });
      return { id: volume.id, created: made, attached: true };
    },

    /** The farm's firewall, applied to every droplet with the farm's tag. */
    async ensureFirewall(input: { farm: string; firewall: FarmPlan['firewall']; vpcRange: string; loadBalancerId: string | null }): Promise<{ id: string; created: boolean }> {
      const find = async () => (await api().list<Named>('/v2/firewalls', 'firewalls')).find((f) => f.name === input.firewall.name);
      const found = await find();
      if (found) return { id: mustBeFarms(found, input.farm, 'firewall').id, created: Boolean(earlier<{ creating: boolean }>().creating) };
      heartbeat({ creating: true });
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
      const r = await createOrFind(async () => (await api().request<{ firewall: Named }>('POST', '/v2/firewalls', { name: input.firewall.name, inbound_rules, outbound_rules, tags: [farmTag(input.farm)] })).firewall, find);
      return { id: r.id, created: true };
    },

    /** The farm's load balancer in front of the droplets with the role's tag. */
    async ensureLoadBalancer(input: { farm: string; balancer: NonNullable<FarmPlan['loadBalancer']>; region: string; vpcId: string }): Promise<{ id: string; created: boolean }> {
      const find = async () => (await api().list<DoLoadBalancer>('/v2/load_balancers', 'load_balancers')).find((l) => l.name === input.balancer.name);
      const found = await find();
      if (found) {
        if (!isFarmsBalancer(found, input.farm)) throw failure('CloudRequestRejected', `a load balancer named ${found.name} exists but is not ${farmTag(input.farm)}'s (it balances ${found.tag ? `tag ${found.tag}` : 'droplets by id'}): rename the plan's load balancer or remove it`);
        return { id: found.id, created: Boolean(earlier<{ creating: boolean }>().creating) };
      }
      heartbeat({ creating: true });
      const split = (s: string) => s.split(':') as [string, string];
      const [hcProto, hcRest] = split(input.balancer.healthCheck);
      const [hcPort, ...hcPath] = hcRest.split('/');
      const create = async () => (await api().request<{ load_balancer: DoLoadBalancer }>('POST', '/v2/load_balancers', {
        name: input.balancer.name,
        region: input.region,
        size_unit: 1,
        vpc_uuid: input.vpcId,
        tag: roleTag(input.farm, input.balancer.role),
        forwarding_rules: input.balancer.forwarding.map((f) => {
          const [ep, eport] = split(f.entry);
          const [tp, tport] = split(f.target);
          return { entry_protocol: ep, entry_port: Number(eport), target_protocol: tp, target_port: Number(tport), tls_passthrough: Boolean(f.tlsPassthrough) };
        }),
        health_check: { protocol: hcProto, port: Number(hcPort), ...(hcPath.length ? { path: `/${hcPath.join('/')}` } : {}), check_interval_seconds: 10, response_timeout_seconds: 5, healthy_threshold: 3, unhealthy_threshold: 3 },
      })).load_balancer;
      const r = await createOrFind(create, find);
      return { id: r.id, created: true };
    },

    /**
     * One reserved IP assigned to each of these droplets (reserved IPs carry no name or tag: identified by
     * assignment). `createdIps` are the ones this activity made, earlier attempts included (kept in heartbeat
     * details, and a lost answer is looked for before failing).
     */
    async ensureReservedIps(input: { dropletIds: number[] }): Promise<{ ips: string[]; created: number; createdIps: string[] }> {
      const assigned = async () => await api().list<{ ip: string; droplet: { id: number } | null }>('/v2/reserved_ips', 'reserved_ips');
      const all = await assigned();
      const ips: string[] = [];
      const createdIps: string[] = earlier<{ createdIps: string[] }>().createdIps ?? [];
      for (const id of input.dropletIds) {
        const have = all.find((r) => r.droplet?.id === id);
        if (have) {
          ips.push(have.ip);
          continue;
        }
        heartbeat({ createdIps, creatingFor: id });
        const r = await createOrFind(
          async () => (await api().request<{ reserved_ip: { ip: string } }>('POST', '/v2/reserved_ips', { droplet_id: id })).reserved_ip,
          async () => (await assigned()).find((x) => x.droplet?.id === id),
        );
        ips.push(r.ip);
        createdIps.push(r.ip);
        heartbeat({ createdIps });
      }
      return { ips, created: createdIps.filter((ip) => ips.includes(ip)).length, createdIps };
    },

    /**
     * The farm's active droplets as nodes to reach: addresses, role (from its role tag) and the fingerprint of the
     * host key it was given at creation (derived again here; public, safe in history). In name order.
     */
    async farmNodes(input: { farm: string }): Promise<{ nodes: FarmNode[]; tagged: number }> {
      const prefix = `${farmTag(input.farm)}-`;
      const droplets = await api().dropletsByTag(farmTag(input.farm));
      const nodes = droplets
        .filter((d) => d.status === 'active' && publicIp(d) && privateIp(d))
        .map((d) => ({
          name: d.name,
          role: (d.tags.find((t) => t.startsWith(prefix))?.slice(prefix.length) ?? null) as Role | null,
          publicIp: publicIp(d) as string,
          privateIp: privateIp(d) as string,
          hostKey: deriveHostKey(seed(), input.farm, d.name).fingerprint,
        }));
      // `tagged`: every droplet of the farm, active or not (a farm whose droplets are all off is there, not a typo).
      return { nodes: nodes.sort((a, b) => (a.name < b.name ? -1 : 1)), tagged: droplets.length };
    },

    /** The farm's droplets as DigitalOcean sees them (names, status, addresses). */
    async listFarmDroplets(input: { farm: string }): Promise<{ id: number; name: string; status: string; publicIp: string | null }[]> {
      return (await api().dropletsByTag(farmTag(input.farm))).map((d) => ({ id: d.id, name: d.name, status: d.status, publicIp: publicIp(d) })).sort((a, b) => (a.name < b.name ? -1 : 1));
    },

  };
  // Teardown and the undo steps live in digitalocean-teardown.ts; the worker registers both as one group.
  return { ...activities, ...createDigitalOceanTeardownActivities({ digitalocean }) };
}

/** A domain's A record as it was before a cutover touched it (`ip` null: there was none). */
export interface DnsBefore {
  /** The DigitalOcean domain (zone) serving it, and the record's name in it (`@` for the apex). */
  zone: string;
  name: string;
  recordId: number | null;
  ip: string | null;
  ttl: number | null;
}

/**
 * A migration's DNS cutover (issue 16) through DigitalOcean's domains API, on the migrate queue: the site's A
 * record's TTL lowered before the final copy, the record pointed at the farm, and put back on a rollback. Every
 * one looks the record up first (by type and fully qualified name) and changes only what differs, so a retried
 * activity is harmless; the record as it was is kept in heartbeat details before the first change, so a retry
 * after a crash still reports the old TTL, not the lowered one.
 */
export function createDigitalOceanDnsActivities({ digitalocean, front, localFront }: Pick<ActivityDeps, 'digitalocean'> & Partial<Pick<ActivityDeps, 'front' | 'localFront'>>) {
  const api = (): DigitalOceanClient => doClient(digitalocean);
  /** The longest domain of the account the site's domain is in (www.shop.example in shop.example). */
  const zoneOf = async (domain: string): Promise<{ zone: string; name: string }> => {
    const zone = (await api().domainNames()).filter((z) => domain === z || domain.endsWith(`.${z}`)).sort((a, b) => b.length - a.length)[0];
    if (!zone) throw failure('CloudNotFound', `${domain} is in no domain of this DigitalOcean account: its DNS is not served there, so the cutover cannot switch it`);
    return { zone, name: domain === zone ? '@' : domain.slice(0, -zone.length - 1) };
  };
  const aRecords = async (zone: string, domain: string): Promise<DoDomainRecord[]> => {
    const found = await api().domainRecords(zone, { type: 'A', name: domain });
    if (found.length > 1) throw failure('CloudRequestRejected', `${domain} has ${found.length} A records (${found.map((r) => r.data).join(', ')}): a cutover switches one`);
    return found;
  };

  return {
    /** Lowers the TTL of the domain's A record to `ttl` (when higher) and says what the record was. */
    async lowerDnsTtl(input: { domain: string; ttl: number }): Promise<DnsBefore> {
      const before = earlier<{ before: DnsBefore }>().before;
      const { zone, name } = await zoneOf(input.domain);
      const [rec] = await aRecords(zone, input.domain);
      const was: DnsBefore = before ?? { zone, name, recordId: rec?.id ?? null, ip: rec?.data ?? null, ttl: rec?.ttl ?? null };
      heartbeat({ before: was });
      if (rec && rec.ttl > input.ttl) await api().updateDomainRecord(zone, rec.id, { ttl: input.ttl });
      return was;
    },

    /** Points the domain's A record at `ip` with `ttl` (created when there is none), then reads it back. */
    async pointDomainAt(input: { domain: string; ip: string; ttl: number }): Promise<{ zone: string; recordId: number; created: boolean }> {
      const { zone, name } = await zoneOf(input.domain);
      const [rec] = await aRecords(zone, input.domain);
      let id = rec?.id;
      if (!rec) {
        const find = async () => (await aRecords(zone, input.domain))[0];
        id = (await createOrFind(() => api().createDomainRecord(zone, { type: 'A', name, data: input.ip, ttl: input.ttl }), find)).id;
      } else if (rec.data !== input.ip || rec.ttl !== input.ttl) {
        await api().updateDomainRecord(zone, rec.id, { data: input.ip, ttl: input.ttl });
      }
      const now = await api().domainRecord(zone, id!);
      if (now.data !== input.ip) throw failure('CloudRequestRejected', `${input.domain}'s A record reads ${now.data} after it was pointed at ${input.ip}`);
      return { zone, recordId: id!, created: !rec };
    },

    /** The rollback: the A record as it was (address and TTL), or none when there was none. */
    async restoreDomainRecord(input: { domain: string; before: DnsBefore }): Promise<{ restored: string }> {
      const b = input.before;
      const [rec] = await aRecords(b.zone, input.domain);
      if (b.ip === null) {
        if (rec) await api().deleteDomainRecord(b.zone, rec.id).catch((e: unknown) => { if (!isType(e, 'CloudNotFound')) throw e; });
        return { restored: `no A record for ${input.domain}` };
      }
      if (!rec) await createOrFind(() => api().createDomainRecord(b.zone, { type: 'A', name: b.name, data: b.ip!, ttl: b.ttl ?? 1800 }), async () => (await aRecords(b.zone, input.domain))[0]);
      else if (rec.data !== b.ip || rec.ttl !== b.ttl) await api().updateDomainRecord(b.zone, rec.id, { data: b.ip, ...(b.ttl ? { ttl: b.ttl } : {}) });
      return { restored: `${input.domain} A ${b.ip} (TTL ${b.ttl ?? 1800} s)` };
    },

    /**
     * The address a migrated domain points at: on DigitalOcean the farm's reserved (floating) IP (the plan's
     * `floatingIps`, assigned to its front nodes; the lowest when there are several); on the local provider the
     * address of the local front (DROVER_FRONT_URL's host).
     */
    async farmFrontAddress(input: { farm: string; provider: 'local' | 'digitalocean' }): Promise<{ ip: string; from: string }> {
      if (input.provider === 'local') {
        const url = localFront?.url || front?.siteCheckUrl;
        if (!url) throw failure('ConfigMissing', 'DROVER_FRONT_URL: the local front\'s address is what a cutover points the domain at');
        const host = new URL(url).hostname;
        const ip = isIP(host) === 4 ? host : (await lookup(host, { family: 4 })).address;
        return { ip, from: `the local front (${url})` };
      }
      const droplets = new Set((await api().dropletsByTag(farmTag(input.farm))).map((d) => d.id));
      const ips = (await api().list<{ ip: string; droplet: { id: number } | null }>('/v2/reserved_ips', 'reserved_ips')).filter((r) => r.droplet && droplets.has(r.droplet.id)).map((r) => r.ip).sort();
      if (!ips.length) throw failure('ConfigMissing', `farm ${input.farm} has no reserved IP (the plan's floatingIps): nothing stable to point a migrated domain at`);
      return { ip: ips[0], from: `the farm's reserved IP` };
    },
  };
}

/**
 * A stateful emulator of the parts of DigitalOcean's public API v2 that Drover uses, for tests and benchmarks
 * (DigitalOcean itself cannot be reached from here). It follows the public API's shapes: bearer-token auth,
 * `{ droplet: … }` / `{ droplets: [], links: { pages: { next } }, meta: { total } }` envelopes, page/per_page
 * pagination (default 20, max 200), `tag_name` filters, 202 + actions for asynchronous work, 429 with
 * `Retry-After` and `ratelimit-*` headers, `{ id, message }` errors. Request and response fields follow the
 * published reference (github.com/digitalocean/openapi): a request field the reference does not list for the
 * endpoint is refused with 422 (the real API ignores it, so code relying on it would silently misbehave: load
 * balancers have a `tag` droplet selector but no `tags`), responses carry only the reference's fields (regions
 * as objects, no `tags` on load balancers or reserved IPs), and `name` cannot be combined with `tag_name` when
 * listing droplets. Domains and their DNS records (`/v2/domains`, `/v2/domains/{name}/records`) as well.
 * Behaviour the tests steer: droplets move `new` → `active` after `activeAfterMs`; a token bucket rate limit;
 * a 429 storm; the next N requests failing with 5xx; the next N matching requests carried out but answered with
 * 500 (a lost response); per-request latency. `/__emulator/*` exposes state and
 * controls and is not part of DigitalOcean's API.
 * With a `backing`, every droplet is also a real machine on this one (see local-droplets.ts): created when the
 * droplet is, given its cloud-init user data and the account's SSH keys, `active` only once it is up, and
 * removed when the droplet is destroyed. Its address is the droplet's (public and private are the same).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { REQUEST_FIELDS, unknownFields } from './api-reference';

/** Turns droplets into machines that SSH can reach (the emulator's stand-in for a hypervisor and cloud-init). */
export interface DropletBacking {
  boot(d: { id: number; name: string; tags: string[]; userData: string | null; authorizedKeys: string[] }): Promise<{ ip: string }>;
  destroy(d: { id: number; name: string }): Promise<void>;
}

export interface EmulatorOptions {
  backing?: DropletBacking;
  token?: string;
  /** How long a new droplet stays `new` (and its create action `in-progress`). */
  activeAfterMs?: number;
  /** Requests per second the bucket refills with, and its size; 0: no limit. */
  ratePerSecond?: number;
  burst?: number;
  /** Added to every response. */
  latencyMs?: number;
}

type Json = Record<string, unknown>;


interface Droplet {
  id: number;
  name: string;
  status: 'new' | 'active' | 'off';
  size_slug: string;
  region: string;
  image: string;
  tags: string[];
  vpc_uuid: string | null;
  created_at: string;
  activeAt: number;
  publicIp: string;
  privateIp: string;
  volume_ids: string[];
  /** The backing machine's failure, if it could not be booted. */
  bootError?: string;
}

interface DomainRecord {
  id: number;
  type: string;
  name: string;
  data: string;
  ttl: number;
  priority: number | null;
  port: number | null;
  weight: number | null;
  flags: number | null;
  tag: string | null;
}

/** The fields each record type requires on creation (the reference's attribute table). */
const RECORD_REQUIRED: Record<string, string[]> = {
  A: ['name', 'data'],
  AAAA: ['name', 'data'],
  CNAME: ['name', 'data'],
  TXT: ['name', 'data'],
  NS: ['name', 'data'],
  MX: ['data', 'priority'],
  SRV: ['name', 'data', 'priority', 'port', 'weight'],
  CAA: ['name', 'data', 'flags', 'tag'],
};

const isIpv4 = (x: unknown): boolean => typeof x === 'string' && /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.test(x) && x.split('.').every((o) => Number(o) <= 255);

interface Action {
  id: number;
  type: string;
  resource_id: number | string;
  resource_type: string;
  started_at: string;
  doneAt: number;
}

export class DigitalOceanEmulator {
  private server: http.Server;
  readonly opts: Required<EmulatorOptions>;
  private nextId = 3000000;
  droplets = new Map<number, Droplet>();
  actions = new Map<number, Action>();
  tags = new Set<string>();
  vpcs = new Map<string, Json>();
  volumes = new Map<string, Json & { id: string; name: string; region: unknown; droplet_ids: number[]; tags: string[] }>();
  firewalls = new Map<string, Json & { id: string; name: string; tags: string[] }>();
  loadBalancers = new Map<string, Json & { id: string; name: string; tag: string }>();
  reservedIps = new Map<string, Json & { ip: string; droplet_id: number | null }>();
  sshKeys = new Map<number, Json & { id: number; name: string; fingerprint: string; public_key: string }>();
  /** DNS zones by name, each with its records by id. */
  domains = new Map<string, Map<number, DomainRecord>>();
  /** Every request seen: method, path, status. */
  log: { method: string; path: string; status: number; at: number }[] = [];
  private tokens: number;
  private lastRefill = Date.now();
  private stormUntil = 0;
  private failNext = 0;
  /**
   * Requests answered wrongly on purpose, by method and path prefix, `n` times: `lose` carries the request out
   * but answers 500 (the response was lost); `refuse` answers 422 without doing anything.
   */
  private faults: { method: string; prefix: string; n: number; mode: 'lose' | 'refuse' }[] = [];
  /** Backing machines being booted or destroyed. */
  private work = new Set<Promise<unknown>>();

  constructor(opts: EmulatorOptions = {}) {
    this.opts = { token: 'emulator-token', activeAfterMs: 300, ratePerSecond: 0, burst: 0, latencyMs: 0, backing: undefined as unknown as DropletBacking, ...opts };
    this.tokens = this.opts.burst;
    this.server = http.createServer((req, res) => void this.handle(req, res));
  }

  async start(): Promise<string> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  stop(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((r) => this.server.close(() => r()));
  }

  /** Waits for every backing machine being booted or destroyed. */
  async settle(): Promise<void> {
    while (this.work.size) await Promise.allSettled([...this.work]);
  }

  private track(p: Promise<unknown>): void {
    const t = p.catch(() => undefined).finally(() => this.work.delete(t));
    this.work.add(t);
  }

  private boot(d: Droplet, userData: string | null, keyRefs: (string | number)[]): void {
    const backing = this.opts.backing;
    const earliest = d.activeAt;
    d.activeAt = Number.POSITIVE_INFINITY;
    const authorizedKeys = [...this.sshKeys.values()].filter((k) => keyRefs.includes(k.fingerprint) || keyRefs.includes(k.id)).map((k) => k.public_key);
    this.track(
      backing.boot({ id: d.id, name: d.name, tags: d.tags, userData, authorizedKeys }).then(
        async ({ ip }) => {
          if (!this.droplets.has(d.id)) return backing.destroy({ id: d.id, name: d.name }); // destroyed while booting
          d.publicIp = ip;
          d.privateIp = ip;
          d.activeAt = Math.max(earliest, Date.now());
        },
        (err: Error) => (d.bootError = err.message),
      ),
    );
  }

  /** Every request gets 429 (Retry-After: 1) for `ms`. */
  storm(ms: number): void {
    this.stormUntil = Date.now() + ms;
  }

  /** The next `n` requests fail with 500 or 503. */
  fail(n: number): void {
    this.failNext = n;
  }

  /** The next `n` requests `method` on paths starting with `prefix` are carried out, but answered with 500. */
  loseResponses(method: string, prefix: string, n: number): void {
    this.faults.push({ method, prefix, n, mode: 'lose' });
  }

  /** The next `n` requests `method` on paths starting with `prefix` are refused with 422 (nothing is done). */
  refuse(method: string, prefix: string, n: number): void {
    this.faults.push({ method, prefix, n, mode: 'refuse' });
  }

  /** The fault this request meets, if any (first set, first met), used up by one. */
  private fault(method: string, path: string): 'lose' | 'refuse' | null {
    const f = this.faults.find((x) => x.n > 0 && x.method === method && path.startsWith(x.prefix));
    if (!f) return null;
    f.n--;
    return f.mode;
  }

  private id(): number {
    return this.nextId++;
  }

  private uuid(): string {
    const h = this.id().toString(16).padStart(12, '0');
    return `e0e0e0e0-0000-4000-8000-${h}`;
  }

  private refresh(): void {
    const now = Date.now();
    for (const d of this.droplets.values()) if (d.status === 'new' && now >= d.activeAt) d.status = 'active';
  }

  private dropletJson(d: Droplet): Json {
    return {
      id: d.id,
      name: d.name,
      status: d.status,
      memory: 0,
      vcpus: 0,
      disk: 0,
      locked: false,
      created_at: d.created_at,
      size_slug: d.size_slug,
      region: { slug: d.region, name: d.region },
      image: { slug: d.image },
      tags: d.tags,
      vpc_uuid: d.vpc_uuid,
      volume_ids: d.volume_ids,
      networks: {
        v4:
          d.status === 'new'
            ? []
            : [
                { ip_address: d.publicIp, netmask: '255.255.240.0', gateway: '203.0.113.1', type: 'public' },
                { ip_address: d.privateIp, netmask: '255.255.240.0', gateway: '10.110.0.1', type: 'private' },
              ],
        v6: [],
      },
    };
  }

  private actionJson(a: Action): Json {
    const done = Date.now() >= a.doneAt;
    return { id: a.id, status: done ? 'completed' : 'in-progress', type: a.type, started_at: a.started_at, completed_at: done ? new Date(a.doneAt).toISOString() : null, resource_id: a.resource_id, resource_type: a.resource_type, region_slug: 'fra1' };
  }

  private action(type: string, resourceId: number | string, resourceType: string, afterMs: number): Action {
    const a = { id: this.id(), type, resource_id: resourceId, resource_type: resourceType, started_at: new Date().toISOString(), doneAt: Date.now() + afterMs };
    this.actions.set(a.id, a);
    return a;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://emulator');
    let body: Json = {};
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (chunks.length) {
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Json;
      } catch {
        return this.send(req, res, 400, { id: 'bad_request', message: 'invalid JSON' });
      }
    }
    if (this.opts.latencyMs) await new Promise((r) => setTimeout(r, this.opts.latencyMs));
    if (url.pathname.startsWith('/__emulator/')) return this.control(req, res, url, body);
    if (req.headers.authorization !== `Bearer ${this.opts.token}`) return this.send(req, res, 401, { id: 'unauthorized', message: 'Unable to authenticate you' });
    if (Date.now() < this.stormUntil) return this.send(req, res, 429, { id: 'too_many_requests', message: 'API Rate limit exceeded.' }, { 'Retry-After': '1' });
    if (this.opts.ratePerSecond) {
      const now = Date.now();
      this.tokens = Math.min(this.opts.burst, this.tokens + ((now - this.lastRefill) / 1000) * this.opts.ratePerSecond);
      this.lastRefill = now;
      if (this.tokens < 1) {
        const wait = Math.ceil((1 - this.tokens) / this.opts.ratePerSecond);
        return this.send(req, res, 429, { id: 'too_many_requests', message: 'API Rate limit exceeded.' }, { 'Retry-After': String(Math.max(1, wait)) });
      }
      this.tokens -= 1;
    }
    if (this.failNext > 0) {
      this.failNext--;
      return this.send(req, res, this.failNext % 2 ? 503 : 500, { id: 'server_error', message: 'Server was unable to give you a response.' });
    }
    this.refresh();
    const fault = this.fault(req.method ?? 'GET', url.pathname);
    if (fault === 'refuse') return this.send(req, res, 422, { id: 'unprocessable_entity', message: 'refused by the emulator (test fault)' });
    try {
      const [status, out] = this.route(req.method ?? 'GET', url, body);
      if (fault === 'lose' && status < 400) return this.send(req, res, 500, { id: 'server_error', message: 'Server was unable to give you a response.' });
      this.send(req, res, status, out);
    } catch (err) {
      const e = err as { status?: number; id?: string; message: string };
      this.send(req, res, e.status ?? 500, { id: e.id ?? 'server_error', message: e.message });
    }
  }

  private send(req: http.IncomingMessage, res: http.ServerResponse, status: number, body: Json | null, headers: Record<string, string> = {}): void {
    this.log.push({ method: req.method ?? 'GET', path: (req.url ?? '').split('?')[0], status, at: Date.now() });
    const remaining = this.opts.ratePerSecond ? Math.max(0, Math.floor(this.tokens)) : 5000;
    res.writeHead(status, { 'Content-Type': 'application/json', 'ratelimit-limit': '5000', 'ratelimit-remaining': String(remaining), 'ratelimit-reset': String(Math.floor(Date.now() / 1000) + 60), ...headers });
    res.end(status === 204 || body === null ? undefined : JSON.stringify(body));
  }

  private page<T>(url: URL, key: string, items: T[]): [number, Json] {
    const perPage = Math.min(200, Math.max(1, Number(url.searchParams.get('per_page') ?? 20)));
    const page = Math.max(1, Number(url.searchParams.get('page') ?? 1));
    const slice = items.slice((page - 1) * perPage, page * perPage);
    const pages: Json = {};
    if (page * perPage < items.length) {
      const next = new URL(url.toString());
      next.searchParams.set('page', String(page + 1));
      pages.next = `https://api.digitalocean.com${next.pathname}${next.search}`;
    }
    return [200, { [key]: slice, links: { pages }, meta: { total: items.length } }];
  }

  private route(method: string, url: URL, body: Json): [number, Json | null] {
    const p = url.pathname.replace(/\/$/, '');
    const m = (re: RegExp) => re.exec(p);
    const tagged = <T extends { tags: string[] }>(xs: Iterable<T>) => {
      const tag = url.searchParams.get('tag_name');
      return [...xs].filter((x) => !tag || x.tags.includes(tag));
    };
    const notFound = () => Object.assign(new Error('The resource you were accessing could not be found.'), { status: 404, id: 'not_found' });
    const unprocessable = (message: string) => Object.assign(new Error(message), { status: 422, id: 'unprocessable_entity' });
    const shape = p.replace(/^(\/v2\/[a-z_]+)\/[^/]+\/actions$/, '$1/:id/actions').replace(/^\/v2\/domains\/[^/]+\/records(\/[^/]+)?$/, (_, id?: string) => `/v2/domains/:name/records${id ? '/:id' : ''}`);
    const allowed = REQUEST_FIELDS[`${method} ${shape}`];
    if (allowed) {
      const unknown = unknownFields(body, allowed);
      if (unknown.length) throw unprocessable(`unknown field${unknown.length > 1 ? 's' : ''} in the request: ${unknown.join(', ')}`);
    }

    if (method === 'GET' && p === '/v2/account') return [200, { account: { droplet_limit: 100, status: 'active', email: 'ops@example.com' } }];
    // Droplets
    if (method === 'POST' && p === '/v2/droplets') {
      const names = (body.names as string[] | undefined) ?? [body.name as string];
      if (!names.every((n) => typeof n === 'string' && /^[a-zA-Z0-9.-]{1,255}$/.test(n))) throw unprocessable('name is invalid');
      if (!body.size || !body.region || !body.image) throw unprocessable('size, region and image are required');
      const created = names.map((name) => {
        const id = this.id();
        const n = this.droplets.size + 1;
        const d: Droplet = { id, name, status: 'new', size_slug: String(body.size), region: String(body.region), image: String(body.image), tags: [...((body.tags as string[]) ?? [])], vpc_uuid: (body.vpc_uuid as string) ?? null, created_at: new Date().toISOString(), activeAt: Date.now() + this.opts.activeAfterMs, publicIp: `203.0.${113 + Math.floor(n / 250)}.${(n % 250) + 2}`, privateIp: `10.110.${Math.floor(n / 250)}.${(n % 250) + 2}`, volume_ids: [] };
        d.tags.forEach((t) => this.tags.add(t));
        this.droplets.set(id, d);
        if (this.opts.backing) this.boot(d, typeof body.user_data === 'string' ? body.user_data : null, (body.ssh_keys as (string | number)[] | undefined) ?? []);
        return { d, a: this.action('create', id, 'droplet', this.opts.activeAfterMs) };
      });
      if (body.names) return [202, { droplets: created.map((c) => this.dropletJson(c.d)), links: { actions: created.map((c) => ({ id: c.a.id, rel: 'create', href: `/v2/actions/${c.a.id}` })) } }];
      return [202, { droplet: this.dropletJson(created[0].d), links: { actions: [{ id: created[0].a.id, rel: 'create', href: `/v2/actions/${created[0].a.id}` }] } }];
    }
    if (method === 'GET' && p === '/v2/droplets') {
      const name = url.searchParams.get('name');
      if (name && url.searchParams.get('tag_name')) throw unprocessable('name can not be combined with tag_name');
      return this.page(url, 'droplets', tagged(this.droplets.values()).filter((d) => !name || d.name === name).map((d) => this.dropletJson(d)));
    }
    if (method === 'DELETE' && p === '/v2/droplets') {
      const tag = url.searchParams.get('tag_name');
      if (!tag) throw unprocessable('tag_name is required');
      for (const d of tagged(this.droplets.values())) this.removeDroplet(d.id);
      return [204, null];
    }
    let r = m(/^\/v2\/droplets\/(\d+)$/);
    if (r && method === 'GET') {
      const d = this.droplets.get(Number(r[1]));
      if (!d) throw notFound();
      return [200, { droplet: this.dropletJson(d) }];
    }
    if (r && method === 'DELETE') {
      if (!this.droplets.has(Number(r[1]))) throw notFound();
      this.removeDroplet(Number(r[1]));
      return [204, null];
    }
    r = m(/^\/v2\/actions\/(\d+)$/);
    if (r && method === 'GET') {
      const a = this.actions.get(Number(r[1]));
      if (!a) throw notFound();
      return [200, { action: this.actionJson(a) }];
    }
    // Tags
    if (method === 'POST' && p === '/v2/tags') {
      const name = String(body.name ?? '');
      if (!/^[a-zA-Z0-9_:-]{1,255}$/.test(name)) return [400, { error: `Error validating resource tag: "tag-name \\"${name}\\" contains invalid characters"`, messages: null, root_causes: [] }];
      this.tags.add(name);
      return [201, { tag: { name, resources: {} } }];
    }
    r = m(/^\/v2\/tags\/([^/]+)$/);
    if (r && method === 'DELETE') {
      this.tags.delete(decodeURIComponent(r[1]));
      return [204, null];
    }
    // SSH keys
    if (method === 'GET' && p === '/v2/account/keys') return this.page(url, 'ssh_keys', [...this.sshKeys.values()]);
    if (method === 'POST' && p === '/v2/account/keys') {
      const pub = String(body.public_key ?? '');
      if ([...this.sshKeys.values()].some((k) => k.public_key === pub)) throw unprocessable('SSH Key is already in use on your account');
      const id = this.id();
      const key = { id, name: String(body.name), public_key: pub, fingerprint: `fp:${id}` };
      this.sshKeys.set(id, key);
      return [201, { ssh_key: key }];
    }
    // VPCs
    if (method === 'GET' && p === '/v2/vpcs') return this.page(url, 'vpcs', [...this.vpcs.values()]);
    if (method === 'POST' && p === '/v2/vpcs') {
      if ([...this.vpcs.values()].some((v) => v.name === body.name)) throw unprocessable('name is already in use');
      const id = this.uuid();
      // As the reference says: the first VPC created in a region becomes that region's default.
      const first = ![...this.vpcs.values()].some((v) => v.region === body.region);
      const vpc = { id, urn: `do:vpc:${id}`, name: body.name, description: body.description ?? '', region: body.region, ip_range: body.ip_range, default: first, created_at: new Date().toISOString() };
      this.vpcs.set(id, vpc);
      return [201, { vpc }];
    }
    r = m(/^\/v2\/vpcs\/([^/]+)$/);
    if (r && method === 'DELETE') {
      // The reference: deleting a region's default VPC, or a VPC that still has members, answers 403 Forbidden.
      if (!this.vpcs.has(r[1])) throw notFound();
      if (this.vpcs.get(r[1])!.default) throw Object.assign(new Error('Can not delete the default VPC of a region'), { status: 403, id: 'forbidden' });
      if ([...this.droplets.values()].some((d) => d.vpc_uuid === r![1])) throw Object.assign(new Error('Can not delete VPC with members'), { status: 403, id: 'forbidden' });
      this.vpcs.delete(r[1]);
      return [204, null];
    }
    // Volumes
    if (method === 'GET' && p === '/v2/volumes') {
      const name = url.searchParams.get('name');
      const region = url.searchParams.get('region');
      return this.page(url, 'volumes', [...this.volumes.values()].filter((v) => (!name || v.name === name) && (!region || v.region === region)).map((v) => ({ ...v, region: { slug: v.region, name: v.region } })));
    }
    if (method === 'POST' && p === '/v2/volumes') {
      if ([...this.volumes.values()].some((v) => v.name === body.name && v.region === body.region)) throw unprocessable('a volume with that name already exists');
      const id = this.uuid();
      const v = { id, name: String(body.name), region: body.region, size_gigabytes: body.size_gigabytes, description: body.description ?? '', droplet_ids: [] as number[], tags: [...((body.tags as string[]) ?? [])], filesystem_type: body.filesystem_type ?? '', created_at: new Date().toISOString() };
      this.volumes.set(id, v);
      return [201, { volume: { ...v, region: { slug: v.region, name: v.region } } }];
    }
    r = m(/^\/v2\/volumes\/([^/]+)\/actions$/);
    if (r && method === 'POST') {
      const v = this.volumes.get(r[1]);
      const d = this.droplets.get(Number(body.droplet_id));
      if (!v || !d) throw notFound();
      if (body.type === 'attach') {
        if (v.droplet_ids.length && !v.droplet_ids.includes(d.id)) throw unprocessable('volume is already attached to another droplet');
        if (!v.droplet_ids.includes(d.id)) v.droplet_ids.push(d.id);
        if (!d.volume_ids.includes(v.id)) d.volume_ids.push(v.id);
      } else if (body.type === 'detach') {
        v.droplet_ids = v.droplet_ids.filter((x) => x !== d.id);
        d.volume_ids = d.volume_ids.filter((x) => x !== v.id);
      } else throw unprocessable('unknown action type');
      return [202, { action: this.actionJson(this.action(`${String(body.type)}_volume`, v.id, 'volume', 50)) }];
    }
    r = m(/^\/v2\/volumes\/([^/]+)$/);
    if (r && method === 'DELETE') {
      const v = this.volumes.get(r[1]);
      if (!v) throw notFound();
      if (v.droplet_ids.length) throw Object.assign(new Error('volume is attached'), { status: 409, id: 'conflict' });
      this.volumes.delete(r[1]);
      return [204, null];
    }
    // Firewalls, load balancers, reserved IPs: list, create, delete.
    for (const [path, key, store, create] of [
      ['/v2/firewalls', 'firewall', this.firewalls, (id: string) => ({ id, name: String(body.name), status: 'succeeded', inbound_rules: body.inbound_rules ?? [], outbound_rules: body.outbound_rules ?? [], droplet_ids: body.droplet_ids ?? [], tags: [...((body.tags as string[]) ?? [])], created_at: new Date().toISOString() })],
      ['/v2/load_balancers', 'load_balancer', this.loadBalancers, (id: string) => ({ id, name: String(body.name), ip: '198.51.100.10', status: 'active', region: { slug: body.region, name: body.region }, size_unit: body.size_unit ?? 1, forwarding_rules: body.forwarding_rules ?? [], health_check: body.health_check ?? {}, droplet_ids: body.droplet_ids ?? [], tag: String(body.tag ?? ''), vpc_uuid: body.vpc_uuid ?? null, created_at: new Date().toISOString() })],
    ] as const) {
      const plural = `${key}s`;
      if (method === 'GET' && p === path) return this.page(url, plural, [...store.values()]);
      if (method === 'POST' && p === path) {
        if (key === 'load_balancer' && (!body.region || (!body.tag && !body.droplet_ids))) throw unprocessable('region and one of tag or droplet_ids are required');
        if ([...store.values()].some((x) => x.name === body.name)) throw unprocessable(`${key} name is already in use`);
        const id = this.uuid();
        const x = create(id);
        (store as Map<string, unknown>).set(id, x);
        return [202, { [key]: x }];
      }
      r = m(new RegExp(`^${path}/([^/]+)$`));
      if (r && method === 'DELETE') {
        if (!store.delete(r[1])) throw notFound();
        return [204, null];
      }
    }
    if (method === 'GET' && p === '/v2/reserved_ips') return this.page(url, 'reserved_ips', [...this.reservedIps.values()].map((x) => this.reservedIpJson(x)));
    if (method === 'POST' && p === '/v2/reserved_ips') {
      if (Boolean(body.droplet_id) === Boolean(body.region)) throw unprocessable('exactly one of droplet_id or region is required');
      const ip = `198.51.100.${20 + this.reservedIps.size}`;
      const d = body.droplet_id ? this.droplets.get(Number(body.droplet_id)) : undefined;
      if (body.droplet_id && !d) throw notFound();
      const x = { ip, droplet_id: d?.id ?? null, region: body.region ?? d?.region };
      this.reservedIps.set(ip, x);
      return [202, { reserved_ip: this.reservedIpJson(x), links: {} }];
    }
    r = m(/^\/v2\/reserved_ips\/([^/]+)$/);
    if (r && method === 'DELETE') {
      if (!this.reservedIps.delete(r[1])) throw notFound();
      return [204, null];
    }
    const dns = this.routeDomains(method, p, url, body, notFound, unprocessable);
    if (dns) return dns;
    throw notFound();
  }

  /**
   * Domains and their records (specification/resources/domains): a new domain gets its three NS records and, with
   * `ip_address`, an A record for `@` (TTL 1800). Records are refused as the API refuses them: no `type` or an
   * unknown one, a field the type requires missing (A, AAAA, CNAME, TXT: name and data; MX: data and priority;
   * SRV: name, data, priority, port and weight; CAA: name, data, flags and tag), an A record whose data is no
   * IPv4 address, a TTL under 30 s; an unknown domain or record id answers 404. The list filters `type` and
   * `name` (fully qualified: `example.com` is the apex record `@`).
   */
  private routeDomains(method: string, p: string, url: URL, body: Json, notFound: () => Error, unprocessable: (m: string) => Error): [number, Json | null] | null {
    if (method === 'GET' && p === '/v2/domains') return this.page(url, 'domains', [...this.domains.keys()].map((n) => this.domainJson(n)));
    if (method === 'POST' && p === '/v2/domains') {
      const name = typeof body.name === 'string' ? body.name.toLowerCase() : '';
      if (!name) throw unprocessable('name is required');
      if (!/^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/.test(name)) throw unprocessable('name is invalid');
      if (this.domains.has(name)) throw unprocessable(`${name} already exists`);
      if (body.ip_address !== undefined && !isIpv4(body.ip_address)) throw unprocessable('ip_address is invalid');
      const records = new Map<number, DomainRecord>();
      for (const ns of ['ns1', 'ns2', 'ns3']) this.addRecord(records, { type: 'NS', name: '@', data: `${ns}.digitalocean.com`, ttl: 1800 });
      if (body.ip_address) this.addRecord(records, { type: 'A', name: '@', data: String(body.ip_address), ttl: 1800 });
      this.domains.set(name, records);
      return [201, { domain: { name, ttl: 1800, zone_file: null } }];
    }
    let r = /^\/v2\/domains\/([^/]+)$/.exec(p);
    if (r) {
      const name = decodeURIComponent(r[1]);
      if (!this.domains.has(name)) throw notFound();
      if (method === 'GET') return [200, { domain: this.domainJson(name) }];
      if (method === 'DELETE') {
        this.domains.delete(name);
        return [204, null];
      }
      return null;
    }
    r = /^\/v2\/domains\/([^/]+)\/records(?:\/([^/]+))?$/.exec(p);
    if (!r) return null;
    const zone = decodeURIComponent(r[1]);
    const records = this.domains.get(zone);
    if (!records) throw notFound();
    if (r[2] === undefined) {
      if (method === 'GET') {
        const type = url.searchParams.get('type');
        const name = url.searchParams.get('name');
        const fqdn = (x: DomainRecord) => (x.name === '@' ? zone : `${x.name}.${zone}`);
        return this.page(url, 'domain_records', [...records.values()].filter((x) => (!type || x.type === type) && (!name || fqdn(x) === name)).map((x) => ({ ...x })));
      }
      if (method === 'POST') {
        const rec = this.checkRecord(body, null, unprocessable);
        return [201, { domain_record: { ...this.addRecord(records, rec) } }];
      }
      return null;
    }
    const rec = /^\d+$/.test(r[2]) ? records.get(Number(r[2])) : undefined;
    if (!rec) throw notFound();
    if (method === 'GET') return [200, { domain_record: { ...rec } }];
    if (method === 'DELETE') {
      records.delete(rec.id);
      return [204, null];
    }
    if (method === 'PATCH' || method === 'PUT') {
      if (body.type !== undefined && body.type !== rec.type) throw unprocessable('type cannot be changed');
      const next = this.checkRecord({ ...rec, ...body }, rec, unprocessable);
      Object.assign(rec, next);
      return [200, { domain_record: { ...rec } }];
    }
    return null;
  }

  private domainJson(name: string): Json {
    const lines = [...(this.domains.get(name)?.values() ?? [])].map((x) => `${x.name === '@' ? `${name}.` : `${x.name}.${name}.`} ${x.ttl} IN ${x.type} ${x.data}`);
    return { name, ttl: 1800, zone_file: [`$ORIGIN ${name}.`, '$TTL 1800', ...lines].join('\n') + '\n' };
  }

  private addRecord(records: Map<number, DomainRecord>, r: Omit<DomainRecord, 'id' | 'priority' | 'port' | 'weight' | 'flags' | 'tag'> & Partial<DomainRecord>): DomainRecord {
    const rec: DomainRecord = { id: this.id(), priority: null, port: null, weight: null, flags: null, tag: null, ...r };
    records.set(rec.id, rec);
    return rec;
  }

  /** A record as the API would store it, or the API's refusal. */
  private checkRecord(body: Json, was: DomainRecord | null, unprocessable: (m: string) => Error): Omit<DomainRecord, 'id'> {
    const type = body.type;
    if (typeof type !== 'string' || !type) throw unprocessable('type is required');
    const required = RECORD_REQUIRED[type];
    if (!required) throw unprocessable(`type ${type} is not a supported record type`);
    const missing = required.filter((f) => body[f] === undefined || body[f] === null || body[f] === '');
    if (missing.length) throw unprocessable(`${missing.join(', ')} ${missing.length > 1 ? 'are' : 'is'} required for ${type} records`);
    const ttl = body.ttl === undefined || body.ttl === null ? (was?.ttl ?? 1800) : body.ttl;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 30) throw unprocessable('ttl must be an integer of at least 30 seconds');
    if (type === 'A' && !isIpv4(body.data)) throw unprocessable('data must be an IPv4 address for A records');
    const int = (k: string) => (body[k] === undefined || body[k] === null ? null : Number(body[k]));
    return { type, name: body.name === undefined ? '@' : String(body.name), data: String(body.data), ttl, priority: int('priority'), port: int('port'), weight: int('weight'), flags: int('flags'), tag: body.tag === undefined || body.tag === null ? null : String(body.tag) };
  }

  private reservedIpJson(x: { ip: string; droplet_id: number | null; region?: unknown }): Json {
    const d = x.droplet_id ? this.droplets.get(x.droplet_id) : undefined;
    return { ip: x.ip, region: { slug: x.region }, droplet: d ? this.dropletJson(d) : null, locked: false };
  }

  private removeDroplet(id: number): void {
    const d = this.droplets.get(id);
    if (!d) return;
    for (const v of this.volumes.values()) v.droplet_ids = v.droplet_ids.filter((x) => x !== id);
    for (const ip of this.reservedIps.values()) if (ip.droplet_id === id) ip.droplet_id = null;
    this.droplets.delete(id);
    if (this.opts.backing && d.activeAt !== Number.POSITIVE_INFINITY) this.track(this.opts.backing.destroy({ id, name: d.name }));
  }

  private control(req: http.IncomingMessage, res: http.ServerResponse, url: URL, body: Json): void {
    if (url.pathname === '/__emulator/state') {
      return this.send(req, res, 200, {
        droplets: [...this.droplets.values()].map((d) => ({ id: d.id, name: d.name, status: d.status, tags: d.tags, volume_ids: d.volume_ids })),
        volumes: [...this.volumes.values()].map((v) => ({ id: v.id, name: v.name, droplet_ids: v.droplet_ids })),
        firewalls: [...this.firewalls.values()].map((f) => f.name),
        loadBalancers: [...this.loadBalancers.values()].map((l) => l.name),
        reservedIps: [...this.reservedIps.values()].map((r) => ({ ip: r.ip, droplet_id: r.droplet_id })),
        vpcs: [...this.vpcs.values()].map((v) => v.name),
        requests: this.log.length,
        throttled: this.log.filter((l) => l.status === 429).length,
      });
    }
    if (url.pathname === '/__emulator/storm') {
      this.storm(Number(body.ms ?? 5000));
      return this.send(req, res, 200, { ok: true });
    }
    if (url.pathname === '/__emulator/lose') {
      this.loseResponses(String(body.method ?? 'POST'), String(body.prefix ?? '/v2/'), Number(body.count ?? 1));
      return this.send(req, res, 200, { ok: true });
    }
    if (url.pathname === '/__emulator/fail') {
      this.fail(Number(body.count ?? 1));
      return this.send(req, res, 200, { ok: true });
    }
    this.send(req, res, 404, { id: 'not_found', message: 'no such control' });
  }
}

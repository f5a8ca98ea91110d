/**
 * A stateful emulator of the parts of DigitalOcean's public API v2 that Drover uses, for tests and benchmarks
 * (DigitalOcean itself cannot be reached from here). It follows the public API's shapes: bearer-token auth,
 * `{ droplet: … }` / `{ droplets: [], links: { pages: { next } }, meta: { total } }` envelopes, page/per_page
 * pagination (default 20, max 200), `tag_name` filters, 202 + actions for asynchronous work, 429 with
 * `Retry-After` and `ratelimit-*` headers, `{ id, message }` errors.
 * Behaviour the tests steer: droplets move `new` → `active` after `activeAfterMs`; a token bucket rate limit;
 * a 429 storm; the next N requests failing with 5xx; per-request latency. `/__emulator/*` exposes state and
 * controls and is not part of DigitalOcean's API.
 * With a `backing`, every droplet is also a real machine on this one (see local-droplets.ts): created when the
 * droplet is, given its cloud-init user data and the account's SSH keys, `active` only once it is up, and
 * removed when the droplet is destroyed. Its address is the droplet's (public and private are the same).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

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
  volumes = new Map<string, Json & { id: string; name: string; droplet_ids: number[]; tags: string[] }>();
  firewalls = new Map<string, Json & { id: string; name: string; tags: string[] }>();
  loadBalancers = new Map<string, Json & { id: string; name: string; tags: string[] }>();
  reservedIps = new Map<string, Json & { ip: string; droplet_id: number | null; tags: string[] }>();
  sshKeys = new Map<number, Json & { id: number; name: string; fingerprint: string; public_key: string }>();
  /** Every request seen: method, path, status. */
  log: { method: string; path: string; status: number; at: number }[] = [];
  private tokens: number;
  private lastRefill = Date.now();
  private stormUntil = 0;
  private failNext = 0;
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
    try {
      const [status, out] = this.route(req.method ?? 'GET', url, body);
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
      if (!/^[a-zA-Z0-9_:-]{1,255}$/.test(name)) throw unprocessable('tag name is invalid');
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
      const vpc = { id, urn: `do:vpc:${id}`, name: body.name, description: body.description ?? '', region: body.region, ip_range: body.ip_range, default: false, created_at: new Date().toISOString() };
      this.vpcs.set(id, vpc);
      return [201, { vpc }];
    }
    r = m(/^\/v2\/vpcs\/([^/]+)$/);
    if (r && method === 'DELETE') {
      if ([...this.droplets.values()].some((d) => d.vpc_uuid === r![1])) throw Object.assign(new Error('Can not delete VPC with members'), { status: 409, id: 'conflict' });
      if (!this.vpcs.delete(r[1])) throw notFound();
      return [204, null];
    }
    // Volumes
    if (method === 'GET' && p === '/v2/volumes') {
      const name = url.searchParams.get('name');
      return this.page(url, 'volumes', [...this.volumes.values()].filter((v) => !name || v.name === name));
    }
    if (method === 'POST' && p === '/v2/volumes') {
      if ([...this.volumes.values()].some((v) => v.name === body.name && v.region === body.region)) throw unprocessable('a volume with that name already exists');
      const id = this.uuid();
      const v = { id, name: String(body.name), region: body.region, size_gigabytes: body.size_gigabytes, description: body.description ?? '', droplet_ids: [] as number[], tags: [...((body.tags as string[]) ?? [])], filesystem_type: body.filesystem_type ?? '', created_at: new Date().toISOString() };
      this.volumes.set(id, v);
      return [201, { volume: v }];
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
      ['/v2/load_balancers', 'load_balancer', this.loadBalancers, (id: string) => ({ id, name: String(body.name), ip: '198.51.100.10', status: 'active', region: { slug: body.region }, forwarding_rules: body.forwarding_rules ?? [], health_check: body.health_check ?? {}, droplet_ids: body.droplet_ids ?? [], tag: body.tag ?? '', vpc_uuid: body.vpc_uuid ?? null, tags: [...((body.tags as string[]) ?? [])], created_at: new Date().toISOString() })],
    ] as const) {
      const plural = `${key}s`;
      if (method === 'GET' && p === path) return this.page(url, plural, [...store.values()]);
      if (method === 'POST' && p === path) {
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
      const ip = `198.51.100.${20 + this.reservedIps.size}`;
      const d = body.droplet_id ? this.droplets.get(Number(body.droplet_id)) : undefined;
      if (body.droplet_id && !d) throw notFound();
      const x = { ip, droplet_id: d?.id ?? null, region: body.region ?? d?.region, tags: [] as string[] };
      this.reservedIps.set(ip, x);
      return [202, { reserved_ip: this.reservedIpJson(x), links: {} }];
    }
    r = m(/^\/v2\/reserved_ips\/([^/]+)$/);
    if (r && method === 'DELETE') {
      if (!this.reservedIps.delete(r[1])) throw notFound();
      return [204, null];
    }
    throw notFound();
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
    if (url.pathname === '/__emulator/fail') {
      this.fail(Number(body.count ?? 1));
      return this.send(req, res, 200, { ok: true });
    }
    this.send(req, res, 404, { id: 'not_found', message: 'no such control' });
  }
}

/**
 * A small typed client for the DigitalOcean API v2 calls Drover makes (droplets, actions, tags, VPCs, volumes,
 * firewalls, load balancers, reserved IPs, SSH keys, domains and their DNS records). Written here rather than taken from npm: `digitalocean-js`
 * shares one global axios instance between clients, reads only the first page of every list (20 droplets: a
 * find-or-create over a 33-node farm would miss some and create duplicates) and has no VPC API; the official
 * `@digitalocean/dots` is ESM-only and 71 MB (docs/decisions.md). Errors are classified once, here:
 * 429 → CloudThrottled with the server's Retry-After; 5xx and network errors → CloudUnavailable (both retried);
 * 401/403 → CloudAuthFailed (except a VPC's DELETE: 403 there means the region's default VPC or members left,
 * CloudRequestRejected); 404 → CloudNotFound; other 4xx → CloudRequestRejected (permanent). Every request
 * has a timeout (20 s by default, inside the activity's 30 s): one that gets no answer is CloudUnavailable and
 * retried, never a hung activity. Fields used are the ones DigitalOcean's published reference lists
 * (github.com/digitalocean/openapi); the emulator in test/do-emulator refuses any other.
 */
import { failure } from './errors';

export interface DoDroplet {
  id: number;
  name: string;
  status: 'new' | 'active' | 'off' | 'archive';
  size_slug: string;
  region: { slug: string };
  tags: string[];
  vpc_uuid: string | null;
  volume_ids: string[];
  created_at?: string;
  networks: { v4: { ip_address: string; type: 'public' | 'private' }[] };
}

export interface DoLoadBalancer {
  id: string;
  name: string;
  /** The droplet tag it balances over (the API's only tag on a load balancer: it has no `tags`). */
  tag?: string;
  droplet_ids?: number[];
}

/** Default time a request may take before it counts as unanswered. */
export const DEFAULT_REQUEST_TIMEOUT_MS = 20_000;

export interface DoAction {
  id: number;
  status: 'in-progress' | 'completed' | 'errored';
  type: string;
}

/** A DNS record of a domain DigitalOcean serves (`/v2/domains/{name}/records`). */
export interface DoDomainRecord {
  id: number;
  type: string;
  /** Relative to the domain: `@` for the apex, `www` for www.<domain>. */
  name: string;
  data: string;
  ttl: number;
  priority: number | null;
  port: number | null;
  weight: number | null;
  flags: number | null;
  tag: string | null;
}

/** The HTTP status of a failure the API answered (4xx), as the client recorded it; undefined for any other error. */
export function cloudStatus(err: unknown): number | undefined {
  const d = (err as { details?: unknown[] } | null)?.details?.[0] as { status?: unknown } | undefined;
  return typeof d?.status === 'number' ? d.status : undefined;
}

export class DigitalOceanClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly signal?: AbortSignal,
    private readonly opts: { timeoutMs?: number } = {},
  ) {}

  withSignal(signal: AbortSignal | undefined): DigitalOceanClient {
    return new DigitalOceanClient(this.baseUrl, this.token, signal, this.opts);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl.replace(/\/$/, '')}${path}`;
    const timeoutMs = this.opts.timeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = this.signal ? AbortSignal.any([this.signal, timeout]) : timeout;
    let res: Response;
    let text: string;
    try {
      res = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
      });
      text = await res.text();
    } catch (err) {
      const why = timeout.aborted && !this.signal?.aborted ? `no answer within ${timeoutMs} ms` : (err as Error).message;
      throw failure('CloudUnavailable', `${method} ${path}: ${why}`, { cause: err });
    }
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.ok) return json as T;
    // Most errors are `{ id, message }`; some (tags) are `{ error, messages, root_causes }`.
    const what = `${method} ${path}: ${res.status} ${String(json.id ?? '')} ${String(json.message ?? json.error ?? '')}`.trim();
    if (res.status === 429) {
      const after = Number(res.headers.get('retry-after'));
      throw failure('CloudThrottled', what, { retryAfterMs: Number.isFinite(after) && after > 0 ? after * 1000 : 5000 });
    }
    if (res.status >= 500) throw failure('CloudUnavailable', what);
    // DELETE /v2/vpcs/{id} answers 403 for a region's default VPC and for one that still has members (the
    // reference's words): a refusal about that VPC, not about the token.
    const details = [{ status: res.status }];
    if (res.status === 403 && method === 'DELETE' && path.startsWith('/v2/vpcs/')) throw failure('CloudRequestRejected', what, { details });
    if (res.status === 401 || res.status === 403) throw failure('CloudAuthFailed', what, { details });
    if (res.status === 404) throw failure('CloudNotFound', what, { details });
    throw failure('CloudRequestRejected', what, { details });
  }

  /** Every page of a list (`per_page=200`, following `links.pages.next`). */
  async list<T>(path: string, key: string, query: Record<string, string> = {}): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const q = new URLSearchParams({ ...query, page: String(page), per_page: '200' });
      const r = await this.request<Record<string, unknown> & { links?: { pages?: { next?: string } } }>('GET', `${path}?${q}`);
      out.push(...((r[key] as T[]) ?? []));
      if (!r.links?.pages?.next) return out;
    }
  }

  dropletsByTag(tag: string): Promise<DoDroplet[]> {
    return this.list<DoDroplet>('/v2/droplets', 'droplets', { tag_name: tag });
  }

  async droplet(id: number): Promise<DoDroplet> {
    return (await this.request<{ droplet: DoDroplet }>('GET', `/v2/droplets/${id}`)).droplet;
  }

  async createDroplet(req: { name: string; region: string; size: string; image: string; tags: string[]; vpc_uuid?: string; ssh_keys?: (string | number)[]; user_data?: string; monitoring?: boolean }): Promise<DoDroplet> {
    return (await this.request<{ droplet: DoDroplet }>('POST', '/v2/droplets', req)).droplet;
  }

  /** The domains (DNS zones) of the account, by name. */
  async domainNames(): Promise<string[]> {
    return (await this.list<{ name: string }>('/v2/domains', 'domains')).map((d) => d.name);
  }

  /** A zone's records, filtered by type and by fully qualified name (as the reference's `type`/`name` filters). */
  domainRecords(zone: string, filter: { type?: string; name?: string } = {}): Promise<DoDomainRecord[]> {
    const q: Record<string, string> = {};
    if (filter.type) q.type = filter.type;
    if (filter.name) q.name = filter.name;
    return this.list<DoDomainRecord>(`/v2/domains/${encodeURIComponent(zone)}/records`, 'domain_records', q);
  }

  async createDomainRecord(zone: string, r: { type: string; name: string; data: string; ttl?: number }): Promise<DoDomainRecord> {
    return (await this.request<{ domain_record: DoDomainRecord }>('POST', `/v2/domains/${encodeURIComponent(zone)}/records`, r)).domain_record;
  }

  async domainRecord(zone: string, id: number): Promise<DoDomainRecord> {
    return (await this.request<{ domain_record: DoDomainRecord }>('GET', `/v2/domains/${encodeURIComponent(zone)}/records/${id}`)).domain_record;
  }

  /** PATCH: only the fields given change (setting the same values again changes nothing: safe to retry). */
  async updateDomainRecord(zone: string, id: number, change: { data?: string; ttl?: number }): Promise<DoDomainRecord> {
    return (await this.request<{ domain_record: DoDomainRecord }>('PATCH', `/v2/domains/${encodeURIComponent(zone)}/records/${id}`, change)).domain_record;
  }

  async deleteDomainRecord(zone: string, id: number): Promise<void> {
    await this.request('DELETE', `/v2/domains/${encodeURIComponent(zone)}/records/${id}`);
  }

  async action(id: number): Promise<DoAction> {
    return (await this.request<{ action: DoAction }>('GET', `/v2/actions/${id}`)).action;
  }
}

export const publicIp = (d: DoDroplet): string | null => d.networks.v4.find((n) => n.type === 'public')?.ip_address ?? null;
export const privateIp = (d: DoDroplet): string | null => d.networks.v4.find((n) => n.type === 'private')?.ip_address ?? null;

/**
 * A small typed client for the DigitalOcean API v2 calls Drover makes (droplets, actions, tags, VPCs, volumes,
 * firewalls, load balancers, reserved IPs, SSH keys). Written here rather than taken from npm: `digitalocean-js`
 * shares one global axios instance between clients, reads only the first page of every list (20 droplets: a
 * find-or-create over a 33-node farm would miss some and create duplicates) and has no VPC API; the official
 * `@digitalocean/dots` is ESM-only and 71 MB (docs/decisions.md). Errors are classified once, here:
 * 429 → CloudThrottled with the server's Retry-After; 5xx and network errors → CloudUnavailable (both retried);
 * 401/403 → CloudAuthFailed; 404 → CloudNotFound; other 4xx → CloudRequestRejected (permanent).
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
  networks: { v4: { ip_address: string; type: 'public' | 'private' }[] };
}

export interface DoAction {
  id: number;
  status: 'in-progress' | 'completed' | 'errored';
  type: string;
}

export class DigitalOceanClient {
  constructor(
    readonly baseUrl: string,
    private readonly token: string,
    private readonly signal?: AbortSignal,
  ) {}

  withSignal(signal: AbortSignal | undefined): DigitalOceanClient {
    return new DigitalOceanClient(this.baseUrl, this.token, signal);
  }

  async request<T>(method: string, path: string, body?: unknown): Promise<T> {
    const url = `${this.baseUrl.replace(/\/$/, '')}${path}`;
    let res: Response;
    try {
      res = await fetch(url, {
        method,
        headers: { Authorization: `Bearer ${this.token}`, 'Content-Type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: this.signal,
      });
    } catch (err) {
      throw failure('CloudUnavailable', `${method} ${path}: ${(err as Error).message}`, { cause: err });
    }
    const text = await res.text();
    const json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    if (res.ok) return json as T;
    const what = `${method} ${path}: ${res.status} ${String(json.id ?? '')} ${String(json.message ?? '')}`.trim();
    if (res.status === 429) {
      const after = Number(res.headers.get('retry-after'));
      throw failure('CloudThrottled', what, { retryAfterMs: Number.isFinite(after) && after > 0 ? after * 1000 : 5000 });
    }
    if (res.status >= 500) throw failure('CloudUnavailable', what);
    if (res.status === 401 || res.status === 403) throw failure('CloudAuthFailed', what);
    if (res.status === 404) throw failure('CloudNotFound', what);
    throw failure('CloudRequestRejected', what);
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

  async action(id: number): Promise<DoAction> {
    return (await this.request<{ action: DoAction }>('GET', `/v2/actions/${id}`)).action;
  }
}

export const publicIp = (d: DoDroplet): string | null => d.networks.v4.find((n) => n.type === 'public')?.ip_address ?? null;
export const privateIp = (d: DoDroplet): string | null => d.networks.v4.find((n) => n.type === 'private')?.ip_address ?? null;

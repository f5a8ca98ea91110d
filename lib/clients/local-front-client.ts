/**
 * The local front (a varnishd the local environment runs, devkit/dev-env/front.ts) as Drover drives it: its
 * sites (`sites.json` in its folder: domain → the node address and port the site's container publishes), the VCL
 * rendered from them (lib/front-vcl.ts) and loaded into the running varnishd through its admin port
 * (`varnishadm vcl.load` + `vcl.use`; older VCLs discarded). Every change rewrites the whole file atomically and
 * reloads, so a repeated call converges to the same VCL. Calls within one process are serialized.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { renderFrontVcl, siteBackendProblem, type SiteBackend } from '../front-vcl';
import { droverRoot } from '../version';
import { programEnv } from '../program-env';

const run = promisify(execFile);

export interface LocalFrontConfig {
  /** The front's folder: sites.json, the admin secret, the generated VCL. */
  dir: string;
  /** varnishd's admin address, host:port. */
  admin: string;
}

export const frontFiles = (dir: string) => ({
  sites: path.join(dir, 'sites.json'),
  secret: path.join(dir, 'admin-secret'),
  vcl: path.join(dir, 'front.vcl'),
});

export function farmVcl(): string {
  return readFileSync(path.join(droverRoot(), 'configs/varnish/default.vcl'), 'utf8');
}

function write(file: string, text: string, mode = 0o644): void {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text, { mode });
  renameSync(tmp, file);
}

let queue: Promise<unknown> = Promise.resolve();
/** Per front (admin address): the VCL this process last loaded and its text. */
const loaded = new Map<string, { name: string; text: string }>();
const serialized = <T>(fn: () => Promise<T>): Promise<T> => {
  const next = queue.then(fn, fn);
  queue = next.catch(() => undefined);
  return next;
};

export class LocalFrontClient {
  constructor(readonly config: LocalFrontConfig) {}

  sites(): SiteBackend[] {
    const f = frontFiles(this.config.dir).sites;
    if (!existsSync(f)) return [];
    return Object.values(JSON.parse(readFileSync(f, 'utf8')) as Record<string, SiteBackend>);
  }

  private adm(args: string[]) {
    return run('varnishadm', ['-T', this.config.admin, '-S', frontFiles(this.config.dir).secret, ...args], { timeout: 30_000, env: programEnv() });
  }

  /** The VCL varnishd uses now (`vcl.list`'s active one), or null when it cannot be asked. */
  private async activeVcl(): Promise<string | null> {
    const { stdout } = await this.adm(['vcl.list']).catch(() => ({ stdout: '' }));
    const f = stdout.split('\n').map((l) => l.trim().split(/\s+/)).find((w) => w[0] === 'active');
    return f ? f[f.length - 1] : null;
  }

  /**
   * Writes the VCL for the current sites and makes varnishd use it. Unless `force`, a VCL this process loaded from
   * the same text and varnishd still uses is kept: a site's periodic front check (every minute per site) then costs
   * one `vcl.list`, not a VCL compile. Another process's load, or a restarted varnishd, makes it load again.
   */
  async reload(force = true): Promise<{ vcl: string }> {
    const files = frontFiles(this.config.dir);
    mkdirSync(this.config.dir, { recursive: true });
    const text = renderFrontVcl(farmVcl(), this.sites());
    const last = loaded.get(this.config.admin);
    if (!force && last?.text === text && (await this.activeVcl()) === last.name) return { vcl: last.name };
    write(files.vcl, text);
    const adm = (args: string[]) => this.adm(args);
    const name = `drover_${Date.now()}_${process.pid}`;
    try {
      await adm(['vcl.load', name, files.vcl]);
      await adm(['vcl.use', name]);
    } catch (err) {
      const e = err as { stdout?: string; stderr?: string; message: string };
      throw new Error(`varnish ${this.config.admin}: ${(e.stdout || e.stderr || e.message).trim()}`);
    }
    loaded.set(this.config.admin, { name, text });
    // Older VCLs hold their backends' probes and memory: discard every one not in use.
    const { stdout } = await adm(['vcl.list']);
    for (const line of stdout.split('\n')) {
      const f = line.trim().split(/\s+/);
      const vcl = f[f.length - 1];
      if (f[0] === 'available' && vcl && vcl !== name && vcl.startsWith('drover_')) await adm(['vcl.discard', vcl]).catch(() => undefined);
    }
    return { vcl: name };
  }

  /**
   * Adds or updates a site's backend. With the site already there the VCL is still loaded unless varnishd uses the
   * very VCL this process loaded for these sites: an earlier attempt may have written the file and failed before
   * varnishd took it.
   */
  ensureSite(site: SiteBackend): Promise<{ changed: boolean }> {
    const problem = siteBackendProblem(site);
    if (problem) return Promise.reject(new Error(problem));
    return serialized(async () => {
      const all = Object.fromEntries(this.sites().map((s) => [s.domain, s]));
      const prev = all[site.domain];
      const changed = !prev || prev.address !== site.address || prev.port !== site.port;
      if (changed) {
        all[site.domain] = { domain: site.domain, address: site.address, port: site.port };
        mkdirSync(this.config.dir, { recursive: true });
        write(frontFiles(this.config.dir).sites, JSON.stringify(all, null, 2) + '\n');
      }
      await this.reload(changed);
      return { changed };
    });
  }

  /**
   * Removes a site's backend and bans what the front cached for it (its Host, www. too), so a removed site is
   * not served from the cache; absent: nothing to remove (the ban is repeated, harmlessly).
   */
  removeSite(domain: string): Promise<{ removed: boolean }> {
    return serialized(async () => {
      const all = Object.fromEntries(this.sites().map((s) => [s.domain, s]));
      const removed = Boolean(all[domain]);
      if (removed) {
        delete all[domain];
        write(frontFiles(this.config.dir).sites, JSON.stringify(all, null, 2) + '\n');
      }
      await this.reload();
      // x-host is the Host the object was fetched for (configs/varnish/default.vcl), in the client's case.
      // Dots as [.]: the admin CLI reads backslashes in a word as escapes.
      const host = `(?i)^(www[.])?${domain.replace(/\./g, '[.]')}(:[0-9]+)?$`;
      await this.adm(['ban', 'obj.http.x-host', '~', host]).catch((err: { stdout?: string; message: string }) => Promise.reject(new Error(`varnish ${this.config.admin}: ban: ${(err.stdout ?? err.message).trim()}`)));
      return { removed };
    });
  }
}

/**
 * The farm's front during a restore, with real servers: Varnish (compiled from configs/varnish/default.vcl) in
 * front of a local HTTP backend standing in for the WordPress services, and Redis holding object-cache keys.
 * The VCL caches anonymous pages, passes logged-in visitors and bans a whole site on BAN. A restore over a live
 * site bans it from Varnish, drops only its object-cache keys and checks it answers through the front; a site
 * that answers 5xx after the swap is rolled back.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { WorkflowFailedError, type ApplicationFailure } from '@temporalio/client';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { ROOT } from '../helpers/paths';
import { treeHashes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { freePorts } from '../helpers/ports';
import { useRunningWorker } from '../helpers/temporal';
import { scratchDir } from '../helpers/scratch';

const ports = { backend: 0, varnish: 0, redis: 0 };
const failing = new Set<string>();
let backend: http.Server;
let varnish: ChildProcess;
let redis: ChildProcess;
let workdir: string;
let backendHits = 0;

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (await check().catch(() => false)) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what} did not come up`);
}

function get(host: string, url = '/', headers: Record<string, string> = {}, method = 'GET'): Promise<{ status: number; cache: string; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: ports.varnish, path: url, method, headers: { Host: host, ...headers } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, cache: String(res.headers['x-cache'] ?? ''), body }));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  [ports.backend, ports.varnish, ports.redis] = await freePorts(3);
  backend = http.createServer((req, res) => {
    backendHits++;
    const host = String(req.headers.host);
    if (failing.has(host)) return res.writeHead(503).end('down');
    res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=600' }).end(`<h1>${host}</h1> ${req.url} hit ${backendHits}`);
  });
  await new Promise<void>((r) => backend.listen(ports.backend, '127.0.0.1', r));
  workdir = scratchDir('drover-front-');
  chmodSync(workdir, 0o755); // varnishd's worker process runs as its own unprivileged user
  // The shipped VCL, with its backend pointed at the local stand-in (the only change).
  const vcl = readFileSync(path.join(ROOT, 'configs/varnish/default.vcl'), 'utf8').replace('.host = "traefik";', '.host = "127.0.0.1";').replace('.port = "8081";', `.port = "${ports.backend}";`);
  writeFileSync(path.join(workdir, 'default.vcl'), vcl);
  varnish = spawn('varnishd', ['-F', '-n', path.join(workdir, 'varnish'), '-a', `127.0.0.1:${ports.varnish}`, '-f', path.join(workdir, 'default.vcl'), '-s', 'malloc,32m'], { stdio: 'ignore' });
  redis = spawn('redis-server', ['--port', String(ports.redis), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', workdir], { stdio: 'ignore' });
  await waitFor(async () => (await get('probe.example.com')).status === 200, 'varnish');
  await waitFor(async () => {
    const c = createClient({ url: `redis://127.0.0.1:${ports.redis}` });
    await c.connect();
    await c.close();
    return true;
  }, 'redis');
});

afterAll(async () => {
  varnish?.kill('SIGTERM');
  redis?.kill('SIGTERM');
  await new Promise((r) => backend?.close(r));
  rmSync(workdir, { recursive: true, force: true });
});

const ctx = useRunningWorker('restore-front', (d) => ({
  ...d,
  front: { ...d.front, varnishUrls: [`http://127.0.0.1:${ports.varnish}`], redisUrl: `redis://127.0.0.1:${ports.redis}`, siteCheckUrl: `http://127.0.0.1:${ports.varnish}` },
}));

describe('configs/varnish/default.vcl on real Varnish', () => {
  it('caches anonymous pages, passes logged-in visitors and admin, bans a whole site on BAN', async () => {
    const host = `vcl-${ctx.taskQueue.slice(-6)}.example.com`;
    expect((await get(host, '/hello/')).cache).toBe('MISS');
    expect((await get(host, '/hello/')).cache).toBe('HIT');
    // Tracking cookies do not split the cache; a WordPress login cookie bypasses it.
    expect((await get(host, '/hello/', { Cookie: '_ga=GA1.2.3' })).cache).toBe('HIT');
    expect((await get(host, '/hello/', { Cookie: 'wordpress_logged_in_abc=admin%7C123' })).cache).toBe('MISS');
    expect((await get(host, '/hello/', { Cookie: 'wordpress_logged_in_abc=admin%7C123' })).cache).toBe('MISS');
    await get(host, '/wp-admin/');
    expect((await get(host, '/wp-admin/')).cache).toBe('MISS');
    // BAN drops every page of that site only.
    const other = `other-${host}`;
    await get(other, '/');
    await get(other, '/');
    expect((await get(host, '/', {}, 'BAN')).status).toBe(200);
    expect((await get(host, '/hello/')).cache).toBe('MISS');
    expect((await get(other, '/')).cache).toBe('HIT');
  });
});

describe('restoreSiteWorkflow and the front', () => {
  async function prepared(name: string) {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `${name}-${tag}.example.com`, { posts: 6, uploadBytes: 8 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // defaced');
    return site;
  }

  it('bans the site from Varnish, drops only its object-cache keys, and checks it answers', async () => {
    const site = await prepared('front');
    await get(site.domain, '/');
    expect((await get(site.domain, '/')).cache).toBe('HIT');
    const r = createClient({ url: `redis://127.0.0.1:${ports.redis}` });
    await r.connect();
    try {
      for (let i = 0; i < 50; i++) await r.set(`${site.domain}:posts:${i}`, `cached ${i}`);
      await r.set(`other-${site.domain}:posts:1`, 'someone else');
      const result = await ctx.tw.client.workflow.execute(restoreSiteWorkflow, { workflowId: `restore/${site.domain}/front`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10', skipSafetyPoint: true }] });
      const purge = result.steps.find((s) => s.name === 'purge Varnish and the object cache');
      expect(purge?.detail).toEqual([{ instances: 1, skipped: false }, { deleted: 50, skipped: false }]);
      expect(result.steps.find((s) => s.name === 'check the site answers')?.detail).toEqual({ status: 200, skipped: false });
      expect(await r.keys(`${site.domain}:*`)).toEqual([]);
      expect(await r.get(`other-${site.domain}:posts:1`)).toBe('someone else');
      // The check itself went through Varnish after the ban; the next visitor is served from cache again.
      expect((await get(site.domain, '/')).cache).toBe('HIT');
    } finally {
      await r.close();
    }
  });

  it('a site that answers 5xx after the swap is rolled back, the live state kept', async () => {
    const site = await prepared('front-down');
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    failing.add(site.domain);
    try {
      const e = await ctx.tw.client.workflow
        .execute(restoreSiteWorkflow, { workflowId: `restore/${site.domain}/front-down`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10', skipSafetyPoint: true }] })
        .then(() => null, (err: unknown) => err);
      expect(e).toBeInstanceOf(WorkflowFailedError);
      const f = (e as WorkflowFailedError).cause as ApplicationFailure;
      expect(f.type).toBe('RestoreVerificationFailed');
      expect(f.message).toMatch(/failed at "check the site answers" and was rolled back: .* answers 503/);
    } finally {
      failing.delete(site.domain);
    }
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
  });
});

/**
 * The local front (the test environment's varnishd, devkit/dev-env/front.ts) as the front activities drive it. A
 * created site's entity checks its front route every minute: an unchanged route keeps the VCL varnishd uses (no
 * compile), while another loader's VCL (another worker process, a restarted varnishd) makes it load again. A call
 * queued behind the process's other front changes heartbeats while it waits (the entity's probe has a 30 s
 * heartbeat timeout and the changes are serialized, each a VCL compile).
 */
import { execFile } from 'node:child_process';
import http from 'node:http';
import { promisify } from 'node:util';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, describe, expect, it } from 'vitest';
import { createFrontActivities } from '../../activities/front';
import { frontFiles, LocalFrontClient } from '../../lib/clients/local-front-client';
import { testEnv } from '../helpers/temporal';

const exec = promisify(execFile);
const env = testEnv();
const config = { dir: env.DROVER_FRONT_DIR!, admin: env.DROVER_FRONT_ADMIN! };
const deps = { localFront: { ...config, url: env.DROVER_FRONT_URL ?? '' } };
const domains = Array.from({ length: 8 }, (_, i) => `front-${i}-${process.pid}.example.com`);
const adm = async (...args: string[]) => (await exec('varnishadm', ['-T', config.admin, '-S', frontFiles(config.dir).secret, ...args])).stdout;
const vcls = async () => (await adm('vcl.list')).split('\n').map((l) => l.trim().split(/\s+/)).filter((w) => w.length > 1);
const active = async () => (await vcls()).find((w) => w[0] === 'active')?.at(-1);

/** A backend that answers with its own port, so the page says which route the front took. */
async function backend(): Promise<{ port: number; close: () => void }> {
  const server = http.createServer((_req, res) => res.end(`backend ${(server.address() as { port: number }).port}`));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, close: () => server.close() };
}

function viaFront(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const u = new URL(env.DROVER_FRONT_URL!);
    http.get({ host: u.hostname, port: Number(u.port), path: `/?${Date.now()}`, headers: { Host: host } }, (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve(body));
    }).on('error', reject);
  });
}

describe('the local front', () => {
  const client = new LocalFrontClient(config);
  afterAll(async () => {
    for (const d of domains) await client.removeSite(d).catch(() => undefined);
  });

  it('an unchanged route keeps the VCL in use (no compile); another loader\'s VCL makes the next check load again', async () => {
    const b = await backend();
    try {
      const site = { domain: domains[0], address: '127.0.0.1', port: b.port };
      expect(await client.ensureSite(site)).toEqual({ changed: true });
      const first = await active();
      expect(first).toMatch(/^drover_/);
      expect(await viaFront(site.domain)).toBe(`backend ${b.port}`);
      // The entity's periodic check: same route, the same VCL in use and none loaded beside it.
      const before = (await vcls()).length;
      expect(await client.ensureSite(site)).toEqual({ changed: false });
      expect(await active()).toBe(first);
      expect((await vcls()).length).toBe(before);
      // Another loader (another worker process's VCL, here the same file loaded by hand): the check loads again.
      await adm('vcl.load', `other_${process.pid}`, frontFiles(config.dir).vcl);
      await adm('vcl.use', `other_${process.pid}`);
      expect(await client.ensureSite(site)).toEqual({ changed: false });
      const again = await active();
      expect(again).toMatch(/^drover_/);
      expect(again).not.toBe(first);
      expect(await viaFront(site.domain)).toBe(`backend ${b.port}`);
      await adm('vcl.discard', `other_${process.pid}`).catch(() => undefined);
    } finally {
      b.close();
    }
  }, 120_000);

  it('a call queued behind other front changes heartbeats while it waits', async () => {
    const front = createFrontActivities(deps as never);
    // Seven route changes first (each a VCL compile, serialized in this process), then the call observed.
    const changes = domains.slice(1).map((domain, i) => client.ensureSite({ domain, address: '127.0.0.1', port: 20_000 + i }));
    const mock = new MockActivityEnvironment();
    const beats: number[] = [];
    mock.on('heartbeat', () => beats.push(Date.now()));
    const started = Date.now();
    const r = await mock.run(front.ensureSiteBackend, { domain: domains[0], address: '127.0.0.1', port: 20_100 });
    const took = Date.now() - started;
    await Promise.all(changes);
    expect(r).toMatchObject({ changed: true, skipped: false });
    // One heartbeat at the start, then one a second for as long as it waited and loaded.
    expect(took).toBeGreaterThan(1500);
    expect(beats.length).toBeGreaterThanOrEqual(Math.floor(took / 1000));
  }, 120_000);
});

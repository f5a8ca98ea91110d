/**
 * The cache checks of `drover status` against real servers started from the shipped configs: a Redis master and
 * replica from configs/redis/redis.conf, three Redis Sentinels from configs/redis/sentinel.conf (quorum 2), and
 * Varnish from configs/varnish/default.vcl with Debian's prometheus-varnish-exporter. The sentinels name the
 * master; when it is killed the check fails until they promote the replica, then names the new master. The hit
 * ratio counts anonymous hits and misses (logged-in visitors pass the cache and count as neither).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ActivityDeps } from '../../lib/clients/deps';
import { createRedisSentinelActivities, type SentinelReport } from '../../activities/redis-sentinel';
import { createVarnishStatsActivities } from '../../activities/varnish';
import { hitRatio, sentinelCheck, varnishCheck } from '../../workflows/lib/health-checks';
import { ROOT } from '../helpers/paths';
import { freePort, freePorts } from '../helpers/ports';
import { scratchDir } from '../helpers/scratch';

const serverLogs = () =>
  readdirSync(dir)
    .filter((f) => f.endsWith('.log'))
    .map((f) => `--- ${f}\n${readFileSync(path.join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`)
    .join('\n');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${serverLogs()}`);
    await sleep(200);
  }
}

const PASSWORD = 'cache-test-password';
const procs: ChildProcess[] = [];
let dir: string;
const port = { master: 0, replica: 0, sentinels: [0, 0, 0], backend: 0, varnish: 0, exporter: 0 };
let master: ChildProcess;
let shippedRedisConf: string;
let shippedSentinelConf: string;
/** Each server's output goes to a file in the test's folder, shown when a wait times out. */
const logTo = (name: string) => openSync(path.join(dir, `${name}.log`), 'a');
let backend: http.Server;
const mock = new MockActivityEnvironment();
const run = <R>(fn: () => Promise<R>) => mock.run(fn) as Promise<R>;

function front(over: Partial<ActivityDeps['front']> = {}): ActivityDeps['front'] {
  return {
    varnishUrls: [],
    redisUrl: `redis://:${PASSWORD}@127.0.0.1:${port.master}`,
    sentinels: port.sentinels.map((p) => ({ host: '127.0.0.1', port: p })),
    redisMasterName: 'wp-cache',
    varnishMetricsUrls: [`http://127.0.0.1:${port.exporter}/metrics`],
    ...over,
  };
}
const sentinels = () => run(createRedisSentinelActivities({ front: front() }).describeRedisSentinels);
const ping = async (p: number) => {
  const c = createClient({ url: `redis://127.0.0.1:${p}`, socket: { reconnectStrategy: false } });
  c.on('error', () => undefined);
  await c.connect();
  await c.close();
  return true;
};

function get(host: string, url: string, headers: Record<string, string> = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: port.varnish, path: url, headers: { Host: host, ...headers } }, (res) => {
      res.resume();
      res.on('end', () => resolve(String(res.headers['x-cache'] ?? '')));
    });
    req.on('error', reject);
    req.end();
  });
}

beforeAll(async () => {
  const ports = await freePorts(8);
  for (const k of ['master', 'replica', 'backend', 'varnish', 'exporter'] as const) port[k] = ports.shift()!;
  port.sentinels = ports;
  dir = scratchDir('drover-cache-');
  chmodSync(dir, 0o755);
  shippedRedisConf = readFileSync(path.join(ROOT, 'configs/redis/redis.conf'), 'utf8');
  shippedSentinelConf = readFileSync(path.join(ROOT, 'configs/redis/sentinel.conf'), 'utf8');
  // The shipped files, started the way the cache stack starts them: password and role on the command line.
  // Each server gets its own copy: on failover Sentinel makes the servers rewrite their file (CONFIG REWRITE).
  const redis = (p: number, extra: string[]) => {
    const conf = path.join(dir, `redis-${p}.conf`);
    writeFileSync(conf, shippedRedisConf);
    return spawn('redis-server', [conf, '--port', String(p), '--bind', '127.0.0.1', '--dir', dir, '--requirepass', PASSWORD, '--masterauth', PASSWORD, ...extra], { stdio: ['ignore', logTo(`redis-${p}`), logTo(`redis-${p}`)] });
  };
  master = redis(port.master, []);
  procs.push(master, redis(port.replica, ['--replicaof', '127.0.0.1', String(port.master)]));
  port.sentinels.forEach((p, i) => {
    // Sentinel rewrites its file: each gets a copy, with the master's service name resolved to this machine.
    const file = path.join(dir, `sentinel-${i}.conf`);
    writeFileSync(file, shippedSentinelConf.replace('sentinel monitor wp-cache redis-1 6379 2', `sentinel monitor wp-cache 127.0.0.1 ${port.master} 2`));
    procs.push(spawn('redis-server', [file, '--sentinel', '--port', String(p), '--bind', '127.0.0.1', '--sentinel', 'auth-pass', 'wp-cache', PASSWORD, '--sentinel', 'down-after-milliseconds', 'wp-cache', '1000', '--sentinel', 'failover-timeout', 'wp-cache', '10000'], { stdio: ['ignore', logTo(`sentinel-${i}`), logTo(`sentinel-${i}`)] }));
  });

  backend = http.createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/html', 'Cache-Control': 'public, max-age=600' }).end(`page ${req.url}`));
  await new Promise<void>((r) => backend.listen(port.backend, '127.0.0.1', r));
  const vcl = readFileSync(path.join(ROOT, 'configs/varnish/default.vcl'), 'utf8').replace('.host = "traefik";', '.host = "127.0.0.1";').replace('.port = "8081";', `.port = "${port.backend}";`);
  writeFileSync(path.join(dir, 'default.vcl'), vcl);
  const vdir = path.join(dir, 'varnish');
  procs.push(spawn('varnishd', ['-F', '-n', vdir, '-a', `127.0.0.1:${port.varnish}`, '-f', path.join(dir, 'default.vcl'), '-s', 'malloc,32m'], { stdio: ['ignore', logTo('varnishd'), logTo('varnishd')] }));
  await until('varnish', async () => (await get('probe.example.com', '/')) !== undefined);
  procs.push(spawn('prometheus-varnish-exporter', ['-n', vdir, '-web.listen-address', `127.0.0.1:${port.exporter}`], { stdio: 'ignore' }));
  await until('the varnish exporter', async () => (await fetch(`http://127.0.0.1:${port.exporter}/metrics`)).ok);
  await until('redis', async () => (await ping(port.master)) && ping(port.replica));
  // Every sentinel has found the replica and the two other sentinels.
  await until('sentinels to discover each other', async () => {
    const r = await sentinels();
    return r.sentinels.every((s) => s.replicas === 1) && sentinelCheck(r).ok && r;
  });
}, 120_000);

afterAll(async () => {
  for (const p of procs) p.kill('SIGKILL');
  await new Promise((r) => backend?.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('redis sentinel check on real sentinels (configs/redis)', () => {
  it('names the master; fails while it is lost; names the promoted replica after failover', async () => {
    const before = await sentinels();
    expect(before.sentinels.map((s) => s.master)).toEqual(Array(3).fill(`127.0.0.1:${port.master}`));
    expect(before.sentinels.map((s) => s.quorum)).toEqual([2, 2, 2]);
    expect(before.masterRole).toBe('master');
    expect(sentinelCheck(before)).toMatchObject({ ok: true, detail: expect.stringContaining(`wp-cache master 127.0.0.1:${port.master} with 1 replicas; 3 of 3 sentinels answer (quorum 2)`) });

    master.kill('SIGKILL');
    // From the moment the master dies the check fails (it no longer answers), until the sentinels promote.
    const lost = await sentinels();
    expect(sentinelCheck(lost).ok).toBe(false);
    const after = await until('failover to the replica', async (): Promise<SentinelReport | false> => {
      const r = await run(createRedisSentinelActivities({ front: front({ redisUrl: `redis://:${PASSWORD}@127.0.0.1:${port.replica}` }) }).describeRedisSentinels);
      return r.sentinels.every((s) => s.master === `127.0.0.1:${port.replica}`) && r.masterRole === 'master' && r;
    }, 90_000);
    expect(sentinelCheck(after)).toMatchObject({ ok: true, detail: expect.stringContaining(`master 127.0.0.1:${port.replica}`) });
  }, 120_000);

  it('fails naming the sentinels it cannot reach when fewer than the quorum answer', async () => {
    const dead = await freePort();
    const r = await run(createRedisSentinelActivities({ front: front({ sentinels: [{ host: '127.0.0.1', port: port.sentinels[0] }, { host: '127.0.0.1', port: dead }, { host: '127.0.0.1', port: dead }] }) }).describeRedisSentinels);
    const c = sentinelCheck(r);
    expect(c.ok).toBe(false);
    expect(c.detail).toContain('1 of 3 sentinels answer (quorum 2)');
    expect(c.detail).toContain(`127.0.0.1:${dead}`);
  });
});

describe('varnish hit ratio from the real exporter', () => {
  it('counts anonymous hits and misses; logged-in visitors pass and count as neither', async () => {
    const stats = () => run(createVarnishStatsActivities({ front: front() }).varnishHitStats);
    const start = (await stats()).instances[0];
    expect(start.error).toBeUndefined();
    const host = 'ratio.example.com';
    expect(await get(host, '/a/')).toBe('MISS');
    for (let i = 0; i < 3; i++) expect(await get(host, '/a/')).toBe('HIT');
    for (let i = 0; i < 2; i++) await get(host, '/a/', { Cookie: 'wordpress_logged_in_x=admin%7C1' });
    const end = await until('the exporter to see the lookups', async () => {
      const s = (await stats()).instances[0];
      return s.hits! - start.hits! === 3 && s.misses! - start.misses! === 1 && s;
    }, 20_000);
    expect(varnishCheck([end])).toMatchObject({ ok: true });
    expect(hitRatio([{ url: 'delta', hits: end.hits! - start.hits!, misses: end.misses! - start.misses! }])).toBe(0.75);
  });

  it('fails naming an exporter that does not answer', async () => {
    const dead = `http://127.0.0.1:${await freePort()}/metrics`;
    const r = await run(createVarnishStatsActivities({ front: front({ varnishMetricsUrls: [`http://127.0.0.1:${port.exporter}/metrics`, dead] }) }).varnishHitStats);
    const c = varnishCheck(r.instances);
    expect(c.ok).toBe(false);
    expect(c.detail).toContain(dead);
  });
});

describe('the shipped cache configs', () => {
  it('are left as shipped after a failover (the servers rewrite only their copies)', () => {
    expect(readFileSync(path.join(ROOT, 'configs/redis/redis.conf'), 'utf8')).toBe(shippedRedisConf);
    expect(readFileSync(path.join(ROOT, 'configs/redis/sentinel.conf'), 'utf8')).toBe(shippedSentinelConf);
    expect(shippedRedisConf).not.toContain('# Generated by CONFIG REWRITE');
    expect(shippedRedisConf).not.toMatch(/^(requirepass|masterauth|user) /m);
  });
});

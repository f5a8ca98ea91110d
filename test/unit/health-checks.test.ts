/** What the health checks conclude from observed reports (the observations come from real servers elsewhere). */
import { describe, expect, it } from 'vitest';
import type { SentinelReport, SentinelView } from '../../activities/redis-sentinel';
import { metricValue } from '../../activities/varnish';
import { galeraCheck, hitRatio, sentinelCheck, swarmChecks, varnishCheck } from '../../workflows/lib/health-checks';

const view = (address: string, master: string | null, extra: Partial<SentinelView> = {}): SentinelView => ({ address, master, quorum: master ? 2 : null, flags: master ? 'master' : null, replicas: master ? 2 : null, ...extra });
const report = (sentinels: SentinelView[], masterRole: string | null = 'master'): SentinelReport => ({ configured: true, masterName: 'wp-cache', sentinels, masterRole });

describe('sentinel check', () => {
  it.each([
    ['three agree, master answers as master', report([view('s1', 'm:6379'), view('s2', 'm:6379'), view('s3', 'm:6379')]), true, 'wp-cache master m:6379 with 2 replicas; 3 of 3 sentinels answer (quorum 2)'],
    ['one sentinel down, quorum still met', report([view('s1', 'm:6379'), view('s2', 'm:6379'), view('s3', null, { error: 'ECONNREFUSED' })]), true, 's3: ECONNREFUSED'],
    ['two sentinels down: below quorum', report([view('s1', 'm:6379'), view('s2', null, { error: 'x' }), view('s3', null, { error: 'y' })]), false, '1 of 3 sentinels answer (quorum 2)'],
    ['sentinels disagree (split brain after a partition)', report([view('s1', 'a:6379'), view('s2', 'a:6379'), view('s3', 'b:6379')]), false, 'sentinels disagree'],
    ['the named master is a replica now', report([view('s1', 'm:6379'), view('s2', 'm:6379'), view('s3', 'm:6379')], 'slave'), false, 'answers as slave'],
    ['the master is subjectively down', report([view('s1', 'm:6379', { flags: 's_down,master' }), view('s2', 'm:6379'), view('s3', 'm:6379')]), false, 'flags the master s_down,master'],
  ])('%s', (_name, r, ok, detail) => {
    const c = sentinelCheck(r);
    // One sentinel unreachable is reported but, with quorum met and agreement, the master is still known.
    expect(c.ok).toBe(ok);
    expect(c.detail).toContain(detail);
    expect(c.skipped).toBeUndefined();
  });

  it('is skipped, not failed, when no sentinels are configured', () => {
    expect(sentinelCheck({ configured: false, masterName: 'wp-cache', sentinels: [], masterRole: null })).toMatchObject({ ok: true, skipped: true });
  });
});

describe('varnish check', () => {
  it('sums hits and misses over instances', () => {
    const i = [{ url: 'a', hits: 90, misses: 10 }, { url: 'b', hits: 10, misses: 90 }];
    expect(hitRatio(i)).toBe(0.5);
    expect(varnishCheck(i)).toMatchObject({ ok: true, detail: '50.0% (100 hits, 100 misses) on 2 of 2 instances' });
  });
  it('fails when a configured exporter does not answer, and says which', () => {
    const c = varnishCheck([{ url: 'a', hits: 3, misses: 1 }, { url: 'http://b/metrics', hits: null, misses: null, error: 'ECONNREFUSED' }]);
    expect(c.ok).toBe(false);
    expect(c.detail).toBe('75.0% (3 hits, 1 misses) on 1 of 2 instances; http://b/metrics: ECONNREFUSED');
  });
  it('has no ratio without lookups, and is skipped when not configured', () => {
    expect(hitRatio([{ url: 'a', hits: 0, misses: 0 }])).toBeNull();
    expect(varnishCheck([])).toMatchObject({ ok: true, skipped: true });
  });
  it('reads counters from Prometheus text, with or without labels', () => {
    const text = ['# HELP varnish_main_cache_hit Cache hits', '# TYPE varnish_main_cache_hit counter', 'varnish_main_cache_hit 42', 'varnish_main_cache_hitpass 7', 'varnish_main_cache_miss{instance="x"} 3', 'varnish_main_cache_miss{instance="y"} 2'].join('\n');
    expect(metricValue(text, 'varnish_main_cache_hit')).toBe(42);
    expect(metricValue(text, 'varnish_main_cache_miss')).toBe(5);
    expect(metricValue(text, 'varnish_main_n_object')).toBeNull();
  });
});

describe('swarm and galera checks', () => {
  const node = (hostname: string, state = 'ready', labels: Record<string, string> = { role: 'worker' }) => ({ hostname, role: 'worker', availability: 'active', state, labels });
  it('needs every expected node ready and labelled and every service at its replicas', () => {
    const good = swarmChecks({ nodes: [node('a'), node('b')], networks: [], services: [{ name: 's', desired: 2, running: 2 }] }, 2);
    expect(good.every((c) => c.ok)).toBe(true);
    const bad = swarmChecks({ nodes: [node('a', 'down'), node('b', 'ready', {})], networks: [], services: [{ name: 's', desired: 3, running: 1 }] }, 3);
    expect(bad.map((c) => [c.name, c.ok, c.detail])).toEqual([
      ['nodes ready', false, '1 of 3 ready; not ready: a (down)'],
      ['nodes labelled', false, 'no role label: b'],
      ['services at desired replicas', false, 's 1/3'],
    ]);
  });
  it('wants every Galera node Synced in one cluster of the expected size', () => {
    const n = (node: string, state: string, size: number) => ({ node, reachable: true, state, clusterSize: size, clusterStatus: 'Primary', ready: state === 'Synced' });
    expect(galeraCheck({ nodes: [n('1', 'Synced', 3), n('2', 'Synced', 3), n('3', 'Synced', 3)], synced: 3 }, 3).ok).toBe(true);
    expect(galeraCheck({ nodes: [n('1', 'Synced', 2), n('2', 'Synced', 2), n('3', 'Donor/Desynced', 3)], synced: 2 }, 3)).toMatchObject({ ok: false, detail: '2 of 3 nodes Synced, cluster size 2/3; 3: Donor/Desynced' });
  });
});

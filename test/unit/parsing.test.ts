import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseGaleraNodes } from '../../lib/clients/galera-client';
import { parseSshTarget, formatSshTarget, hostKeyFingerprint } from '../../lib/clients/ssh-client';
import { createDockerClient } from '../../lib/clients/docker-client';
import { connectionSettings } from '../../lib/temporal-connection';
import { devLayout } from '../../devkit/dev-env';
import { scratchDir } from '../helpers/scratch';

describe('ssh targets', () => {
  it.each([
    ['root@10.0.0.5:2222', { username: 'root', host: '10.0.0.5', port: 2222 }],
    ['deploy@db-1', { username: 'deploy', host: 'db-1', port: 22 }],
    ['storage-1', { username: 'root', host: 'storage-1', port: 22 }],
    ['ops@[::1]:22', { username: 'ops', host: '::1', port: 22 }],
  ])('%s', (s, want) => {
    expect(parseSshTarget(s)).toEqual(want);
    expect(parseSshTarget(formatSshTarget(want))).toEqual(want);
  });

  it('rejects garbage as InvalidInput', () => {
    expect(() => parseSshTarget('a b@c')).toThrow(expect.objectContaining({ type: 'InvalidInput' }));
  });

  it('fingerprints a key exactly as ssh-keygen -l does', () => {
    // git does not keep the 0600 mode ssh-keygen insists on, so work on a private copy.
    const dir = scratchDir('fp-');
    const key = path.join(dir, 'k');
    copyFileSync(path.join(__dirname, '..', 'fixtures', 'unauthorized_ed25519'), key);
    chmodSync(key, 0o600);
    const pub = execFileSync('ssh-keygen', ['-y', '-f', key], { encoding: 'utf8' });
    const blob = Buffer.from(pub.split(' ')[1], 'base64');
    writeFileSync(path.join(dir, 'k.pub'), pub);
    const openssh = /(SHA256:\S+)/.exec(execFileSync('ssh-keygen', ['-l', '-E', 'sha256', '-f', path.join(dir, 'k.pub')], { encoding: 'utf8' }))![1];
    expect(hostKeyFingerprint(blob)).toBe(openssh);
  });
});

describe('galera node lists', () => {
  it('takes named and unnamed entries', () => {
    expect(parseGaleraNodes('db1=10.0.0.1:3306, db2=10.0.0.2:3306')).toEqual([
      { name: 'db1', host: '10.0.0.1', port: 3306 },
      { name: 'db2', host: '10.0.0.2', port: 3306 },
    ]);
    expect(parseGaleraNodes('a:1,b:2').map((n) => n.name)).toEqual(['node1', 'node2']);
  });
  it('rejects an entry without a port', () => {
    expect(() => parseGaleraNodes('db1=10.0.0.1')).toThrow(/host:port/);
  });
});

describe('docker endpoints', () => {
  it('accepts unix, tcp and ssh forms and rejects others', () => {
    const modem = (host: string) => createDockerClient({ host }).modem as unknown as { socketPath?: string; host?: string; agent?: unknown };
    expect(modem('unix:///var/run/docker.sock').socketPath).toBe('/var/run/docker.sock');
    expect(modem('tcp://10.0.0.1:2375').host).toBe('10.0.0.1');
    expect(modem('ssh://root@10.0.0.1:22/run/docker.sock').agent).toBeDefined();
    expect(() => createDockerClient({ host: 'ftp://x' })).toThrow(expect.objectContaining({ type: 'InvalidInput' }));
  });
});

describe('temporal connection settings', () => {
  it('uses plain gRPC for the dev server and TLS for an API key', () => {
    expect(connectionSettings({ TEMPORAL_ADDRESS: 'localhost:7233', TEMPORAL_NAMESPACE: 'default' }).tls).toBeUndefined();
    const cloud = connectionSettings({ TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_NAMESPACE: 'ns.acct', TEMPORAL_API_KEY: 'k' });
    expect(cloud.tls).toBeTruthy();
    expect(cloud.apiKey).toBe('k');
  });
});

describe('dev environment layout', () => {
  it('offsets every port and keeps them distinct', () => {
    const a = devLayout('/tmp/a', 0);
    const b = devLayout('/tmp/a', 100);
    const ports = (l: typeof a) => [l.temporal.grpc, l.temporal.ui, l.temporal.metrics, l.s3.port, l.ssh.port, ...l.galera.nodes.flatMap((n) => [n.mysql, n.gcomm, n.ist, n.sst])];
    expect(new Set(ports(a)).size).toBe(ports(a).length);
    expect(ports(b)).toEqual(ports(a).map((p) => p + 100));
    expect(a.temporal.ui).toBe(8233);
    expect(a.docker.socket.length).toBeLessThan(100);
  });
});

/**
 * Where the local environment keeps its state and which loopback ports it uses. Everything lives under one
 * state folder; a port offset lets a test run's environment sit beside a developer's `drover dev up`.
 */
import path from 'node:path';
import { shortRunDir } from '../../lib/local-node-paths';

export interface GaleraNodePorts {
  name: string;
  mysql: number;
  gcomm: number;
  ist: number;
  sst: number;
}

export interface DevLayout {
  stateDir: string;
  portOffset: number;
  temporal: { grpc: number; ui: number; metrics: number; dir: string };
  galera: { dir: string; nodes: GaleraNodePorts[] };
  s3: { port: number; dir: string; bucket: string };
  ssh: { port: number; dir: string };
  /** The codec server the dev server's Web UI decodes payloads through (loopback, the UI's origin only). */
  codec: { port: number; dir: string };
  docker: { dir: string; runDir: string; socket: string };
  /** The local front (varnishd): HTTP and admin ports on loopback. */
  front: { port: number; admin: number; dir: string };
  envFile: string;
  secretsDir: string;
}

export function devLayout(stateDir: string, portOffset = 0): DevLayout {
  const dir = path.resolve(stateDir);
  // The engine's sockets and exec root live under a short /run path derived from the state folder.
  const runDir = shortRunDir('drover', dir, 10);
  const o = portOffset;
  return {
    stateDir: dir,
    portOffset: o,
    temporal: { grpc: 7233 + o, ui: 8233 + o, metrics: 7239 + o, dir: path.join(dir, 'temporal') },
    galera: {
      dir: path.join(dir, 'galera'),
      nodes: [1, 2, 3].map((i) => ({
        name: `node${i}`,
        mysql: 13305 + i + o,
        gcomm: 14567 + 10 * (i - 1) + o,
        ist: 14568 + 10 * (i - 1) + o,
        sst: 14444 + 10 * (i - 1) + o,
      })),
    },
    s3: { port: 17070 + o, dir: path.join(dir, 's3'), bucket: 'drover-backups' },
    ssh: { port: 12222 + o, dir: path.join(dir, 'ssh') },
    codec: { port: 18233 + o, dir: path.join(dir, 'codec') },
    docker: { dir: path.join(dir, 'docker'), runDir, socket: path.join(runDir, 'docker.sock') },
    front: { port: 16081 + o, admin: 16082 + o, dir: path.join(dir, 'front') },
    envFile: path.join(dir, 'env'),
    secretsDir: path.join(dir, 'secrets'),
  };
}

/**
 * Short runtime folders for Unix sockets. A socket's path must stay under ~104 bytes, and dockerd nests
 * containerd's sockets under its exec root, so a folder anywhere (the state folder of a checkout at any depth) keeps
 * its sockets under `/run/<kind>-<hash of the folder>` instead: the local environment's Docker engine
 * (devkit/dev-env/layout.ts) and each local node (activities/local-nodes.ts; a checkout at /check/work/main had put a
 * node's containerd debug socket past the limit).
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

/** `/run/<kind>-<first `hexChars` of the SHA-256 of the resolved folder>`. */
export const shortRunDir = (kind: string, folder: string, hexChars: number): string =>
  `/run/${kind}-${createHash('sha256').update(path.resolve(folder)).digest('hex').slice(0, hexChars)}`;

export const localNodeRunDir = (nodeDir: string): string => shortRunDir('drover-node', nodeDir, 12);

export const localNodeDockerSocket = (nodeDir: string): string => path.join(localNodeRunDir(nodeDir), 'docker.sock');

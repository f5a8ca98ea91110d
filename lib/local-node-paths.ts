/**
 * Where a local node (activities/local-nodes.ts) keeps its runtime files. Its folder can sit anywhere (the state
 * folder of a checkout at any depth), but a Unix socket's path must stay under ~104 bytes and containerd nests its
 * sockets under dockerd's exec root: a checkout at /check/work/main already put the node's containerd debug socket
 * past the limit. So each node's sockets and exec root live under a short /run path derived from its folder.
 */
import { createHash } from 'node:crypto';
import path from 'node:path';

export const localNodeRunDir = (nodeDir: string): string =>
  `/run/drover-node-${createHash('sha256').update(path.resolve(nodeDir)).digest('hex').slice(0, 12)}`;

export const localNodeDockerSocket = (nodeDir: string): string => path.join(localNodeRunDir(nodeDir), 'docker.sock');

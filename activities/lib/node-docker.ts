/** A farm node's Docker daemon, reached over SSH (root, the node's pinned host key). */
import type Docker from 'dockerode';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { classifyDockerError } from '../../lib/clients/errors';
import { activitySignal, cancellationOr } from './heartbeat';

/** How to reach a node: SSH (root, pinned host key), where its Docker socket is, the address the swarm uses. */
export interface NodeAddress {
  name: string;
  /** Where SSH (and Docker over SSH) reaches it: a droplet's public address. */
  ip: string;
  /** Where the swarm talks to it (a droplet's VPC address); the SSH address when absent. */
  swarmIp?: string;
  sshPort: number;
  hostKey: string;
  dockerSocket: string;
}

/** A Docker client for a node's daemon over SSH (root, the node's pinned host key). */
export function nodeDockerClient(privateKey: string | Buffer, n: NodeAddress): Docker {
  return createDockerClient({ host: `ssh://root@${n.ip}:${n.sshPort}${n.dockerSocket}`, sshPrivateKey: privateKey, sshPinnedHostKeys: [n.hostKey] });
}

/**
 * Runs `fn` with a Docker client on node `n`, closed afterwards; Docker's errors classified once (lib/clients/errors).
 * In an activity, its cancellation closes the client: a call waiting on a daemon that never answers (no request has
 * a timeout: image loads take minutes) ends with the cancellation instead of holding a stopping worker for good.
 */
export async function withNodeDocker<T>(privateKey: string | Buffer, n: NodeAddress, fn: (d: Docker) => Promise<T>): Promise<T> {
  const d = nodeDockerClient(privateKey, n);
  const signal = activitySignal();
  const onAbort = () => closeDockerClient(d);
  if (signal?.aborted) onAbort();
  else signal?.addEventListener('abort', onAbort);
  try {
    return await fn(d);
  } catch (err) {
    if (signal?.aborted) throw cancellationOr(err);
    if ((err as { type?: string }).type) throw err;
    throw classifyDockerError(err, n.name);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    closeDockerClient(d);
  }
}

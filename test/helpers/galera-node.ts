/**
 * A Galera node of the test environment stopped and resumed (SIGSTOP/SIGCONT of its mariadbd: a node that stops
 * answering without closing its connections, as a frozen or cut-off machine does), and the wait for the cluster to
 * settle afterwards.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GaleraClient } from '../../lib/clients/galera-client';
import { TEST_STATE_DIR } from './paths';

/** The pid of a node's mariadbd (node1, node2, node3). */
export function galeraNodePid(node: string): number {
  return Number(readFileSync(path.join(TEST_STATE_DIR, 'galera', node, 'mariadbd.pid'), 'utf8').trim());
}

/** Stops the node's mariadbd; the returned function resumes it (once). */
export function freezeGaleraNode(node: string): () => void {
  const pid = galeraNodePid(node);
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  return () => {
    if (!resumed) process.kill(pid, 'SIGCONT');
    resumed = true;
  };
}

/**
 * Waits until every node says Synced in a cluster of all of them twice, six seconds apart: a node notices it was
 * away only some seconds after it resumes (one stopped past the suspect timeout leaves the cluster then and
 * rejoins). Returns whether it settled (within about four minutes).
 */
export async function galeraSettled(galera: GaleraClient): Promise<boolean> {
  const allSynced = async () => {
    galera.invalidateStatus();
    return (await galera.clusterStatus()).every((s) => s.state === 'Synced' && s.clusterSize === galera.nodes.length);
  };
  let stable = 0;
  for (let i = 0; i < 40 && stable < 2; i++) {
    stable = (await allSynced()) ? stable + 1 : 0;
    if (stable < 2) await new Promise((r) => setTimeout(r, stable ? 6_000 : 1_000));
  }
  return stable === 2;
}

/**
 * A service of the test environment stopped and resumed (SIGSTOP/SIGCONT: a server that stops answering without
 * closing its connections, as a frozen or cut-off machine does): a Galera node's mariadbd, the S3 server; and the
 * wait for the Galera cluster to settle afterwards.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { GaleraClient } from '../../lib/clients/galera-client';
import { TEST_STATE_DIR } from './paths';

/** Stops the process whose pid the file (under the test environment's folder) holds; the returned function resumes it (once). */
export function freezeProcess(pidFile: string[]): () => void {
  const pid = Number(readFileSync(path.join(TEST_STATE_DIR, ...pidFile), 'utf8').trim());
  if (!(pid > 0)) throw new Error(`no pid in ${pidFile.join('/')}`);
  process.kill(pid, 'SIGSTOP');
  let resumed = false;
  return () => {
    if (!resumed) process.kill(pid, 'SIGCONT');
    resumed = true;
  };
}

/** Stops a Galera node's mariadbd (node1, node2, node3); the returned function resumes it (once). */
export const freezeGaleraNode = (node: string) => freezeProcess(['galera', node, 'mariadbd.pid']);

/** Stops the S3 server (versitygw); the returned function resumes it (once). */
export const freezeS3 = () => freezeProcess(['s3', 'versitygw.pid']);

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

/**
 * Proves every outside system through the real Temporal server: an S3 object written and read back, all
 * three Galera nodes queried (and a replicated write read from each), a command over SSH, a Docker ping.
 */
import { ApplicationFailure } from '@temporalio/workflow';
import { api, remoteExec } from './lib/proxies';
import type { RoundTripObjectResult } from '../activities/spaces';
import type { GaleraReplicationResult } from '../activities/galera';
import type { RunRemoteCommandResult } from '../activities/ssh';
import type { DockerPingResult } from '../activities/swarm';
import type { GaleraNodeStatus } from '../lib/clients/galera-client';

export interface SmokeInput {
  label: string;
}

export interface SmokeResult {
  label: string;
  s3: RoundTripObjectResult;
  galera: { nodes: GaleraNodeStatus[]; synced: number; replication: GaleraReplicationResult };
  ssh: RunRemoteCommandResult;
  docker: DockerPingResult;
}

/** Smoke test of the whole stack; fails with RemoteCommandFailed if the SSH command does not exit 0. */
export async function smokeWorkflow(input: SmokeInput): Promise<SmokeResult> {
  const [s3, cluster, replication, ssh, docker] = await Promise.all([
    api.roundTripObject({ key: `smoke/${input.label}.txt`, body: `drover smoke ${input.label}` }),
    api.describeGaleraCluster(),
    api.checkGaleraReplication({ marker: input.label }),
    remoteExec.runRemoteCommand({ command: 'uname -sr && id -un' }),
    api.pingDocker(),
  ]);
  if (ssh.code !== 0) {
    throw ApplicationFailure.create({ type: 'RemoteCommandFailed', message: `smoke command on ${ssh.target} exited ${ssh.code}`, nonRetryable: true });
  }
  return { label: input.label, s3, galera: { ...cluster, replication }, ssh, docker };
}

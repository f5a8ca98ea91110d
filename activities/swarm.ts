/** Activities that touch Docker engines and Swarm. */
import type { ActivityDeps } from '../lib/clients/deps';
import { closeDockerClient, createDockerClient } from '../lib/clients/docker-client';
import { classifyDockerError } from '../lib/clients/errors';

export interface DockerPingResult {
  endpoint: string;
  serverVersion: string;
  apiVersion: string;
  swarmState: string;
}

export function createSwarmActivities({ docker }: Pick<ActivityDeps, 'docker'>) {
  return {
    /** Pings the engine and reports its version and swarm membership. */
    async pingDocker(): Promise<DockerPingResult> {
      const d = createDockerClient(docker);
      try {
        await d.ping();
        const v = await d.version();
        const info = (await d.info()) as { Swarm?: { LocalNodeState?: string } };
        return { endpoint: docker.host, serverVersion: v.Version, apiVersion: v.ApiVersion, swarmState: info.Swarm?.LocalNodeState ?? 'unknown' };
      } catch (err) {
        throw classifyDockerError(err, docker.host);
      } finally {
        closeDockerClient(d);
      }
    },
  };
}

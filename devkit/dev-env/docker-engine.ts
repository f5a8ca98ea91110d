/**
 * A Docker engine of the environment's own (Debian docker.io): no iptables, no default bridge, on its own socket,
 * so it runs inside this sandbox and never touches a system engine. Its storage driver is Docker's own choice:
 * overlay2 where the kernel mounts overlayfs on the data folder's filesystem (a container shares its image's
 * files), else vfs (each container and layer a full copy of the image: about 0.5 GB per WordPress container). A
 * data folder keeps the driver it was created with (`drover dev down` and removing the state folder start afresh).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { createDockerClient } from '../../lib/clients/docker-client';
import type { DevLayout } from './layout';
import { daemonStatus, type DevPart, type PartStatus } from './part';
import { daemonPid, spawnDaemon, stopDaemon, waitFor } from './processes';

export function dockerPart(l: DevLayout): DevPart {
  const pidFile = path.join(l.docker.dir, 'dockerd.pid.drover');
  const logFile = path.join(l.docker.dir, 'dockerd.log');
  const endpoint = `unix://${l.docker.socket}`;

  async function ping(): Promise<{ ok: boolean; version?: string; swarm?: string }> {
    try {
      const d = createDockerClient({ host: endpoint });
      await d.ping();
      const info = (await d.info()) as { ServerVersion?: string; Swarm?: { LocalNodeState?: string } };
      return { ok: true, version: info.ServerVersion, swarm: info.Swarm?.LocalNodeState };
    } catch {
      return { ok: false };
    }
  }

  return {
    name: 'docker',
    async up() {
      mkdirSync(l.docker.dir, { recursive: true });
      mkdirSync(l.docker.runDir, { recursive: true });
      if (daemonPid(pidFile, 'dockerd')) return;
      spawnDaemon({
        command: 'dockerd',
        args: [
          '--host', endpoint,
          '--data-root', path.join(l.docker.dir, 'data'),
          '--exec-root', path.join(l.docker.runDir, 'exec'),
          '--pidfile', path.join(l.docker.runDir, 'dockerd.pid'),
          '--iptables=false',
          '--ip6tables=false',
          '--bridge=none',
        ],
        logFile,
        pidFile,
      });
      await waitFor('dockerd', async () => (await ping()).ok, 60_000, () => daemonPid(pidFile, 'dockerd') !== null);
    },
    async down() {
      await stopDaemon(pidFile, 'dockerd', 30_000);
    },
    async status(): Promise<PartStatus> {
      const running = daemonPid(pidFile, 'dockerd') !== null;
      const p = running ? await ping() : { ok: false };
      const detail = { version: (p as { version?: string }).version, swarm: (p as { swarm?: string }).swarm };
      return daemonStatus({ name: 'docker', running, healthy: p.ok, endpoint, detail, unhealthy: 'not answering', logFile });
    },
  };
}

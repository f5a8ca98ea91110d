/**
 * Activities on a farm's nodes and their Docker Swarm, reached over SSH with the node's pinned host key: wait for
 * SSH, bootstrap Docker (installed and started if missing, idempotently), swarm init/join, labels, encrypted
 * overlay networks, stacks deployed and waited on until their services converge, and a report of it all.
 * Every call looks before it changes anything, so a retry or a re-run of the bring-up repeats nothing.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { ActivityDeps } from './deps';
import { closeDockerClient, createDockerClient } from './lib/docker-client';
import { classifyDockerError, failure } from './lib/errors';
import { SshClient, withSsh } from './lib/ssh-client';

/** How to reach a node: SSH (root, pinned host key) and where its Docker socket is. */
export interface NodeAddress {
  name: string;
  ip: string;
  sshPort: number;
  hostKey: string;
  dockerSocket: string;
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Installs and starts Docker if it is not running. On a droplet (systemd): docker.io from Debian, enabled as a
 * service. On a local node (DROVER_NODE_DIR set by its sshd): dockerd started in the node's namespaces with its
 * own data and socket. Either way a second run finds Docker answering and changes nothing.
 */
export const BOOTSTRAP_SCRIPT = `set -eu
if docker info >/dev/null 2>&1; then echo "docker already running"; docker version --format '{{.Server.Version}}'; exit 0; fi
if ! command -v dockerd >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io
fi
if [ -n "\${DROVER_NODE_DIR:-}" ]; then
  d="$DROVER_NODE_DIR"
  setsid dockerd --host "$DOCKER_HOST" --data-root "$d/data" --exec-root "$d/exec" --pidfile "$d/dockerd.pid" \\
    --storage-driver=vfs --iptables=false --ip6tables=false --bridge=none >"$d/dockerd.log" 2>&1 </dev/null &
else
  mkdir -p /etc/docker
  [ -f /etc/docker/daemon.json ] || printf '%s\\n' '{ "log-driver": "json-file", "log-opts": { "max-size": "50m", "max-file": "3" } }' > /etc/docker/daemon.json
  systemctl enable --now docker
fi
for i in $(seq 1 120); do docker info >/dev/null 2>&1 && break; sleep 0.5; done
docker info >/dev/null
echo "docker started"; docker version --format '{{.Server.Version}}'
`;

export function createSwarmNodeActivities({ ssh }: Pick<ActivityDeps, 'ssh'>) {
  const target = (n: NodeAddress) => ({ host: n.ip, port: n.sshPort, username: 'root' });
  const opts = (n: NodeAddress) => ({ ...ssh.options, pinnedHostKeys: [n.hostKey] });
  const docker = (n: NodeAddress): Docker => createDockerClient({ host: `ssh://root@${n.ip}:${n.sshPort}${n.dockerSocket}`, sshPrivateKey: ssh.options.privateKey, sshPinnedHostKeys: [n.hostKey] });
  const onDocker = async <T>(n: NodeAddress, fn: (d: Docker) => Promise<T>): Promise<T> => {
    const d = docker(n);
    try {
      return await fn(d);
    } catch (err) {
      if ((err as { type?: string }).type) throw err;
      throw classifyDockerError(err, n.name);
    } finally {
      closeDockerClient(d);
    }
  };

  return {
    /** Waits until the node answers SSH with its pinned host key (fresh droplets take a while). */
    async waitForSsh(input: { node: NodeAddress; timeoutMs?: number }): Promise<{ ready: true }> {
      const deadline = Date.now() + (input.timeoutMs ?? 300_000);
      for (;;) {
        try {
          const c = await SshClient.connect(target(input.node), { ...opts(input.node), readyTimeoutMs: 5_000 }, cancellationSignal());
          c.close();
          return { ready: true };
        } catch (err) {
          const type = (err as { type?: string }).type;
          if (type === 'SshHostKeyMismatch' || type === 'SshAuthFailed' || Date.now() > deadline) throw err;
          heartbeat({ waiting: input.node.name });
          await sleep(1000);
        }
      }
    },

    /** Docker installed and running on the node (see BOOTSTRAP_SCRIPT). */
    async bootstrapNode(input: { node: NodeAddress }): Promise<{ changed: boolean; dockerVersion: string }> {
      heartbeat({ node: input.node.name });
      const r = await withSsh(target(input.node), opts(input.node), (c) => c.execOrThrow('sh -s', { stdin: BOOTSTRAP_SCRIPT, signal: cancellationSignal() }), cancellationSignal());
      const lines = r.stdout.trim().split('\n');
      return { changed: lines[0] === 'docker started', dockerVersion: lines.at(-1) ?? '' };
    },

    /** Initialises the swarm on the first manager, or finds it initialised; returns the join tokens. */
    async initSwarm(input: { manager: NodeAddress }): Promise<{ created: boolean; managerToken: string; workerToken: string }> {
      return onDocker(input.manager, async (d) => {
        const info = (await d.info()) as { Swarm: { LocalNodeState: string; ControlAvailable: boolean } };
        let created = false;
        if (info.Swarm.LocalNodeState !== 'active') {
          await d.swarmInit({ ListenAddr: `${input.manager.ip}:2377`, AdvertiseAddr: `${input.manager.ip}:2377`, ForceNewCluster: false });
          created = true;
        } else if (!info.Swarm.ControlAvailable) {
          throw failure('InvalidInput', `${input.manager.name} is in a swarm but not a manager`);
        }
        const s = (await d.swarmInspect()) as { JoinTokens: { Manager: string; Worker: string } };
        return { created, managerToken: s.JoinTokens.Manager, workerToken: s.JoinTokens.Worker };
      });
    },

    /** Joins a node to the swarm (as manager or worker); a node already in it is left alone. */
    async joinSwarm(input: { node: NodeAddress; managerIp: string; token: string }): Promise<{ joined: boolean }> {
      return onDocker(input.node, async (d) => {
        const info = (await d.info()) as { Swarm: { LocalNodeState: string; RemoteManagers: { Addr: string }[] | null } };
        if (info.Swarm.LocalNodeState === 'active') {
          const managers = (info.Swarm.RemoteManagers ?? []).map((m) => m.Addr.split(':')[0]);
          if (!managers.includes(input.managerIp)) throw failure('InvalidInput', `${input.node.name} belongs to another swarm (managers ${managers.join(', ')})`);
          return { joined: false };
        }
        await d.swarmJoin({ ListenAddr: `${input.node.ip}:2377`, AdvertiseAddr: `${input.node.ip}:2377`, RemoteAddrs: [`${input.managerIp}:2377`], JoinToken: input.token });
        return { joined: true };
      });
    },

    /** Sets labels on swarm nodes by hostname (merging with labels already there). */
    async labelSwarmNodes(input: { manager: NodeAddress; labels: Record<string, Record<string, string>> }): Promise<{ changed: string[] }> {
      return onDocker(input.manager, async (d) => {
        const nodes = (await d.listNodes()) as { ID: string; Version: { Index: number }; Description: { Hostname: string }; Spec: { Labels?: Record<string, string>; Role: string; Availability: string } }[];
        const changed: string[] = [];
        for (const [hostname, labels] of Object.entries(input.labels)) {
          const n = nodes.find((x) => x.Description.Hostname === hostname);
          if (!n) throw failure('InvalidInput', `no swarm node named ${hostname}`);
          const merged = { ...(n.Spec.Labels ?? {}), ...labels };
          if (JSON.stringify(merged) === JSON.stringify(n.Spec.Labels ?? {})) continue;
          await d.getNode(n.ID).update({ version: n.Version.Index, ...n.Spec, Labels: merged });
          changed.push(hostname);
        }
        return { changed };
      });
    },

    /** An attachable overlay network, encrypted (IPsec) unless told otherwise; found by name or created. */
    async ensureOverlayNetwork(input: { manager: NodeAddress; name: string; subnet: string; encrypted: boolean }): Promise<{ created: boolean }> {
      return onDocker(input.manager, async (d) => {
        const found = ((await d.listNetworks({ filters: { name: [input.name] } })) as { Name: string; Driver: string; IPAM?: { Config?: { Subnet?: string }[] } }[]).find((n) => n.Name === input.name);
        if (found) {
          if (found.Driver !== 'overlay') throw failure('InvalidInput', `network ${input.name} exists with driver ${found.Driver}`);
          return { created: false };
        }
        await d.createNetwork({ Name: input.name, Driver: 'overlay', Attachable: true, CheckDuplicate: true, Options: input.encrypted ? { encrypted: '' } : {}, IPAM: { Driver: 'default', Config: [{ Subnet: input.subnet }] }, Labels: { 'drover.managed': 'true' } });
        return { created: true };
      });
    },

    /** An image on a node, imported from a root filesystem tarball on the worker when missing (no registry here). */
    async ensureImportedImage(input: { node: NodeAddress; image: string; tarPath: string }): Promise<{ imported: boolean }> {
      return onDocker(input.node, async (d) => {
        const images = (await d.listImages({ filters: { reference: [input.image] } })) as unknown[];
        if (images.length) return { imported: false };
        const { createReadStream } = await import('node:fs');
        const [repo, tag] = input.image.split(':');
        const stream = await d.importImage(createReadStream(input.tarPath), { repo, tag: tag ?? 'latest' });
        await new Promise<void>((resolve, reject) => d.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
        return { imported: true };
      });
    },

    /** `docker stack deploy` on the manager, the compose file on stdin (deploying the same file again is a no-op). */
    async deployStack(input: { manager: NodeAddress; name: string; compose: string }): Promise<{ output: string }> {
      const r = await withSsh(target(input.manager), opts(input.manager), (c) => c.execOrThrow(`docker stack deploy --prune -c - ${q(input.name)}`, { stdin: input.compose, signal: cancellationSignal() }), cancellationSignal());
      return { output: r.stdout.trim() };
    },

    /** Waits until every replicated service of the stack runs its desired tasks; reports where they run. */
    async waitForStack(input: { manager: NodeAddress; name: string; timeoutMs?: number }): Promise<{ services: { name: string; desired: number; running: number; nodes: string[] }[] }> {
      const deadline = Date.now() + (input.timeoutMs ?? 600_000);
      return onDocker(input.manager, async (d) => {
        for (;;) {
          const services = (await d.listServices({ filters: { label: [`com.docker.stack.namespace=${input.name}`] } })) as { ID: string; Spec: { Name: string; Mode: { Replicated?: { Replicas: number }; Global?: object } } }[];
          const nodes = (await d.listNodes()) as { ID: string; Description: { Hostname: string } }[];
          const host = (id: string) => nodes.find((n) => n.ID === id)?.Description.Hostname ?? id;
          const out = [];
          for (const s of services) {
            const tasks = (await d.listTasks({ filters: { service: [s.ID], 'desired-state': ['running'] } })) as { NodeID: string; Status: { State: string } }[];
            const running = tasks.filter((t) => t.Status.State === 'running');
            const desired = s.Spec.Mode.Replicated?.Replicas ?? tasks.length;
            out.push({ name: s.Spec.Name, desired, running: running.length, nodes: running.map((t) => host(t.NodeID)).sort() });
          }
          heartbeat({ stack: input.name, services: out.map((s) => `${s.name} ${s.running}/${s.desired}`) });
          if (services.length && out.every((s) => s.running === s.desired)) return { services: out };
          if (Date.now() > deadline) throw failure('RemoteCommandFailed', `stack ${input.name} did not converge: ${out.map((s) => `${s.name} ${s.running}/${s.desired}`).join(', ') || 'no services'}`);
          await sleep(1000);
        }
      });
    },

    /**
     * Takes worker nodes out without a site losing its running task: the nodes are paused (nothing new lands
     * there), every replicated service with tasks on them is scaled up by that many and waited on until the extra
     * tasks run elsewhere, then the nodes are drained (their tasks stop), and each service goes back to its
     * replica count. Idempotent: a drained node has no tasks left to move.
     */
    async drainSwarmNodes(input: { manager: NodeAddress; hostnames: string[]; timeoutMs?: number }): Promise<{ moved: Record<string, number> }> {
      const deadline = Date.now() + (input.timeoutMs ?? 600_000);
      return onDocker(input.manager, async (d) => {
        type SwarmNode = { ID: string; Version: { Index: number }; Description: { Hostname: string }; Spec: { Availability: string } };
        type Service = { ID: string; Version: { Index: number }; Spec: { Name: string; Mode: { Replicated?: { Replicas: number } } } & Record<string, unknown> };
        const setAvailability = async (availability: 'pause' | 'drain') => {
          for (const n of (await d.listNodes()) as SwarmNode[]) {
            if (!input.hostnames.includes(n.Description.Hostname) || n.Spec.Availability === availability) continue;
            await d.getNode(n.ID).update({ version: n.Version.Index, ...n.Spec, Availability: availability });
          }
        };
        const nodeIds = async () => ((await d.listNodes()) as SwarmNode[]).filter((n) => input.hostnames.includes(n.Description.Hostname)).map((n) => n.ID);
        const running = async (serviceId: string) => (await d.listTasks({ filters: { service: [serviceId], 'desired-state': ['running'] } })) as { NodeID: string; Status: { State: string } }[];
        const setReplicas = async (name: string, replicas: number) => {
          const s = (await d.getService(name).inspect()) as Service;
          await d.getService(s.ID).update({ version: s.Version.Index, ...s.Spec, Mode: { Replicated: { Replicas: replicas } } });
        };
        const waitRunning = async (name: string, want: number, notOn: string[]) => {
          for (;;) {
            const s = (await d.getService(name).inspect()) as Service;
            const elsewhere = (await running(s.ID)).filter((t) => t.Status.State === 'running' && !notOn.includes(t.NodeID)).length;
            heartbeat({ service: name, elsewhere, want });
            if (elsewhere >= want) return;
            if (Date.now() > deadline) throw failure('RemoteCommandFailed', `${name}: only ${elsewhere} of ${want} tasks run outside ${input.hostnames.join(', ')}`);
            await sleep(1000);
          }
        };

        await setAvailability('pause');
        const ids = await nodeIds();
        const moved: Record<string, number> = {};
        for (const s of (await d.listServices()) as unknown as Service[]) {
          const replicas = s.Spec.Mode.Replicated?.Replicas;
          if (replicas === undefined) continue;
          const here = (await running(s.ID)).filter((t) => ids.includes(t.NodeID)).length;
          if (!here) continue;
          moved[s.Spec.Name] = here;
          await setReplicas(s.Spec.Name, replicas + here);
          await waitRunning(s.Spec.Name, replicas, ids);
        }
        await setAvailability('drain');
        for (const [name, here] of Object.entries(moved)) {
          const s = (await d.getService(name).inspect()) as Service;
          await setReplicas(name, (s.Spec.Mode.Replicated?.Replicas ?? here) - here);
        }
        for (const name of Object.keys(moved)) await waitRunning(name, 0, ids);
        return { moved };
      });
    },

    /** The node leaves the swarm, and the manager forgets it. A node already gone is fine. */
    async removeFromSwarm(input: { manager: NodeAddress; node: NodeAddress }): Promise<{ removed: boolean }> {
      await onDocker(input.node, async (d) => {
        const info = (await d.info()) as { Swarm: { LocalNodeState: string } };
        if (info.Swarm.LocalNodeState === 'active') await d.swarmLeave({ force: false });
      }).catch((err: { type?: string }) => {
        if (err.type !== 'SshUnreachable' && err.type !== 'DockerUnavailable') throw err;
      });
      return onDocker(input.manager, async (d) => {
        for (let i = 0; i < 30; i++) {
          const n = ((await d.listNodes()) as { ID: string; Description: { Hostname: string }; Status: { State: string } }[]).find((x) => x.Description.Hostname === input.node.name);
          if (!n) return { removed: false };
          if (n.Status.State === 'down') {
            await d.getNode(n.ID).remove({ force: false });
            return { removed: true };
          }
          await sleep(1000);
        }
        throw failure('RemoteCommandFailed', `${input.node.name} left the swarm but the manager still sees it up`);
      });
    },

    /** The swarm as its manager sees it: nodes (role, state, labels), overlay networks, services and replicas. */
    async swarmReport(input: { manager: NodeAddress }): Promise<SwarmReport> {
      return onDocker(input.manager, async (d) => {
        const nodes = (await d.listNodes()) as { Description: { Hostname: string }; Spec: { Role: string; Availability: string; Labels?: Record<string, string> }; Status: { State: string } }[];
        const networks = (await d.listNetworks({ filters: { driver: ['overlay'] } })) as { Name: string; Options?: Record<string, string>; IPAM?: { Config?: { Subnet?: string }[] } }[];
        const services = (await d.listServices()) as { ID: string; Spec: { Name: string; Mode: { Replicated?: { Replicas: number } } } }[];
        const serviceReport = [];
        for (const s of services) {
          const tasks = (await d.listTasks({ filters: { service: [s.ID], 'desired-state': ['running'] } })) as { Status: { State: string } }[];
          serviceReport.push({ name: s.Spec.Name, desired: s.Spec.Mode.Replicated?.Replicas ?? tasks.length, running: tasks.filter((t) => t.Status.State === 'running').length });
        }
        return {
          nodes: nodes.map((n) => ({ hostname: n.Description.Hostname, role: n.Spec.Role, availability: n.Spec.Availability, state: n.Status.State, labels: n.Spec.Labels ?? {} })).sort((a, b) => (a.hostname < b.hostname ? -1 : 1)),
          networks: networks.filter((n) => n.Name !== 'ingress').map((n) => ({ name: n.Name, encrypted: n.Options ? 'encrypted' in n.Options : false, subnet: n.IPAM?.Config?.[0]?.Subnet ?? null })).sort((a, b) => (a.name < b.name ? -1 : 1)),
          services: serviceReport.sort((a, b) => (a.name < b.name ? -1 : 1)),
        };
      });
    },
  };
}

export interface SwarmReport {
  nodes: { hostname: string; role: string; availability: string; state: string; labels: Record<string, string> }[];
  networks: { name: string; encrypted: boolean; subnet: string | null }[];
  services: { name: string; desired: number; running: number }[];
}

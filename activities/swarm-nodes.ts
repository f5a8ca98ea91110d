/**
 * Activities on a farm's nodes and their Docker Swarm, reached over SSH with the node's pinned host key: wait for
 * SSH, bootstrap Docker (installed and started if missing, idempotently), swarm init/join, labels, encrypted
 * overlay networks, stacks deployed and waited on until their services converge, and a report of it all.
 * Every call looks before it changes anything, so a retry or a re-run of the bring-up repeats nothing.
 */
import path from 'node:path';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { ActivityDeps } from '../lib/clients/deps';
import { closeDockerClient, createDockerClient } from '../lib/clients/docker-client';
import { withHeartbeat } from './lib/heartbeat';
import { classifyDockerError, failure } from '../lib/clients/errors';
import { SshClient, withSsh } from '../lib/clients/ssh-client';
import { shellQuote as q } from '../lib/shell-quote';
import { runningTasks } from '../lib/swarm-running';
import { BOOTSTRAP_SCRIPT, SOCKET_SCRIPT, socketPath } from './lib/node-scripts';

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

/** Runs `fn` with a Docker client on node `n`, closed afterwards; Docker's errors classified once (lib/clients/errors). */
export async function withNodeDocker<T>(privateKey: string | Buffer, n: NodeAddress, fn: (d: Docker) => Promise<T>): Promise<T> {
  const d = nodeDockerClient(privateKey, n);
  try {
    return await fn(d);
  } catch (err) {
    if ((err as { type?: string }).type) throw err;
    throw classifyDockerError(err, n.name);
  } finally {
    closeDockerClient(d);
  }
}

const swarmIp = (n: NodeAddress) => n.swarmIp ?? n.ip;

/** The shell script deployStack runs on the manager: files from base64 here-documents, then the deploy. */
export function stackDeployScript(input: { name: string; compose: string; files?: Record<string, string>; env?: Record<string, string>; resolveImage?: 'always' | 'changed' | 'never' }): string {
  const put = (rel: string, content: string) => {
    const at = path.posix.normalize(path.posix.join('stacks', rel));
    if (at.startsWith('..') || path.posix.isAbsolute(at)) throw failure('InvalidInput', `stack ${input.name}: ${rel} is outside the stack's folder`);
    return `mkdir -p "$d"/${q(path.posix.dirname(at))}\nbase64 -d > "$d"/${q(at)} <<'DROVER_EOF'\n${Buffer.from(content).toString('base64').replace(/.{1,76}/g, '$&\n')}DROVER_EOF\n`;
  };
  const env = Object.entries(input.env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(k)) throw failure('InvalidInput', `stack ${input.name}: variable name ${k}`);
    return `${k}=${q(v)}`;
  });
  return [
    'set -eu',
    'umask 077',
    'd=$(mktemp -d)',
    'trap \'rm -rf "$d"\' EXIT',
    put(`${input.name}.yml`, input.compose),
    ...Object.entries(input.files ?? {}).map(([rel, content]) => put(rel, content)),
    `cd "$d/stacks" && env ${env.join(' ')} docker stack deploy --prune --resolve-image ${input.resolveImage ?? 'always'} -c ${q(`${input.name}.yml`)} ${q(input.name)}`,
    '',
  ].join('\n');
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


/** How recent an ended task's error must be to explain a slot without a task now. */
const RECENT_FAILURE_MS = 10 * 60_000;

/**
 * The latest error of a service's tasks that ended in the last ten minutes (e.g. "task: non-zero exit (137)"), as a
 * list of none or one: an exit of hours ago explains nothing of now.
 */
async function lastFailure(d: Docker, serviceId: string): Promise<string[]> {
  const ended = (await d.listTasks({ filters: { service: [serviceId], 'desired-state': ['shutdown'] } })) as { UpdatedAt?: string; Status: { Err?: string } }[];
  const at = (t: { UpdatedAt?: string }) => Date.parse(t.UpdatedAt ?? '') || 0;
  const last = ended.filter((t) => t.Status.Err && Date.now() - at(t) < RECENT_FAILURE_MS).sort((a, b) => at(b) - at(a))[0];
  return last ? [`last task ended: ${last.Status.Err}`] : [];
}

export function createSwarmNodeActivities({ ssh }: Pick<ActivityDeps, 'ssh'>) {
  const target = (n: NodeAddress) => ({ host: n.ip, port: n.sshPort, username: 'root' });
  const opts = (n: NodeAddress) => ({ ...ssh.options, pinnedHostKeys: [n.hostKey] });
  const onDocker = <T>(n: NodeAddress, fn: (d: Docker) => Promise<T>): Promise<T> => withNodeDocker(ssh.options.privateKey, n, fn);

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

    /** Docker installed and running on the node (see BOOTSTRAP_SCRIPT); returns where its socket is. */
    async bootstrapNode(input: { node: NodeAddress }): Promise<{ changed: boolean; dockerVersion: string; dockerSocket: string }> {
      // Installing Docker takes minutes: heartbeat on a timer while the script runs.
      const r = await withHeartbeat(
        () => ({ node: input.node.name }),
        () => withSsh(target(input.node), opts(input.node), (c) => c.execOrThrow('sh -s', { stdin: BOOTSTRAP_SCRIPT, signal: cancellationSignal() }), cancellationSignal()),
      );
      const lines = r.stdout.trim().split('\n');
      return { changed: lines.at(-3) === 'docker started', dockerVersion: lines.at(-2) ?? '', dockerSocket: socketPath(lines.at(-1) ?? '') };
    },

    /** Where the node's Docker socket is, without changing anything (for read-only reports on existing nodes). */
    async nodeDockerSocket(input: { node: Omit<NodeAddress, 'dockerSocket'> }): Promise<{ dockerSocket: string }> {
      const n = { ...input.node, dockerSocket: '' };
      const r = await withSsh(target(n), opts(n), (c) => c.execOrThrow(SOCKET_SCRIPT, { signal: cancellationSignal() }), cancellationSignal());
      return { dockerSocket: socketPath(r.stdout) };
    },

    /**
     * Initialises the swarm on the first manager, or finds it initialised. The join tokens are secrets: they are
     * not returned (they would land in workflow history); joinSwarm reads them from the manager itself.
     */
    async initSwarm(input: { manager: NodeAddress }): Promise<{ created: boolean; swarmId: string }> {
      return onDocker(input.manager, async (d) => {
        const info = (await d.info()) as { Swarm: { LocalNodeState: string; ControlAvailable: boolean } };
        let created = false;
        if (info.Swarm.LocalNodeState !== 'active') {
          await d.swarmInit({ ListenAddr: `${swarmIp(input.manager)}:2377`, AdvertiseAddr: `${swarmIp(input.manager)}:2377`, ForceNewCluster: false });
          created = true;
        } else if (!info.Swarm.ControlAvailable) {
          throw failure('InvalidInput', `${input.manager.name} is in a swarm but not a manager`);
        }
        const s = (await d.swarmInspect()) as { ID: string };
        return { created, swarmId: s.ID };
      });
    },

    /**
     * Joins a node to the manager's swarm as manager or worker; a node already in it is left alone. The join
     * token is read from the manager here, inside the activity, so it never appears in workflow history.
     */
    async joinSwarm(input: { node: NodeAddress; manager: NodeAddress; role: 'manager' | 'worker' }): Promise<{ joined: boolean }> {
      const managerIp = swarmIp(input.manager);
      return onDocker(input.node, async (d) => {
        const info = (await d.info()) as { Swarm: { LocalNodeState: string; RemoteManagers: { Addr: string }[] | null } };
        if (info.Swarm.LocalNodeState === 'active') {
          const managers = (info.Swarm.RemoteManagers ?? []).map((m) => m.Addr.split(':')[0]);
          if (!managers.includes(managerIp)) throw failure('InvalidInput', `${input.node.name} belongs to another swarm (managers ${managers.join(', ')})`);
          return { joined: false };
        }
        const tokens = await onDocker(input.manager, async (m) => ((await m.swarmInspect()) as { JoinTokens: { Manager: string; Worker: string } }).JoinTokens);
        await d.swarmJoin({ ListenAddr: `${swarmIp(input.node)}:2377`, AdvertiseAddr: `${swarmIp(input.node)}:2377`, RemoteAddrs: [`${managerIp}:2377`], JoinToken: input.role === 'manager' ? tokens.Manager : tokens.Worker });
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

    /**
     * An image on a node, imported from a root filesystem tarball on the worker when missing (no registry here);
     * `changes` are Dockerfile instructions applied on import (ENTRYPOINT, CMD, HEALTHCHECK, …), as `docker import
     * --change` takes them.
     */
    async ensureImportedImage(input: { node: NodeAddress; image: string; tarPath: string; changes?: string[] }): Promise<{ imported: boolean }> {
      return withHeartbeat(() => ({ node: input.node.name, image: input.image }), () => onDocker(input.node, async (d) => {
        const images = (await d.listImages({ filters: { reference: [input.image] } })) as unknown[];
        if (images.length) return { imported: false };
        const { createReadStream } = await import('node:fs');
        const [repo, tag] = input.image.split(':');
        const stream = await d.importImage(createReadStream(input.tarPath), { repo, tag: tag ?? 'latest', ...(input.changes?.length ? { changes: input.changes } : {}) });
        await new Promise<void>((resolve, reject) => d.modem.followProgress(stream, (err: Error | null) => (err ? reject(err) : resolve())));
        return { imported: true };
      }));
    },

    /**
     * `docker stack deploy` on the manager (deploying the same stack again is a no-op). The stack file and the
     * config files it names are written to a private temporary folder there, laid out as in the repository
     * (stacks/<name>.yml, ../configs/…), and its variables are set for the deploy only. `resolveImage` is
     * Docker's: `always` (the default) pins each image to the registry's digest, so every node runs the same one.
     */
    async deployStack(input: { manager: NodeAddress; name: string; compose: string; files?: Record<string, string>; env?: Record<string, string>; resolveImage?: 'always' | 'changed' | 'never' }): Promise<{ output: string }> {
      // Pulling images to resolve digests can take minutes: heartbeat on a timer while it runs.
      const r = await withHeartbeat(
        () => ({ manager: input.manager.name, stack: input.name }),
        () => withSsh(target(input.manager), opts(input.manager), (c) => c.execOrThrow('sh -s', { stdin: stackDeployScript(input), signal: cancellationSignal() }), cancellationSignal()),
      );
      return { output: r.stdout.trim() };
    },

    /**
     * Waits until every replicated service of the stack (of the whole swarm when `name` is left out) runs exactly its
     * desired tasks; reports where they run.
     */
    async waitForStack(input: { manager: NodeAddress; name?: string; timeoutMs?: number }): Promise<{ services: { name: string; desired: number; running: number; nodes: string[] }[] }> {
      const deadline = Date.now() + (input.timeoutMs ?? 600_000);
      const what = input.name === undefined ? 'the swarm' : `stack ${input.name}`;
      return onDocker(input.manager, async (d) => {
        for (;;) {
          const services = (await d.listServices(input.name === undefined ? {} : { filters: { label: [`com.docker.stack.namespace=${input.name}`] } })) as { ID: string; Spec: { Name: string; Mode: { Replicated?: { Replicas: number }; Global?: object } } }[];
          const nodes = (await d.listNodes()) as { ID: string; Description: { Hostname: string }; Status: { State: string } }[];
          const host = (id: string) => nodes.find((n) => n.ID === id)?.Description.Hostname ?? id;
          const out: { name: string; desired: number; running: number; nodes: string[]; why: string[]; tasks: string[] }[] = [];
          for (const s of services) {
            const tasks = (await d.listTasks({ filters: { service: [s.ID], 'desired-state': ['running'] } })) as { ID: string; Slot?: number; NodeID: string; CreatedAt?: string; Status: { State: string; Err?: string } }[];
            const running = runningTasks(tasks, nodes);
            const desired = s.Spec.Mode.Replicated?.Replicas ?? tasks.length;
            // Why a task does not run, as swarm says it (e.g. "no suitable node (insufficient resources on 2 nodes)");
            // with no task even wanted in a slot, the latest failure of one that was (the slot's last exit).
            const why = [...new Set(tasks.filter((t) => t.Status.State !== 'running' && t.Status.Err).map((t) => t.Status.Err!))];
            if (!why.length && tasks.length < desired) why.push(...(await lastFailure(d, s.ID)));
            // Each task as swarm sees it (slot, node and its state, task state, created), for a service that does not settle.
            const seen = tasks.map((t) => `slot ${t.Slot ?? '-'} on ${host(t.NodeID)} (${nodes.find((n) => n.ID === t.NodeID)?.Status.State ?? 'no such node'}) ${t.Status.State} since ${t.CreatedAt ?? '?'}`);
            out.push({ name: s.Spec.Name, desired, running: running.length, nodes: running.map((t) => host(t.NodeID)).sort(), why, tasks: seen });
          }
          const state = (s: (typeof out)[number]): string =>
            `${s.name} ${s.running}/${s.desired}${s.running < s.desired && s.why.length ? ` (${s.why.join('; ')})` : ''}${s.running > s.desired ? ` [${s.tasks.join('; ')}]` : ''}`;
          heartbeat({ stack: input.name ?? '(all)', services: out.map(state) });
          if ((services.length || input.name === undefined) && out.every((s) => s.running === s.desired)) return { services: out.map(({ why: _, tasks: _t, ...s }) => s) };
          if (Date.now() > deadline) throw failure('RemoteCommandFailed', `${what} did not converge: ${out.map(state).join(', ') || 'no services'}`);
          await sleep(1000);
        }
      });
    },

    /**
     * Takes worker nodes out without a site losing its running task: the nodes are paused (nothing new lands
     * there), every replicated service with tasks on them is scaled up by that many and waited on until the extra
     * tasks run elsewhere, then the nodes are drained (their tasks stop) and, once every task they had is replaced (no
     * replacement still waiting out its restart delay), each service goes back to its replica count (also when a wait
     * gives up). Idempotent: a drained node has no tasks left to move.
     */
    async drainSwarmNodes(input: { manager: NodeAddress; hostnames: string[]; timeoutMs?: number }): Promise<{ moved: Record<string, number> }> {
      const deadline = Date.now() + (input.timeoutMs ?? 600_000);
      return onDocker(input.manager, async (d) => {
        type SwarmNode = { ID: string; Version: { Index: number }; Description: { Hostname: string }; Spec: { Availability: string }; Status: { State: string } };
        type Service = { ID: string; Version: { Index: number }; Spec: { Name: string; Mode: { Replicated?: { Replicas: number } } } & Record<string, unknown> };
        type Task = { NodeID: string; DesiredState?: string; Status: { State: string } };
        const setAvailability = async (availability: 'pause' | 'drain') => {
          for (const n of (await d.listNodes()) as SwarmNode[]) {
            if (!input.hostnames.includes(n.Description.Hostname) || n.Spec.Availability === availability) continue;
            await d.getNode(n.ID).update({ version: n.Version.Index, ...n.Spec, Availability: availability });
          }
        };
        const nodeIds = async () => ((await d.listNodes()) as SwarmNode[]).filter((n) => input.hostnames.includes(n.Description.Hostname)).map((n) => n.ID);
        // Wanted running, or created and waiting out the restart delay before it starts ("ready"): a replacement for a
        // task on a drained node is such a one for a few seconds, and a scale-down in that window left it to start
        // after, in a slot swarm had just removed (4 tasks of 3, for good).
        const running = async (serviceId: string) => (await d.listTasks({ filters: { service: [serviceId], 'desired-state': ['running', 'ready'] } })) as Task[];
        const setReplicas = async (name: string, replicas: number) => {
          const s = (await d.getService(name).inspect()) as Service;
          await d.getService(s.ID).update({ version: s.Version.Index, ...s.Spec, Mode: { Replicated: { Replicas: replicas } } });
        };
        /** Polls the service until its tasks (wanted running) satisfy `settled`; past the deadline, fails with `why`. */
        const waitTasks = async (name: string, settled: (tasks: Task[], up: Task[], want: number) => boolean, why: (up: Task[], tasks: Task[], want: number) => string) => {
          for (;;) {
            const s = (await d.getService(name).inspect()) as Service;
            const want = s.Spec.Mode.Replicated?.Replicas ?? 0;
            const tasks = await running(s.ID);
            const up = runningTasks(tasks, (await d.listNodes()) as SwarmNode[]);
            heartbeat({ service: name, running: up.length, want });
            if (settled(tasks, up, want)) return;
            if (Date.now() > deadline) throw failure('RemoteCommandFailed', `${name}: ${why(up, tasks, want)}`);
            await sleep(1000);
          }
        };
        const outside = (ids: string[]) => (t: Task) => !ids.includes(t.NodeID);

        await setAvailability('pause');
        const ids = await nodeIds();
        const moved: Record<string, number> = {};
        // Each service scaled up goes back to its replicas, also when a wait below gives up (not across a crash of the
        // worker: a retry finds nothing left on the nodes and scales nothing back).
        const scaleBack = async () => {
          for (const [name, here] of Object.entries(moved)) {
            const s = (await d.getService(name).inspect()) as Service;
            await setReplicas(name, (s.Spec.Mode.Replicated?.Replicas ?? here) - here);
          }
        };
        try {
          for (const s of (await d.listServices()) as unknown as Service[]) {
            const replicas = s.Spec.Mode.Replicated?.Replicas;
            if (replicas === undefined) continue;
            const here = (await running(s.ID)).filter((t) => ids.includes(t.NodeID)).length;
            if (!here) continue;
            await setReplicas(s.Spec.Name, replicas + here);
            moved[s.Spec.Name] = here;
            await waitTasks(s.Spec.Name, (_, up) => up.filter(outside(ids)).length >= replicas, (up) => `only ${up.filter(outside(ids)).length} of ${replicas} tasks run outside ${input.hostnames.join(', ')}`);
          }
          await setAvailability('drain');
          // Before any service scales back: no task left on the drained nodes, no replacement still waiting out its
          // restart delay, and at least the service's own replicas running elsewhere. Not every replacement need run:
          // the other nodes may have room for its replicas only (reservations), which is all the scale-up asked of them.
          for (const [name, here] of Object.entries(moved)) {
            await waitTasks(
              name,
              (tasks, up, want) => tasks.every((t) => t.DesiredState !== 'ready' && outside(ids)(t)) && up.filter(outside(ids)).length >= want - here,
              (up, tasks, want) => `${up.filter(outside(ids)).length} of ${want - here} tasks run outside ${input.hostnames.join(', ')} after the drain (${tasks.length} wanted running or starting)`,
            );
          }
        } catch (err) {
          await scaleBack().catch(() => undefined);
          throw err;
        }
        await scaleBack();
        // Settled: exactly its replicas running, none on the drained nodes, no replacement still starting or stopping.
        for (const name of Object.keys(moved)) {
          await waitTasks(
            name,
            (tasks, up, want) => tasks.length === want && up.length === want && up.every(outside(ids)),
            (up, tasks, want) => `${up.length} tasks run (${tasks.length} wanted running), not settled at ${want} outside ${input.hostnames.join(', ')}`,
          );
        }
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
        const nodes = (await d.listNodes()) as { ID: string; Description: { Hostname: string }; Spec: { Role: string; Availability: string; Labels?: Record<string, string> }; Status: { State: string } }[];
        const networks = (await d.listNetworks({ filters: { driver: ['overlay'] } })) as { Name: string; Options?: Record<string, string>; IPAM?: { Config?: { Subnet?: string }[] } }[];
        const services = (await d.listServices()) as { ID: string; Spec: { Name: string; Mode: { Replicated?: { Replicas: number } } } }[];
        const serviceReport = [];
        for (const s of services) {
          const tasks = (await d.listTasks({ filters: { service: [s.ID], 'desired-state': ['running'] } })) as { NodeID?: string; Status: { State: string } }[];
          serviceReport.push({ name: s.Spec.Name, desired: s.Spec.Mode.Replicated?.Replicas ?? tasks.length, running: runningTasks(tasks, nodes).length });
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

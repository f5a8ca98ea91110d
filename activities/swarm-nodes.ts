/**
 * Activities on a farm's nodes and their Docker Swarm, reached over SSH with the node's pinned host key: wait for
 * SSH, bootstrap Docker (installed and started if missing, idempotently), swarm init/join, labels, encrypted
 * overlay networks, stacks deployed (waited on, and nodes drained, by the service activities of swarm-services.ts),
 * and a report of it all.
 * Every call looks before it changes anything, so a retry or a re-run of the bring-up repeats nothing.
 */
import path from 'node:path';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type Docker from 'dockerode';
import type { ActivityDeps } from '../lib/clients/deps';
import { withHeartbeat } from './lib/heartbeat';
import { failure } from '../lib/clients/errors';
import { SshClient, stderrTail, withSsh, type ExecResult } from '../lib/clients/ssh-client';
import { shellQuote as q } from '../lib/shell-quote';
import { runningTasks } from '../lib/swarm-running';
import { BOOTSTRAP_BOUNDS, bootstrapScript, SOCKET_SCRIPT, socketPath, type BootstrapBounds } from './lib/node-scripts';
import { withNodeDocker, type NodeAddress } from './lib/node-docker';
import { createSwarmServiceActivities } from './swarm-services';

export { nodeDockerClient, withNodeDocker, type NodeAddress } from './lib/node-docker';

const swarmIp = (n: NodeAddress) => n.swarmIp ?? n.ip;

/**
 * How long one `docker stack deploy` may take: resolving image digests asks the registry (seconds, or a minute or
 * two for a slow one); a deploy still running after this is held by a dockerd or registry that does not answer.
 */
export const STACK_DEPLOY_BOUND_SECONDS = 600;

/** A bound in whole seconds, 1 to a day (`timeout 0` would be none); `dflt` when not given. */
function boundSeconds(field: string, v: number | undefined, dflt: number): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 1 || v > 86_400) throw failure('InvalidInput', `${field}: a whole number of seconds from 1 to 86400, not ${JSON.stringify(v)}`);
  return v;
}
const deployBound = (input: { boundSeconds?: number }) => boundSeconds('boundSeconds', input.boundSeconds, STACK_DEPLOY_BOUND_SECONDS);

/**
 * The shell script deployStack runs on the manager: files from base64 here-documents, then the deploy, bounded by
 * `boundSeconds` (`timeout`). `overrides` are compose files Docker merges over `compose`, in order (`-c` again).
 */
export function stackDeployScript(input: { name: string; compose: string; overrides?: string[]; files?: Record<string, string>; env?: Record<string, string>; resolveImage?: 'always' | 'changed' | 'never'; boundSeconds?: number }): string {
  const put = (rel: string, content: string) => {
    const at = path.posix.normalize(path.posix.join('stacks', rel));
    if (at.startsWith('..') || path.posix.isAbsolute(at)) throw failure('InvalidInput', `stack ${input.name}: ${rel} is outside the stack's folder`);
    return `mkdir -p "$d"/${q(path.posix.dirname(at))}\nbase64 -d > "$d"/${q(at)} <<'DROVER_EOF'\n${Buffer.from(content).toString('base64').replace(/.{1,76}/g, '$&\n')}DROVER_EOF\n`;
  };
  const overrides = input.overrides ?? [];
  const composeFiles = [`${input.name}.yml`, ...overrides.map((_, i) => `${input.name}.override-${i + 1}.yml`)];
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
    ...overrides.map((content, i) => put(composeFiles[i + 1], content)),
    ...Object.entries(input.files ?? {}).map(([rel, content]) => put(rel, content)),
    `cd "$d/stacks" && env ${env.join(' ')} timeout -k 10 ${deployBound(input)} docker stack deploy --prune --resolve-image ${input.resolveImage ?? 'always'} ${composeFiles.map((f) => `-c ${q(f)}`).join(' ')} ${q(input.name)}`,
    '',
  ].join('\n');
}
/**
 * Runs stackDeployScript over `c` (on the manager named `manager`). A deploy that ran out of its bound fails
 * DockerUnavailable (another attempt may find Docker answering), any other failure RemoteCommandFailed, each naming
 * the stack and the manager.
 */
export async function runStackDeploy(c: SshClient, input: Parameters<typeof stackDeployScript>[0], manager: string): Promise<ExecResult> {
  const bound = deployBound(input);
  const started = Date.now();
  const r = await c.exec('sh -s', { stdin: stackDeployScript(input), signal: cancellationSignal() });
  if (r.code === 0) return r;
  const said = stderrTail(r.stderr);
  // 137 is also a deploy killed by another's SIGKILL (the OOM killer) before its bound: only a run that lasted the
  // bound is taken for timed out.
  if (r.code === 124 || (r.code === 137 && Date.now() - started >= bound * 1000)) throw failure('DockerUnavailable', `docker stack deploy of ${input.name} on ${manager} did not finish within ${bound} s: its dockerd, or a registry it asked, did not answer${said ? ` (${said})` : ''}`);
  if (r.code === 137) throw failure('DockerUnavailable', `docker stack deploy of ${input.name} on ${manager} was killed (SIGKILL) after ${((Date.now() - started) / 1000).toFixed(0)} s, before its ${bound} s bound: the manager's memory, most likely${said ? ` (${said})` : ''}`);
  throw failure('RemoteCommandFailed', `docker stack deploy of ${input.name} on ${manager} exited ${r.code}: ${said}`, { details: [{ code: r.code }] });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));


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

    /**
     * Docker installed and running on the node (see bootstrapScript); returns where its socket is. A Docker that
     * does not answer within the bounds (`bounds`, BOOTSTRAP_BOUNDS unless given) fails the step DockerUnavailable,
     * naming the node, with what the script said.
     */
    async bootstrapNode(input: { node: NodeAddress; bounds?: Partial<BootstrapBounds> }): Promise<{ changed: boolean; dockerVersion: string; dockerSocket: string }> {
      const bounds: BootstrapBounds = {
        startSeconds: boundSeconds('bounds.startSeconds', input.bounds?.startSeconds, BOOTSTRAP_BOUNDS.startSeconds),
        callSeconds: boundSeconds('bounds.callSeconds', input.bounds?.callSeconds, BOOTSTRAP_BOUNDS.callSeconds),
      };
      // Installing Docker takes minutes: heartbeat on a timer while the script runs.
      const r = await withHeartbeat(
        () => ({ node: input.node.name }),
        () => withSsh(target(input.node), opts(input.node), (c) => c.exec('sh -s', { stdin: bootstrapScript(bounds), signal: cancellationSignal() }), cancellationSignal()),
      );
      if (r.code !== 0) {
        const said = stderrTail(r.stderr);
        // The script's own words for a Docker that never answered (started, or already running but hung), then the
        // end of its log, or for its `docker version` killed before its bound. Every bounded call's failure is said
        // by the script: an exit 137 without those words is a command of it killed (SIGKILL) from elsewhere, the
        // node's OOM killer most likely (an `apt-get install`), never a bound run out.
        const lines = r.stderr.split('\n');
        const silent = lines.find((l) => /^(containerd|dockerd) did not answer within /.test(l));
        if (silent) throw failure('DockerUnavailable', `Docker on ${input.node.name}: ${silent.trim()} (each call bounded to ${bounds.callSeconds} s); the end of what it said: ${said}`);
        // `docker version` failing on its own after `docker info` answered: the daemon went away meanwhile (restarted,
        // crashed), which another attempt may find back, as before this was told apart from a call that ran out.
        const killed = lines.find((l) => /^docker version (was killed|failed) /.test(l));
        if (killed || r.code === 137) throw failure('DockerUnavailable', `bootstrapping Docker on ${input.node.name}: ${killed?.trim() ?? 'a command was killed (SIGKILL, exit 137): the node\'s memory, most likely'}; the end of what it said: ${said}`);
        throw failure('RemoteCommandFailed', `bootstrapping Docker on ${input.node.name} exited ${r.code}: ${said}`, { details: [{ code: r.code }] });
      }
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
    async deployStack(input: { manager: NodeAddress; name: string; compose: string; files?: Record<string, string>; env?: Record<string, string>; resolveImage?: 'always' | 'changed' | 'never'; boundSeconds?: number }): Promise<{ output: string }> {
      // Resolving image digests can take minutes: heartbeat on a timer while it runs (the deploy is bounded).
      const r = await withHeartbeat(
        () => ({ manager: input.manager.name, stack: input.name }),
        () => withSsh(target(input.manager), opts(input.manager), (c) => runStackDeploy(c, input, input.manager.name), cancellationSignal()),
      );
      return { output: r.stdout.trim() };
    },

    ...createSwarmServiceActivities({ ssh }),

    /** The node leaves the swarm, and the manager forgets it. A node already gone is fine. */
    async removeFromSwarm(input: { manager: NodeAddress; node: NodeAddress }): Promise<{ removed: boolean }> {
      // Whether the node's own daemon says it is in no swarm (it left, now or on an earlier attempt); false when it
      // cannot be asked (unreachable: then only the manager seeing it down lets it be removed).
      const left = await onDocker(input.node, async (d) => {
        const state = ((await d.info()) as { Swarm: { LocalNodeState: string } }).Swarm.LocalNodeState;
        if (state !== 'active') return state === 'inactive';
        await d.swarmLeave({ force: false });
        return true;
      }).catch((err: { type?: string }) => {
        if (err.type !== 'SshUnreachable' && err.type !== 'DockerUnavailable') throw err;
        return false;
      });
      return onDocker(input.manager, async (d) => {
        for (let i = 0; i < 30; i++) {
          const n = ((await d.listNodes()) as { ID: string; Description: { Hostname: string }; Status: { State: string } }[]).find((x) => x.Description.Hostname === input.node.name);
          if (!n) return { removed: false };
          // A node that has left is removed at once (the manager would list it ready until its heartbeats lapse,
          // 12 to 14 s here); one that could not be asked, once the manager sees it down.
          if (left || n.Status.State === 'down') {
            await d.getNode(n.ID).remove({ force: left && n.Status.State !== 'down' });
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

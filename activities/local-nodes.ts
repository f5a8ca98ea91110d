/**
 * The local provider: each "droplet" is a network namespace on this machine with its own address on a farm
 * bridge, its own hostname (UTS namespace) and its own sshd, so a real multi-node swarm forms on one Linux box.
 * Docker is not started here: bootstrap over SSH does that, the same step as on a real droplet. Needs root.
 * A node has no default route; one host route, to LOCAL_SERVICES_ADDRESS via its gateway, reaches the local
 * environment's Galera (lib/local-services.ts).
 * Get-or-create like every provider: an existing namespace, bridge or running sshd is reused. Removal treats
 * "already gone" as done at every step (a daemon that exited, a namespace another teardown deleted, a folder
 * already removed), so two `drover down` of one farm at once both finish.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import net from 'node:net';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { activityInfo, heartbeat } from '@temporalio/activity';
import { utils } from 'ssh2';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { hostKeyFingerprint } from '../lib/clients/ssh-client';
import { localNodeDockerSocket, localNodeRunDir } from '../lib/local-node-paths';
import { pidAlive } from '../lib/local-farms';
import { LOCAL_SERVICES_ADDRESS } from '../lib/local-services';
import { programEnv } from '../lib/program-env';

const execFileAsync = promisify(execFile);
const run = (file: string, args: string[]) => execFileAsync(file, args, { env: programEnv() });

export interface LocalNode {
  name: string;
  ip: string;
  sshPort: number;
  /** SHA256 fingerprint of the node's host key (pinned by every later SSH connection). */
  hostKey: string;
  dockerSocket: string;
  created: boolean;
}

const short = (farm: string) => createHash('sha256').update(farm).digest('hex').slice(0, 4);
export const bridgeName = (farm: string): string => `dvb${short(farm)}`;
const vethName = (farm: string, index: number) => `dv${short(farm)}-${index}`;
export const netnsName = (name: string): string => `drover-${name}`;

function addressIn(subnet: string, host: number): string {
  const [base] = subnet.split('/');
  const p = base.split('.').map(Number);
  return `${p[0]}.${p[1]}.${p[2]}.${p[3] + host}`;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  try {
    return (await run(cmd, args)).stdout;
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw failure('RemoteCommandFailed', `${cmd} ${args.join(' ')}: ${(e.stderr ?? e.message).trim()}`);
  }
}

const exists = async (cmd: string, args: string[]) => run(cmd, args).then(() => true, () => false);

/** Signals a process that may have exited since it was looked at (then there is nothing to do). */
function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

async function stopPid(file: string, timeoutMs: number): Promise<void> {
  const pid = pidAlive(file);
  if (!pid) return;
  signal(pid, 'SIGTERM');
  for (let t = 0; t < timeoutMs && pidAlive(file); t += 200) await new Promise((r) => setTimeout(r, 200));
  if (pidAlive(file)) signal(pid, 'SIGKILL');
}

const netnsExists = (ns: string): boolean => existsSync(path.join('/run/netns', ns));

/**
 * The processes whose root filesystem lies under `dir`: a node's containers (their overlay's layers are in its data
 * root). Each container has a network namespace of its own, so the node's `ip netns pids` does not list them; when
 * the node's dockerd died or was killed they outlive it, and its teardown must end them itself.
 */
export function processesRootedUnder(dir: string): number[] {
  const found: number[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let info: string;
    try {
      info = readFileSync(`/proc/${pid}/mountinfo`, 'utf8');
    } catch {
      continue; // ended meanwhile
    }
    const root = info.split('\n').find((l) => l.split(' ')[4] === '/');
    if (root?.includes(`${dir}/`)) found.push(Number(pid));
  }
  return found;
}

/** Lists a folder that another teardown may remove at any moment (then it is empty). */
function entries(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

export function createLocalNodeActivities({ ssh, localNodes }: Pick<ActivityDeps, 'ssh' | 'localNodes'>) {
  const nodeDir = (farm: string, name: string) => path.join(localNodes.dir, farm, name);

  async function destroyNode(farm: string, name: string): Promise<boolean> {
    const dir = nodeDir(farm, name);
    const ns = netnsName(name);
    const had = existsSync(dir) || (await exists('ip', ['netns', 'pids', ns]));
    // Ten seconds, then SIGKILL: the node is being removed, and whatever of its containers a killed dockerd leaves
    // is killed below (given 30 s, stacks-deploy's nodes used all of it in the suite).
    await stopPid(path.join(dir, 'dockerd.pid'), 10_000);
    await stopPid(path.join(dir, 'containerd.pid'), 10_000);
    await stopPid(path.join(dir, 'sshd.pid'), 5_000);
    // Containers a dead dockerd left running (their shims gone with containerd, they run on as orphans).
    for (const pid of processesRootedUnder(dir)) signal(pid, 'SIGKILL');
    // dockerd leaves bind mounts (network namespaces, overlay state) under its exec and data roots.
    const runDir = localNodeRunDir(dir);
    const mounts = readFileSync('/proc/mounts', 'utf8').split('\n').map((l) => l.split(' ')[1]).filter((m) => m && (m.startsWith(dir + '/') || m.startsWith(runDir + '/')));
    for (const m of mounts.sort().reverse()) await run('umount', ['-l', m]).catch(() => undefined);
    // Another teardown may delete the namespace between any two of these commands: gone is done.
    if (netnsExists(ns)) {
      const pids = (await sh('ip', ['netns', 'pids', ns]).catch((err: unknown) => (netnsExists(ns) ? Promise.reject(err) : ''))).split('\n').filter(Boolean);
      for (const p of pids) await run('kill', ['-9', p]).catch(() => undefined);
      await sh('ip', ['netns', 'del', ns]).catch((err: unknown) => (netnsExists(ns) ? Promise.reject(err) : ''));
    }
    rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
    rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
    return had;
  }

  return {
    /** The worker's SSH public key, authorized on every node the farm bootstraps (public: safe in history). */
    async bootstrapPublicKey(): Promise<{ publicKey: string }> {
      const k = utils.parseKey(ssh.options.privateKey);
      if (k instanceof Error) throw failure('ConfigMissing', `DROVER_SSH_KEY_FILE: ${k.message}`);
      const key = Array.isArray(k) ? k[0] : k;
      return { publicKey: `${key.type} ${key.getPublicSSH().toString('base64')} drover-bootstrap` };
    },

    /** Creates (or finds) one local node: namespace, address on the farm bridge, hostname, sshd with host key. */
    async ensureLocalNode(input: { farm: string; name: string; index: number; subnet: string; authorizedKey: string }): Promise<LocalNode> {
      if (process.getuid?.() !== 0) throw failure('ConfigMissing', 'the local provider needs root (network namespaces, veth pairs)');
      const dir = nodeDir(input.farm, input.name);
      const ns = netnsName(input.name);
      const bridge = bridgeName(input.farm);
      const gateway = addressIn(input.subnet, 1);
      const ip = addressIn(input.subnet, 10 + input.index);
      const prefix = input.subnet.split('/')[1];
      // Two farms on one subnet would answer for each other's addresses: refuse a gateway held by another link,
      // before anything of this node exists (the caller's --subnet, nothing to undo).
      const holder = (await sh('ip', ['-o', 'addr', 'show', 'to', gateway])).split('\n').filter(Boolean).map((l) => l.split(/\s+/)[1]);
      if (holder.some((h) => h !== bridge)) throw failure('InvalidInput', `subnet: ${input.subnet} is already used by ${holder.join(', ')}: pick another --subnet for farm ${input.farm}`);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      mkdirSync(localNodeRunDir(dir), { recursive: true, mode: 0o700 });
      // Nodes are provisioned in parallel: whichever comes first makes the bridge, the others find it.
      if (!(await exists('ip', ['link', 'show', bridge]))) await run('ip', ['link', 'add', bridge, 'type', 'bridge']).catch(() => undefined);
      if (!(await sh('ip', ['-o', 'addr', 'show', 'dev', bridge])).includes(`${gateway}/`)) await run('ip', ['addr', 'add', `${gateway}/${prefix}`, 'dev', bridge]).catch(() => undefined);
      await sh('ip', ['link', 'set', bridge, 'up']);
      let created = false;
      if (!(await exists('ip', ['netns', 'pids', ns]))) {
        created = true;
        await sh('ip', ['netns', 'add', ns]);
        const veth = vethName(input.farm, input.index);
        await run('ip', ['link', 'del', veth]).catch(() => undefined);
        await sh('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
        await sh('ip', ['link', 'set', veth, 'master', bridge, 'up']);
        await sh('ip', ['-n', ns, 'addr', 'add', `${ip}/${prefix}`, 'dev', 'eth0']);
        await sh('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
        await sh('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
        // No default route: nothing leaves this machine (no NAT), and with one, every image pull a node tries
        // waits out DNS timeouts while holding dockerd's registry lock, which stalls `docker info` and so every
        // `docker stack deploy` by minutes. Without it, lookups fail at once; the host stays reachable on the
        // gateway address.
      }
      // The local environment's services (Galera for the sites) on the host, through the gateway; replace: idempotent.
      await sh('ip', ['-n', ns, 'route', 'replace', `${LOCAL_SERVICES_ADDRESS}/32`, 'via', gateway, 'dev', 'eth0']);
      const hostKey = path.join(dir, 'ssh_host_ed25519_key');
      if (!existsSync(hostKey)) await sh('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `${input.name}-host`, '-f', hostKey]);
      writeFileSync(path.join(dir, 'authorized_keys'), `${input.authorizedKey.trim()}\n`, { mode: 0o600 });
      const config = path.join(dir, 'sshd_config');
      mkdirSync(path.join(dir, 'home'), { recursive: true, mode: 0o700 });
      writeFileSync(
        config,
        [
          `ListenAddress ${ip}:22`,
          `HostKey ${hostKey}`,
          `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
          `PidFile ${path.join(dir, 'sshd.pid')}`,
          'PermitRootLogin prohibit-password',
          'PasswordAuthentication no',
          'KbdInteractiveAuthentication no',
          'UsePAM no',
          'AllowStreamLocalForwarding yes',
          'StrictModes no',
          // What makes a session on this node behave like one on a droplet: its own Docker socket and folder, a
          // short runtime folder for its sockets (lib/local-node-paths.ts), and its own empty home (sshd runs each
          // command through root's bash, which reads ~/.bashrc: this machine's, not a droplet's).
          `SetEnv DOCKER_HOST=unix://${localNodeDockerSocket(dir)} DROVER_NODE_DIR=${dir} DROVER_NODE_RUN=${localNodeRunDir(dir)} DROVER_NODE_NAME=${input.name} HOME=${path.join(dir, 'home')}`,
          'Subsystem sftp internal-sftp',
        ].join('\n') + '\n',
      );
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      if (!pidAlive(path.join(dir, 'sshd.pid'))) {
        await sh('/usr/sbin/sshd', ['-t', '-f', config]);
        // Its own UTS namespace gives the node its hostname; dockerd started from its sessions inherits it.
        await sh('nsenter', [`--net=/run/netns/${ns}`, 'unshare', '--uts', 'sh', '-c', `hostname ${input.name} && exec /usr/sbin/sshd -f ${config}`]);
      }
      // sshd daemonizes before it listens: the node is returned once its port answers (a busy machine showed
      // the first SSH connection refused).
      await untilListening(ip, 22, 20_000);
      const pub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ')[1];
      return { name: input.name, ip, sshPort: 22, hostKey: hostKeyFingerprint(Buffer.from(pub, 'base64')), dockerSocket: localNodeDockerSocket(dir), created };
    },

    /** The farm's local nodes as they are now (from their folders), in name order. */
    async describeLocalFarm(input: { farm: string }): Promise<{ nodes: Omit<LocalNode, 'created'>[] }> {
      const root = path.join(localNodes.dir, input.farm);
      const nodes = [];
      for (const name of entries(root).sort()) {
        const dir = nodeDir(input.farm, name);
        const cfg = path.join(dir, 'sshd_config');
        if (!existsSync(cfg) || !existsSync(path.join(dir, 'ssh_host_ed25519_key.pub'))) continue;
        const ip = /^ListenAddress (\S+):22$/m.exec(readFileSync(cfg, 'utf8'))?.[1];
        if (!ip) continue;
        const pub = readFileSync(path.join(dir, 'ssh_host_ed25519_key.pub'), 'utf8').trim().split(' ')[1];
        nodes.push({ name, ip, sshPort: 22, hostKey: hostKeyFingerprint(Buffer.from(pub, 'base64')), dockerSocket: localNodeDockerSocket(dir) });
      }
      return { nodes };
    },

    /** Removes one local node: its dockerd, containerd and sshd stopped, mounts released, namespace and folder deleted. */
    async destroyLocalNode(input: { farm: string; name: string }): Promise<{ destroyed: boolean }> {
      return { destroyed: await destroyNode(input.farm, input.name) };
    },

    /** Removes every local node of the farm and its bridge. Touches nothing outside the farm's folder. */
    async destroyLocalFarm(input: { farm: string }): Promise<{ nodes: string[] }> {
      const root = path.join(localNodes.dir, input.farm);
      // A retried attempt reports the nodes earlier attempts removed too (kept in its heartbeat details).
      const removed: string[] = (activityInfo().heartbeatDetails as { removed?: string[] } | undefined)?.removed ?? [];
      // The nodes at once: each stop of a node's Docker waits on its containers, and nothing is shared but the bridge.
      heartbeat({ removed });
      await Promise.all(
        entries(root).map(async (n) => {
          await destroyNode(input.farm, n);
          if (!removed.includes(n)) removed.push(n);
          heartbeat({ removed });
        }),
      );
      rmSync(root, { recursive: true, force: true, maxRetries: 3 });
      await run('ip', ['link', 'del', bridgeName(input.farm)]).catch(() => undefined);
      return { nodes: removed.sort() };
    },
  };
}

/** Resolves once a TCP connection to host:port succeeds; fails as SshUnreachable (retryable) after `ms`. */
async function untilListening(host: string, port: number, ms: number): Promise<void> {
  const until = Date.now() + ms;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = net.connect({ host, port, timeout: 1_000 });
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
      c.once('timeout', () => (c.destroy(), resolve(false)));
    });
    if (ok) return;
    if (Date.now() > until) throw failure('SshUnreachable', `sshd on ${host}:${port} is not listening after ${ms / 1000} s`);
    heartbeat();
    await new Promise((r) => setTimeout(r, 200));
  }
}

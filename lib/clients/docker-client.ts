/**
 * Docker engine access through dockerode: a local unix socket, a TCP endpoint, or a remote engine's unix socket
 * forwarded over SSH (OpenSSH streamlocal forwarding: nothing but sshd is needed on the host, and the host key
 * is checked against the same pins as every other SSH connection).
 */
import http from 'node:http';
import util from 'node:util';
import type { Duplex } from 'node:stream';
import Docker from 'dockerode';
import { Client } from 'ssh2';
import { failure, classifySshError } from './errors';
import { hostKeyVerifier } from './ssh-client';

export interface DockerEndpoint {
  /** unix:///path/docker.sock, tcp://host:port, or ssh://user@host[:port][/remote/docker.sock] */
  host: string;
  /** For ssh:// endpoints: the private key used for the SSH hop. */
  sshPrivateKey?: Buffer | string;
  /** For ssh:// endpoints: SHA256 host key pins (empty refuses to connect, unless the insecure switch is set). */
  sshPinnedHostKeys?: string[];
  /** For ssh:// endpoints, development only: with no pins, accept any host key. */
  sshInsecureAnyHostKey?: boolean;
}

/**
 * An http.Agent whose connections are channels forwarded to the remote unix socket over one SSH connection,
 * opened on first use and shared by every request through this agent (a handshake per Docker API call made a
 * swarm bring-up CPU-bound). `destroy()` closes the SSH connection.
 */
export function sshSocketAgent(opts: { host: string; port: number; username: string; privateKey?: Buffer | string; pins: string[]; insecureAnyHostKey?: boolean; socketPath: string }): http.Agent {
  const agent = new http.Agent({ keepAlive: false });
  const label = `${opts.username}@${opts.host}:${opts.port}`;
  let conn: Promise<Client> | null = null;
  const connect = (): Promise<Client> =>
    (conn ??= new Promise<Client>((resolve, reject) => {
      let hostVerifier: (key: Buffer) => boolean;
      try {
        hostVerifier = hostKeyVerifier(label, opts.pins, opts.insecureAnyHostKey);
      } catch (err) {
        conn = null;
        return reject(err as Error);
      }
      const c = new Client();
      c.once('ready', () => resolve(c))
        .once('error', (err) => {
          conn = null;
          reject(classifySshError(err, label));
        })
        .once('close', () => (conn = null))
        .connect({
          host: opts.host,
          port: opts.port,
          username: opts.username,
          privateKey: opts.privateKey,
          readyTimeout: 15_000,
          keepaliveInterval: 10_000,
          hostVerifier,
        });
    }));
  (agent as unknown as { createConnection: unknown }).createConnection = (_o: unknown, cb: (err: Error | null, s?: Duplex) => void) => {
    connect().then(
      (c) =>
        c.openssh_forwardOutStreamLocal(opts.socketPath, (err, stream) => {
          if (err) cb(failure('DockerUnavailable', `cannot reach ${opts.socketPath} on ${label}: ${err.message}`));
          else cb(null, stream as unknown as Duplex);
        }),
      (err: Error) => cb(err),
    );
    return undefined;
  };
  // docker-modem util.inspect()s every request's options, agent included, with showHidden and unlimited depth,
  // even with debug logging off; through the SSH connection's object graph that cost seconds of CPU per call.
  Object.defineProperty(agent, util.inspect.custom, { value: () => `SshSocketAgent(${label}${opts.socketPath})` });
  const destroy = agent.destroy.bind(agent);
  agent.destroy = () => {
    destroy();
    const c = conn;
    conn = null;
    void c?.then((x) => x.end(), () => undefined);
  };
  return agent;
}

/** Releases what a client holds open (the SSH connection of an ssh:// endpoint). */
export function closeDockerClient(d: Docker): void {
  (d.modem as unknown as { agent?: http.Agent }).agent?.destroy();
}

export function createDockerClient(endpoint: DockerEndpoint): Docker {
  const url = endpoint.host;
  if (url.startsWith('unix://')) return new Docker({ socketPath: url.slice('unix://'.length) });
  if (url.startsWith('/')) return new Docker({ socketPath: url });
  const m = /^(tcp|http|https|ssh):\/\/(?:([^@/]+)@)?([^:/]+)(?::(\d+))?(\/[^?#]*)?$/.exec(url);
  if (!m) throw failure('InvalidInput', `docker host "${url}" must be unix:///path, tcp://host:port or ssh://user@host[:port][/socket]`);
  const [, scheme, user, host, port, socketPath] = m;
  if (scheme === 'ssh') {
    const agent = sshSocketAgent({
      host,
      port: port ? Number(port) : 22,
      username: user ?? 'root',
      privateKey: endpoint.sshPrivateKey,
      pins: endpoint.sshPinnedHostKeys ?? [],
      insecureAnyHostKey: endpoint.sshInsecureAnyHostKey,
      socketPath: socketPath && socketPath !== '/' ? socketPath : '/var/run/docker.sock',
    });
    return new Docker({ protocol: 'http', host: 'docker', port: 80, agent } as Docker.DockerOptions);
  }
  return new Docker({ protocol: scheme === 'https' ? 'https' : 'http', host, port: port ? Number(port) : 2375 });
}

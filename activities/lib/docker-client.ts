/**
 * Docker engine access through dockerode: a local unix socket, a TCP endpoint, or an engine reached over SSH
 * (dockerode's ssh protocol forwards the remote socket through an ssh2 connection).
 */
import Docker from 'dockerode';
import { failure } from './errors';

export interface DockerEndpoint {
  /** unix:///path/docker.sock, tcp://host:port, or ssh://user@host[:port] */
  host: string;
  /** For ssh:// endpoints: the private key used for the SSH hop. */
  sshPrivateKey?: Buffer | string;
}

export function createDockerClient(endpoint: DockerEndpoint): Docker {
  const url = endpoint.host;
  if (url.startsWith('unix://')) return new Docker({ socketPath: url.slice('unix://'.length) });
  if (url.startsWith('/')) return new Docker({ socketPath: url });
  const m = /^(tcp|http|https|ssh):\/\/(?:([^@]+)@)?([^:/]+)(?::(\d+))?\/?$/.exec(url);
  if (!m) throw failure('InvalidInput', `docker host "${url}" must be unix:///path, tcp://host:port or ssh://user@host[:port]`);
  const [, scheme, user, host, port] = m;
  if (scheme === 'ssh') {
    return new Docker({
      protocol: 'ssh',
      host,
      port: port ? Number(port) : 22,
      username: user ?? 'root',
      sshOptions: { privateKey: endpoint.sshPrivateKey },
    } as Docker.DockerOptions);
  }
  return new Docker({ protocol: scheme === 'https' ? 'https' : 'http', host, port: port ? Number(port) : 2375 });
}

/**
 * An OpenSSH server on loopback with generated host and client keys (key auth only, no passwords, no PAM).
 * The host key's fingerprint is pinned in the environment Drover's activities read.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { SshClient } from '../../lib/clients/ssh-client';
import { SFTP_SSHD_MATCH_BLOCK } from '../../lib/access-grants';
import type { DevLayout } from './layout';
import { daemonStatus, type DevPart, type PartStatus } from './part';
import { daemonPid, execFileP, spawnDaemon, stopDaemon, tcpOpen, waitFor } from './processes';

export interface SshPaths {
  hostKey: string;
  clientKey: string;
  authorizedKeys: string;
  config: string;
}

export function sshPaths(l: DevLayout): SshPaths {
  return {
    hostKey: path.join(l.ssh.dir, 'ssh_host_ed25519_key'),
    clientKey: path.join(l.ssh.dir, 'id_ed25519'),
    authorizedKeys: path.join(l.ssh.dir, 'authorized_keys'),
    config: path.join(l.ssh.dir, 'sshd_config'),
  };
}

/** "SHA256:…" of a public key file, as `ssh-keygen -l` prints it. */
export async function fingerprint(pubKeyFile: string): Promise<string> {
  const { stdout } = await execFileP('ssh-keygen', ['-l', '-E', 'sha256', '-f', pubKeyFile]);
  const m = /(SHA256:\S+)/.exec(stdout);
  if (!m) throw new Error(`cannot read a fingerprint from ${pubKeyFile}`);
  return m[1];
}

export function sshPart(l: DevLayout): DevPart {
  const p = sshPaths(l);
  const pidFile = path.join(l.ssh.dir, 'sshd.pid.drover');
  const logFile = path.join(l.ssh.dir, 'sshd.log');
  const endpoint = `root@127.0.0.1:${l.ssh.port}`;

  async function canLogIn(): Promise<boolean> {
    try {
      const c = await SshClient.connect({ host: '127.0.0.1', port: l.ssh.port, username: 'root' }, { privateKey: readFileSync(p.clientKey), pinnedHostKeys: [await fingerprint(`${p.hostKey}.pub`)], readyTimeoutMs: 5_000 });
      try {
        return (await c.exec('true')).code === 0;
      } finally {
        c.close();
      }
    } catch {
      return false;
    }
  }

  return {
    name: 'ssh',
    async up() {
      mkdirSync(l.ssh.dir, { recursive: true, mode: 0o700 });
      mkdirSync('/run/sshd', { recursive: true, mode: 0o755 });
      const home = path.join(l.ssh.dir, 'home');
      mkdirSync(home, { recursive: true, mode: 0o700 });
      if (!existsSync(p.hostKey)) await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'drover-dev-host', '-f', p.hostKey]);
      if (!existsSync(p.clientKey)) await execFileP('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'drover-dev-client', '-f', p.clientKey]);
      writeFileSync(p.authorizedKeys, readFileSync(`${p.clientKey}.pub`), { mode: 0o600 });
      const config = [
        `Port ${l.ssh.port}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${p.hostKey}`,
        `AuthorizedKeysFile ${p.authorizedKeys}`,
        `PidFile ${path.join(l.ssh.dir, 'sshd.pid')}`,
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'PermitRootLogin prohibit-password',
        'UsePAM no',
        'StrictModes no',
        'X11Forwarding no',
        'AllowTcpForwarding yes',
        'AllowStreamLocalForwarding yes',
        'MaxSessions 64',
        'MaxStartups 64:30:128',
        // Sessions get an empty home of their own: sshd runs each command through root's bash, which reads
        // ~/.bashrc, and this machine's (a developer's: pyenv and the like, about 150 ms per command) is not what a
        // storage node runs.
        `SetEnv HOME=${home}`,
        'Subsystem sftp internal-sftp',
        // Contractors' SFTP logins (drover access grant --sftp): chrooted to their site, internal-sftp only.
        SFTP_SSHD_MATCH_BLOCK,
      ].join('\n');
      const changed = !existsSync(p.config) || readFileSync(p.config, 'utf8') !== config;
      if (changed) writeFileSync(p.config, config);
      const running = daemonPid(pidFile, 'sshd');
      if (running) {
        // A running sshd re-reads a changed configuration on SIGHUP (it re-executes itself).
        if (changed) {
          await execFileP('/usr/sbin/sshd', ['-t', '-f', p.config]);
          process.kill(running, 'SIGHUP');
          await waitFor('sshd', async () => (await tcpOpen(l.ssh.port)) && (await canLogIn()), 20_000, () => daemonPid(pidFile, 'sshd') !== null);
        }
        return;
      }
      await execFileP('/usr/sbin/sshd', ['-t', '-f', p.config]);
      spawnDaemon({ command: '/usr/sbin/sshd', args: ['-D', '-e', '-f', p.config], logFile, pidFile });
      await waitFor('sshd', async () => (await tcpOpen(l.ssh.port)) && (await canLogIn()), 20_000, () => daemonPid(pidFile, 'sshd') !== null);
    },
    async down() {
      await stopDaemon(pidFile, 'sshd');
    },
    async status(): Promise<PartStatus> {
      const running = daemonPid(pidFile, 'sshd') !== null;
      const healthy = running && (await canLogIn());
      const detail = existsSync(`${p.hostKey}.pub`) ? { hostKey: await fingerprint(`${p.hostKey}.pub`), clientKey: p.clientKey } : {};
      return daemonStatus({ name: 'ssh', running, healthy, endpoint, detail, unhealthy: 'key login failed', logFile });
    },
  };
}

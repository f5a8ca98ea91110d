/**
 * The emulator's droplets as real machines on this one: each is a local-provider node (a network namespace with
 * its own address, hostname and sshd; see activities/local-nodes.ts). What a droplet gets from DigitalOcean and
 * cloud-init at first boot is applied here the same way: the host key from the user data's `ssh_keys`
 * (ed25519_private/public, as cloud-init writes them to /etc/ssh) and the account SSH keys in root's
 * authorized_keys. Everything after that (SSH, Docker bootstrap, swarm) is the real thing.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import { parse } from 'yaml';
import { createLocalNodeActivities } from '../../activities/local-nodes';
import type { DropletBacking } from './server';

export class LocalDroplets implements DropletBacking {
  private next = 0;
  private readonly acts;
  private readonly env = new MockActivityEnvironment();

  /** Machines of one emulated account live under `nodesDir/<group>` on `subnet` (a /24: up to 240 droplets). */
  constructor(private readonly o: { group: string; subnet: string; nodesDir: string }) {
    this.acts = createLocalNodeActivities({ ssh: { defaultTarget: { host: '127.0.0.1', port: 22, username: 'root' }, options: { privateKey: Buffer.alloc(0), pinnedHostKeys: [] } }, localNodes: { dir: o.nodesDir } });
  }

  async boot(d: { name: string; userData: string | null; authorizedKeys: string[] }): Promise<{ ip: string }> {
    const index = this.next++;
    const dir = path.join(this.o.nodesDir, this.o.group, d.name);
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const cloudConfig = d.userData?.startsWith('#cloud-config') ? (parse(d.userData) as { ssh_keys?: Record<string, string> }) : {};
    const hostKey = cloudConfig.ssh_keys?.ed25519_private;
    if (hostKey) {
      writeFileSync(path.join(dir, 'ssh_host_ed25519_key'), hostKey, { mode: 0o600 });
      writeFileSync(path.join(dir, 'ssh_host_ed25519_key.pub'), `${cloudConfig.ssh_keys?.ed25519_public ?? ''}\n`);
    }
    const n = (await this.env.run(this.acts.ensureLocalNode, { farm: this.o.group, name: d.name, index, subnet: this.o.subnet, authorizedKey: d.authorizedKeys.join('\n') })) as { ip: string };
    return { ip: n.ip };
  }

  async destroy(d: { name: string }): Promise<void> {
    await this.env.run(this.acts.destroyLocalNode, { farm: this.o.group, name: d.name });
  }

  /** Removes every machine left and the group's bridge. */
  async close(): Promise<void> {
    await this.env.run(this.acts.destroyLocalFarm, { farm: this.o.group });
  }
}

/**
 * The local front: Debian's varnishd in front of the sites of the local clusters (`drover up --provider local`),
 * on loopback. Its VCL is the farm's configs/varnish/default.vcl with one backend per site, chosen by Host
 * (lib/front-vcl.ts), rendered from the front's sites.json; Drover's ensureSiteBackend / removeSiteBackend
 * activities change that file and reload the VCL through the admin port (lib/clients/local-front-client.ts).
 * Fetch a site with its Host header: `curl -H 'Host: example.com' http://127.0.0.1:16081/`.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { renderFrontVcl } from '../../lib/front-vcl';
import { farmVcl, frontFiles, LocalFrontClient } from '../../lib/clients/local-front-client';
import type { DevLayout } from './layout';
import type { DevPart, PartStatus } from './part';
import { daemonPid, httpOk, spawnDaemon, stopDaemon, tailFile, tcpOpen, waitFor } from './processes';

export function frontPart(l: DevLayout): DevPart {
  const { dir, port, admin } = l.front;
  const files = frontFiles(dir);
  const pidFile = path.join(dir, 'varnishd.pid.drover');
  const logFile = path.join(dir, 'varnishd.log');
  const url = `http://127.0.0.1:${port}`;

  const ping = () => httpOk(`${url}/varnish-ping`);

  return {
    name: 'front',
    async up() {
      mkdirSync(dir, { recursive: true });
      if (!existsSync(files.secret)) writeFileSync(files.secret, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
      const client = new LocalFrontClient({ dir, admin: `127.0.0.1:${admin}` });
      if (daemonPid(pidFile, 'varnishd')) {
        // Running: load the VCL of today's sites and rules (the farm's VCL may have changed since it started).
        await client.reload();
        return;
      }
      writeFileSync(files.vcl, renderFrontVcl(farmVcl(), client.sites()));
      spawnDaemon({
        command: 'varnishd',
        args: [
          '-F',
          '-a', `127.0.0.1:${port}`,
          '-T', `127.0.0.1:${admin}`,
          '-S', files.secret,
          '-n', path.join(dir, 'varnish'),
          '-f', files.vcl,
          '-s', 'malloc,64m',
          // Sites on local clusters come and go with their clusters: a backend that is gone fails fast.
          '-p', 'connect_timeout=2',
        ],
        logFile,
        pidFile,
      });
      await waitFor('varnishd', async () => (await tcpOpen(port)) && (await ping()), 60_000, () => daemonPid(pidFile, 'varnishd') !== null);
    },
    async down() {
      await stopDaemon(pidFile, 'varnishd', 20_000);
    },
    async status(): Promise<PartStatus> {
      const running = daemonPid(pidFile, 'varnishd') !== null;
      const ok = running && (await ping());
      const sites = new LocalFrontClient({ dir, admin: `127.0.0.1:${admin}` }).sites();
      return {
        name: 'front',
        running,
        healthy: ok,
        endpoint: url,
        detail: { admin: `127.0.0.1:${admin}`, sites: sites.map((s) => `${s.domain} → ${s.address}:${s.port}`) },
        ...(ok ? {} : { error: running ? 'not answering' : 'not running', logTail: tailFile(logFile) }),
      };
    },
  };
}

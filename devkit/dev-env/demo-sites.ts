/**
 * Demo and test sites for the local environment: N generated WordPress sites (database on the local Galera,
 * files under the state folder on the local storage host over SSH), registered in the site registry.
 */
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import type { ActivityDeps } from '../../lib/clients/deps';
import { SshClient } from '../../lib/clients/ssh-client';
import { generateSiteDatabase, generateSiteFiles } from '../site-generator';
import { getSite, upsertSite, type SiteRecord } from '../../lib/site-registry';

async function databaseExists(deps: ActivityDeps, name: string): Promise<boolean> {
  const rows = await deps.galera.query<RowDataPacket[]>(await deps.galera.writerNode(), 'SELECT 1 FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [name]);
  return rows.length > 0;
}

export async function generateDemoSites(deps: ActivityDeps, stateDir: string, opts: { count: number; prefix?: string; posts?: number; uploadBytes?: number; keepExisting?: boolean; log?: (m: string) => void }): Promise<SiteRecord[]> {
  const writer = (await deps.galera.syncedNodes())[0];
  const ssh = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
  const out: SiteRecord[] = [];
  try {
    for (let i = 1; i <= opts.count; i++) {
      const domain = `${opts.prefix ?? 'site'}${String(i).padStart(3, '0')}.demo.drover.test`;
      const database = `wp_${(opts.prefix ?? 'site').replace(/[^a-z0-9]/g, '_')}${String(i).padStart(3, '0')}`;
      const filesPath = path.join(path.resolve(stateDir), 'sites', domain);
      // Get-or-create for the demo: a site that is already there keeps its content, so a restore point taken
      // earlier the same day (the night is not repeated) still describes it.
      const existing = opts.keepExisting ? await getSite(deps.galera, domain) : null;
      if (existing && existing.status === 'active' && (await ssh.exec(`test -f '${filesPath}/wp-config.php'`)).code === 0 && (await databaseExists(deps, database))) {
        out.push(existing);
        opts.log?.(`kept ${domain}`);
        continue;
      }
      await generateSiteDatabase(deps.galera.pool(writer), { domain, database, filesPath, posts: opts.posts });
      await generateSiteFiles(ssh, { domain, database, filesPath, uploadBytes: opts.uploadBytes });
      out.push(await upsertSite(deps.galera, { domain, database, filesPath, storageHost: null }));
      opts.log?.(`generated ${domain}`);
    }
  } finally {
    ssh.close();
  }
  return out;
}

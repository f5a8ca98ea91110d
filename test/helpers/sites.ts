/** Generates and registers WordPress sites on the test environment's Galera and storage host. */
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import type { ActivityDeps } from '../../activities';
import { SshClient } from '../../lib/clients/ssh-client';
import { createSiteRegistryActivities } from '../../activities/site-registry';
import { generateSiteDatabase, generateSiteFiles } from '../../devkit/site-generator';
import { upsertSite, type SiteRecord } from '../../lib/site-registry';
import { TEST_STATE_DIR } from './paths';

/**
 * A generated WordPress site, registered. `database` overrides the name derived from the domain (up to 64
 * characters); `tablePrefix` renames every table from wp_ and writes that prefix into wp-config.php, and the
 * registration reads it from there as production does.
 */
export async function createTestSite(deps: ActivityDeps, domain: string, opts: { posts?: number; uploadBytes?: number; database?: string; tablePrefix?: string } = {}): Promise<SiteRecord> {
  const database = opts.database ?? `wp_${domain.replace(/[^a-z0-9]/g, '_')}`.slice(0, 64);
  const filesPath = path.join(TEST_STATE_DIR, 'sites', domain);
  const writer = (await deps.galera.syncedNodes())[0];
  await generateSiteDatabase(deps.galera.pool(writer), { domain, database, filesPath, posts: opts.posts ?? 30 });
  const ssh = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
  try {
    await generateSiteFiles(ssh, { domain, database, filesPath, uploadBytes: opts.uploadBytes ?? 128 * 1024 });
    if (opts.tablePrefix) {
      const prefix = opts.tablePrefix;
      const [tables] = await deps.galera.pool(writer).query<RowDataPacket[]>("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME LIKE 'wp\\_%'", [database]);
      const renames = tables.map((t) => `\`${database}\`.\`${t.TABLE_NAME}\` TO \`${database}\`.\`${prefix}${String(t.TABLE_NAME).slice(3)}\``);
      await deps.galera.pool(writer).query(`RENAME TABLE ${renames.join(', ')}`);
      await ssh.execOrThrow(`sed -i "s/^\\$table_prefix = 'wp_';/\\$table_prefix = '${prefix}';/" '${filesPath}/wp-config.php'`);
    }
  } finally {
    ssh.close();
  }
  if (opts.tablePrefix) return createSiteRegistryActivities(deps).registerSite({ domain, database, filesPath, storageHost: null });
  return upsertSite(deps.galera, { domain, database, filesPath, storageHost: null });
}

/** CHECKSUM TABLE of every table of a database, by table name (waits for Galera to apply pending writes). */
export async function tableChecksums(deps: ActivityDeps, database: string): Promise<Record<string, string>> {
  const node = (await deps.galera.syncedNodes())[0];
  const conn = await deps.galera.pool(node).getConnection();
  try {
    await conn.query('SET SESSION wsrep_sync_wait = 1');
    const [tables] = await conn.query<RowDataPacket[]>("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE='BASE TABLE' ORDER BY TABLE_NAME", [database]);
    const out: Record<string, string> = {};
    for (const t of tables) {
      const [rows] = await conn.query<RowDataPacket[]>(`CHECKSUM TABLE \`${database.replace(/`/g, '``')}\`.\`${String(t.TABLE_NAME).replace(/`/g, '``')}\` EXTENDED`);
      out[String(t.TABLE_NAME)] = String(rows[0].Checksum);
    }
    return out;
  } finally {
    conn.release();
  }
}

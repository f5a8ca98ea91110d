/** Generates and registers WordPress sites on the test environment's Galera and storage host. */
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import type { ActivityDeps } from '../../activities';
import { SshClient } from '../../activities/lib/ssh-client';
import { generateSiteDatabase, generateSiteFiles } from '../../lib/site-generator';
import { upsertSite, type SiteRecord } from '../../lib/site-registry';
import { TEST_STATE_DIR } from './paths';

export async function createTestSite(deps: ActivityDeps, domain: string, opts: { posts?: number; uploadBytes?: number } = {}): Promise<SiteRecord> {
  const database = `wp_${domain.replace(/[^a-z0-9]/g, '_')}`.slice(0, 64);
  const filesPath = path.join(TEST_STATE_DIR, 'sites', domain);
  const writer = (await deps.galera.syncedNodes())[0];
  await generateSiteDatabase(deps.galera.pool(writer), { domain, database, filesPath, posts: opts.posts ?? 30 });
  const ssh = await SshClient.connect(deps.ssh.defaultTarget, deps.ssh.options);
  try {
    await generateSiteFiles(ssh, { domain, database, filesPath, uploadBytes: opts.uploadBytes ?? 128 * 1024 });
  } finally {
    ssh.close();
  }
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
      const [rows] = await conn.query<RowDataPacket[]>(`CHECKSUM TABLE \`${database}\`.\`${t.TABLE_NAME}\` EXTENDED`);
      out[String(t.TABLE_NAME)] = String(rows[0].Checksum);
    }
    return out;
  } finally {
    conn.release();
  }
}

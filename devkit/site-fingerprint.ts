/**
 * A site's state in two hashes: its database (CHECKSUM TABLE of every table, read after Galera applied every
 * pending write) and its docroot (SHA-256 of every file's path and content, over SSH on the storage node). Two
 * fingerprints are equal exactly when the restore brought back the same tables, rows and files.
 */
import { createHash } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import type { ActivityDeps } from '../lib/clients/deps';
import { parseSshTarget, withSsh } from '../lib/clients/ssh-client';
import type { SiteRecord } from '../lib/site-registry';
import { shellQuote as q } from '../lib/shell-quote';

export interface SiteFingerprint {
  database: string;
  tables: number;
  files: string;
}

export async function siteFingerprint(deps: ActivityDeps, site: Pick<SiteRecord, 'database' | 'filesPath' | 'storageHost'>): Promise<SiteFingerprint> {
  const node = (await deps.galera.syncedNodes())[0];
  const conn = await deps.galera.pool(node).getConnection();
  const h = createHash('sha256');
  let tables = 0;
  try {
    await conn.query('SET SESSION wsrep_sync_wait = 1');
    const [rows] = await conn.query<RowDataPacket[]>("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE'", [site.database]);
    for (const t of rows.map((r) => String(r.t)).sort()) {
      const [c] = await conn.query<RowDataPacket[]>(`CHECKSUM TABLE \`${site.database}\`.\`${t}\` EXTENDED`);
      h.update(`${t}=${String(c[0].Checksum)}\n`);
      tables++;
    }
  } finally {
    conn.release();
  }
  const target = site.storageHost ? parseSshTarget(site.storageHost) : deps.ssh.defaultTarget;
  const files = await withSsh(target, deps.ssh.options, async (c) => {
    const r = await c.execOrThrow(`cd ${q(site.filesPath)} && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum | sha256sum`);
    return r.stdout.split(' ')[0];
  });
  return { database: h.digest('hex'), tables, files };
}

/** What the demo does to a site so there is something to restore: posts deleted, a table dropped, files defaced. */
export async function damageSite(deps: ActivityDeps, site: Pick<SiteRecord, 'database' | 'filesPath' | 'storageHost'>): Promise<string[]> {
  const node = await deps.galera.writerNode();
  await deps.galera.query(node, `DELETE FROM \`${site.database}\`.wp_posts WHERE ID % 2 = 0`);
  await deps.galera.query(node, `DROP TABLE IF EXISTS \`${site.database}\`.wp_comments`);
  const target = site.storageHost ? parseSshTarget(site.storageHost) : deps.ssh.defaultTarget;
  await withSsh(target, deps.ssh.options, (c) => c.execOrThrow(`printf '<?php // defaced\\n' > ${q(site.filesPath + '/wp-config.php')} && rm -rf ${q(site.filesPath + '/wp-content/uploads')}`));
  return ['half the posts deleted', 'wp_comments dropped', 'wp-config.php defaced', 'uploads deleted'];
}

/** Backup activities that read from the Galera cluster: a consistent dump streamed, encrypted, into Spaces. */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2/promise';
import { objectKey, type ManifestObject } from '../lib/backup-layout';
import type { ActivityDeps } from './deps';
import { uploadEncrypted } from './lib/encrypted-upload';
import { classifyDatabaseError, failure } from './lib/errors';

export interface DumpDatabaseInput {
  site: string;
  database: string;
  date: string;
}

export interface DumpDatabaseResult extends ManifestObject {
  node: string;
  tables: { name: string; rows: number }[];
  wordpress: { posts: number; pages: number; users: number };
  durationMs: number;
}

export function createGaleraDumpActivities({ galera, s3, bucket, backup }: Pick<ActivityDeps, 'galera' | 's3' | 'bucket' | 'backup'>) {
  return {
    /**
     * Dumps one site's database with `mariadb-dump --single-transaction` from a Synced, preferably non-writer
     * node, through zstd and age into a multipart upload. A node that drops out mid-dump fails this attempt as
     * DatabaseUnavailable; the retry picks another Synced node.
     */
    async dumpDatabaseToSpaces(input: DumpDatabaseInput): Promise<DumpDatabaseResult> {
      const started = Date.now();
      const node = await galera.readerNode();
      const exists = await galera.query<RowDataPacket[]>(node, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [input.database]);
      if (!exists.length) throw failure('InvalidInput', `database ${input.database} of site ${input.site} does not exist`);

      // Row counts and WordPress figures from a consistent snapshot taken just before the dump's own. With
      // wsrep_sync_wait the snapshot first waits until this node has applied every write committed anywhere in
      // the cluster (Galera applies replicated writes asynchronously), so the dump that follows misses none.
      const conn = await galera.pool(node).getConnection();
      const tables: { name: string; rows: number }[] = [];
      let wordpress = { posts: 0, pages: 0, users: 0 };
      try {
        await conn.query('SET SESSION wsrep_sync_wait = 1');
        await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
        const [names] = await conn.query<RowDataPacket[]>("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [input.database]);
        for (const r of names) {
          const [c] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${input.database}\`.\`${String(r.TABLE_NAME).replace(/`/g, '``')}\``);
          tables.push({ name: String(r.TABLE_NAME), rows: Number(c[0].n) });
        }
        const has = (t: string) => tables.some((x) => x.name === t);
        if (has('wp_posts') && has('wp_users')) {
          const [w] = await conn.query<RowDataPacket[]>(
            `SELECT (SELECT COUNT(*) FROM \`${input.database}\`.wp_posts WHERE post_type='post' AND post_status='publish') AS posts,
                    (SELECT COUNT(*) FROM \`${input.database}\`.wp_posts WHERE post_type='page' AND post_status='publish') AS pages,
                    (SELECT COUNT(*) FROM \`${input.database}\`.wp_users) AS users`,
          );
          wordpress = { posts: Number(w[0].posts), pages: Number(w[0].pages), users: Number(w[0].users) };
        }
        await conn.query('COMMIT');
        await conn.query('SET SESSION wsrep_sync_wait = 0');
      } catch (err) {
        galera.invalidateStatus();
        throw classifyDatabaseError(err, node.name);
      } finally {
        conn.release();
      }

      // Credentials go to mariadb-dump in a 0600 options file, never on its command line.
      const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-dump-'));
      const cnf = path.join(dir, 'client.cnf');
      const { user, password } = galera.credentials;
      writeFileSync(cnf, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${user}\npassword="${password.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`, { mode: 0o600 });
      try {
        const dump = spawn('mariadb-dump', [`--defaults-extra-file=${cnf}`, '--single-transaction', '--quick', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4', '--skip-lock-tables', input.database], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stderr = '';
        dump.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
        const dumpExit = new Promise<void>((resolve, reject) =>
          dump.once('close', (code) =>
            code === 0 ? resolve() : (galera.invalidateStatus(), reject(failure(/Lost connection|Can't connect|WSREP|gone away/i.test(stderr) ? 'DatabaseUnavailable' : 'DatabaseQueryFailed', `mariadb-dump of ${input.database} on ${node.name} exited ${code}: ${stderr.trim().slice(-300)}`))),
          ),
        );
        const uploaded = await uploadEncrypted({
          s3,
          bucket,
          key: objectKey(input.site, input.date, 'database'),
          source: dump.stdout,
          sourceExit: dumpExit,
          recipients: backup.recipients,
          signal: cancellationSignal(),
          onProgress: (plainBytes) => heartbeat({ phase: 'dump', plainBytes }),
        });
        return { ...uploaded, node: node.name, tables, wordpress, durationMs: Date.now() - started };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

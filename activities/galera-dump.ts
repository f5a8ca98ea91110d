/** Backup activities that read from the Galera cluster: a consistent dump streamed, encrypted, into Spaces. */
import { spawn } from 'node:child_process';
import { programEnv } from '../lib/program-env';
import type { RowDataPacket } from 'mysql2/promise';
import { objectKey, type ManifestObject } from '../lib/backup-layout';
import type { ActivityDeps } from '../lib/clients/deps';
import { uploadEncryptedInActivity } from './lib/encrypted-upload';
import { getSite } from '../lib/site-registry';
import { ident } from './lib/database-programs';
import { classifyMariadbClientExit, failure } from '../lib/clients/errors';
import { DumpRowCounter } from './lib/dump-row-counter';
import { writeClientOptionsFile } from './lib/mariadb-options-file';
import { withHeartbeat } from './lib/heartbeat';

export interface DumpDatabaseInput {
  site: string;
  database: string;
  date: string;
}

export interface DumpDatabaseResult extends ManifestObject {
  node: string;
  tables: { name: string; rows: number }[];
  /** Whether a statement of the dump outside its data names the database (dump-row-counter.ts). */
  namesDatabase: boolean;
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

      // Table names and WordPress figures from a consistent snapshot taken just before the dump's own (row counts
      // come from the dump stream itself, so they are exactly the dump's). With
      // wsrep_sync_wait the snapshot first waits until this node has applied every write committed anywhere in
      // the cluster (Galera applies replicated writes asynchronously), so the dump that follows misses none.
      // The site's table prefix first: getSite asks every node's status (a pool query on this node too), and with
      // this activity holding one of the node's few pooled connections, concurrent dumps asking it inside would
      // hold them all and wait for one another for ever (seen at 16 sites at a time on a loaded machine).
      const prefix = (await getSite(galera, input.site))?.tablePrefix ?? 'wp_';
      const tables: { name: string; rows: number }[] = [];
      let wordpress = { posts: 0, pages: 0, users: 0 };
      await galera.onNode(node, async (conn) => {
        await conn.query('SET SESSION wsrep_sync_wait = 1');
        await conn.query('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY');
        const [names] = await conn.query<RowDataPacket[]>("SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [input.database]);
        for (const r of names) tables.push({ name: String(r.TABLE_NAME), rows: 0 });
        // WordPress figures under the site's own table prefix (wp_ only by default).
        const has = (t: string) => tables.some((x) => x.name === t);
        const posts = ident(`${prefix}posts`);
        if (has(`${prefix}posts`) && has(`${prefix}users`)) {
          const [w] = await withHeartbeat(
            () => ({ phase: 'count WordPress content' }),
            () =>
              conn.query<RowDataPacket[]>(
                `SELECT (SELECT COUNT(*) FROM ${ident(input.database)}.${posts} WHERE post_type='post' AND post_status='publish') AS posts,
                        (SELECT COUNT(*) FROM ${ident(input.database)}.${posts} WHERE post_type='page' AND post_status='publish') AS pages,
                        (SELECT COUNT(*) FROM ${ident(input.database)}.${ident(`${prefix}users`)}) AS users`,
              ),
          );
          wordpress = { posts: Number(w[0].posts), pages: Number(w[0].pages), users: Number(w[0].users) };
        }
        await conn.query('COMMIT');
        // Back to the pool as it was taken (a failure's session, its snapshot maybe open, is discarded by onNode).
        await conn.query('SET SESSION wsrep_sync_wait = DEFAULT');
      });

      // Credentials go to mariadb-dump in a 0600 options file, never on its command line.
      const options = writeClientOptionsFile(node, galera.credentials, 'dump');
      try {
        return await galera.watched(node, async (abort) => {
          const dump = spawn('mariadb-dump', [`--defaults-extra-file=${options.file}`, '--single-transaction', '--quick', '--routines', '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4', '--skip-lock-tables', input.database], { stdio: ['ignore', 'pipe', 'pipe'], env: programEnv() });
          // The node lost mid-dump (GaleraClient.watched): the dump is stopped, its upload aborted, the step retried.
          abort.addEventListener('abort', () => dump.kill('SIGKILL'), { once: true });
          let stderr = '';
          dump.stderr.on('data', (d) => (stderr = (stderr + d).slice(-2000)));
          const dumpExit = new Promise<void>((resolve, reject) =>
            dump.once('close', (code) =>
              code === 0 ? resolve() : (galera.invalidateStatus(), reject(classifyMariadbClientExit(stderr, `mariadb-dump of ${input.database} on ${node.name} exited ${code}: ${stderr.trim().slice(-300)}`))),
            ),
          );
          // Each table's rows counted in the dump as it streams past: a write between any other snapshot and the
          // dump's would make the manifest disagree with the dump, and every restore of the point fail verification.
          // It also finds whether a statement names the database, which a restore under another name must rewrite.
          const counter = new DumpRowCounter(input.database);
          dump.stdout.pipe(counter);
          const progress = { plainBytes: 0 };
          const uploaded = await withHeartbeat(
            () => ({ phase: 'dump', plainBytes: progress.plainBytes }),
            () => uploadEncryptedInActivity({ s3, bucket, key: objectKey(input.site, input.date, 'database'), source: counter, sourceExit: dumpExit, recipients: backup.recipients }, progress),
          );
          const counted = tables.map((t) => ({ name: t.name, rows: counter.rows.get(t.name) ?? 0 }));
          return { ...uploaded, node: node.name, tables: counted, namesDatabase: counter.namesDatabase, wordpress, durationMs: Date.now() - started };
        });
      } finally {
        options.remove();
      }
    },
  };
}

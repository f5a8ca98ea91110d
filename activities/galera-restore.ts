/**
 * Restore activities on the Galera cluster: load a restore point's dump into a staging database, verify it
 * against the manifest, then swap it in with one RENAME TABLE (atomic in MariaDB), keeping the replaced tables
 * in a "previous" database so the swap can be undone. A failed load never touches the live database.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2/promise';
import { siteOwning } from '../lib/site-registry';
import type { ActivityDeps } from './deps';
import { decryptObjectTo, verifyObject } from './lib/encrypted-download';
import { failure } from './lib/errors';

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

export function createGaleraRestoreActivities({ galera, s3, bucket, backup }: Pick<ActivityDeps, 'galera' | 's3' | 'bucket' | 'backup'>) {
  async function tablesOf(database: string): Promise<string[]> {
    const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), "SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME", [database]);
    return rows.map((r) => String(r.TABLE_NAME));
  }

  return {
    /** Verifies the dump's SHA-256, then streams it decrypted into a fresh staging database. */
    async loadDatabaseIntoStaging(input: { key: string; sha256: string; stagingDb: string }): Promise<{ bytes: number; tables: number }> {
      if (!backup.identityFile) throw failure('ConfigMissing', 'this worker has no backup identity (DROVER_BACKUP_AGE_IDENTITY_FILE): restores run on restore workers');
      heartbeat({ phase: 'verify' });
      const { bytes } = await verifyObject(s3, bucket, input.key, input.sha256, cancellationSignal());
      const node = await galera.writerNode();
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.stagingDb)}`);
      await galera.query(node, `CREATE DATABASE ${ident(input.stagingDb)} DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
      const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-load-'));
      const cnf = path.join(dir, 'client.cnf');
      const { user, password } = galera.credentials;
      writeFileSync(cnf, `[client]\nhost=${node.host}\nport=${node.port}\nuser=${user}\npassword="${password.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"\n`, { mode: 0o600 });
      try {
        heartbeat({ phase: 'load' });
        const client = spawn('mariadb', [`--defaults-extra-file=${cnf}`, '--binary-mode', input.stagingDb], { stdio: ['pipe', 'ignore', 'pipe'] });
        let err = '';
        client.stderr.on('data', (d) => (err = (err + d).slice(-2000)));
        const clientExit = new Promise<void>((resolve, reject) =>
          client.once('close', (code) => (code === 0 ? resolve() : reject(failure('DatabaseQueryFailed', `loading ${input.stagingDb} failed: ${err.trim().slice(-300)}`)))),
        );
        await decryptObjectTo({ s3, bucket, key: input.key, identityFile: backup.identityFile, sink: client.stdin, sinkExit: clientExit, signal: cancellationSignal() });
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
      return { bytes, tables: (await tablesOf(input.stagingDb)).length };
    },

    /** Table list and exact row counts of the staging database must equal the manifest's. */
    async verifyStagingDatabase(input: { stagingDb: string; tables: { name: string; rows: number }[] }): Promise<{ tables: number; rows: number }> {
      const node = await galera.writerNode();
      const actual = (await tablesOf(input.stagingDb)).sort();
      const expected = input.tables.map((t) => t.name).sort();
      if (JSON.stringify(actual) !== JSON.stringify(expected)) {
        throw failure('RestoreVerificationFailed', `staging ${input.stagingDb} has tables [${actual.join(', ')}], the manifest lists [${expected.join(', ')}]`);
      }
      let rows = 0;
      for (const t of input.tables) {
        const [c] = await galera.query<RowDataPacket[]>(node, `SELECT COUNT(*) AS n FROM ${ident(input.stagingDb)}.${ident(t.name)}`);
        if (Number(c.n) !== t.rows) throw failure('RestoreVerificationFailed', `${input.stagingDb}.${t.name} has ${c.n} rows, the manifest says ${t.rows}`);
        rows += t.rows;
      }
      return { tables: input.tables.length, rows };
    },

    /**
     * Swaps staging in: one RENAME TABLE moves every live table to `previousDb` and every staging table to the
     * live database, atomically. Idempotent: a retry after success finds staging empty and does nothing.
     */
    async swapDatabase(input: { liveDb: string; stagingDb: string; previousDb: string }): Promise<{ swapped: number; previous: number }> {
      const node = await galera.writerNode();
      const staged = await tablesOf(input.stagingDb);
      if (staged.length === 0) return { swapped: 0, previous: (await tablesOf(input.previousDb)).length };
      await galera.query(node, `CREATE DATABASE IF NOT EXISTS ${ident(input.liveDb)} DEFAULT CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.previousDb)}`);
      await galera.query(node, `CREATE DATABASE ${ident(input.previousDb)}`);
      const live = await tablesOf(input.liveDb);
      const renames = [
        ...live.map((t) => `${ident(input.liveDb)}.${ident(t)} TO ${ident(input.previousDb)}.${ident(t)}`),
        ...staged.map((t) => `${ident(input.stagingDb)}.${ident(t)} TO ${ident(input.liveDb)}.${ident(t)}`),
      ];
      await galera.query(node, `RENAME TABLE ${renames.join(', ')}`);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.stagingDb)}`);
      return { swapped: staged.length, previous: live.length };
    },

    /** Undoes swapDatabase: the previous tables go back, the restored ones are dropped. */
    async undoDatabaseSwap(input: { liveDb: string; previousDb: string }): Promise<{ restored: number }> {
      const node = await galera.writerNode();
      const previous = await tablesOf(input.previousDb);
      if (previous.length === 0) return { restored: 0 };
      const live = await tablesOf(input.liveDb);
      const trash = `${input.previousDb}_undo`.slice(0, 64);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(trash)}`);
      await galera.query(node, `CREATE DATABASE ${ident(trash)}`);
      const renames = [
        ...live.map((t) => `${ident(input.liveDb)}.${ident(t)} TO ${ident(trash)}.${ident(t)}`),
        ...previous.map((t) => `${ident(input.previousDb)}.${ident(t)} TO ${ident(input.liveDb)}.${ident(t)}`),
      ];
      await galera.query(node, `RENAME TABLE ${renames.join(', ')}`);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(trash)}`);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.previousDb)}`);
      return { restored: previous.length };
    },

    /** After a restore: the database answers as WordPress (siteurl set, posts readable). */
    async checkWordPressDatabase(input: { database: string }): Promise<{ siteurl: string; posts: number }> {
      const node = await galera.writerNode();
      const url = await galera.query<RowDataPacket[]>(node, `SELECT option_value FROM ${ident(input.database)}.wp_options WHERE option_name = 'siteurl'`);
      if (!url.length) throw failure('RestoreVerificationFailed', `${input.database} has no siteurl option: not a working WordPress database`);
      const [posts] = await galera.query<RowDataPacket[]>(node, `SELECT COUNT(*) AS n FROM ${ident(input.database)}.wp_posts`);
      return { siteurl: String(url[0].option_value), posts: Number(posts.n) };
    },

    /** Drops a scratch database (staging, previous, drill copies); never a registered site's. Idempotent. */
    async dropDatabase(input: { name: string }): Promise<{ dropped: boolean }> {
      if (!/^[A-Za-z0-9_]{1,64}$/.test(input.name)) throw failure('InvalidInput', `refusing to drop "${input.name}"`);
      const owner = await siteOwning(galera, { database: input.name });
      if (owner) throw failure('InvalidInput', `refusing to drop ${input.name}: it is the live database of site ${owner}`);
      await galera.query(await galera.writerNode(), `DROP DATABASE IF EXISTS ${ident(input.name)}`);
      return { dropped: true };
    },
  };
}

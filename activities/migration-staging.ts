/**
 * A migration's staging database on the farm (issue 15): URLs rewritten in it with lib/url-rewrite (token-level,
 * serialized lengths recomputed, guid left), checked (no old URL left outside guid, the prefix-bound admin keys
 * intact), and dropped by the saga's compensation.
 */
import { activityInfo } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2/promise';
import { writeWaveRecord, type WaveRecord } from '../lib/wave-record';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { UrlRewriter, type TableRewriteReport } from '../lib/url-rewrite';
import { ensureMetaSchema } from '../lib/meta-schema';
import { digestsFrom, PROGRAMS_SQL, TABLE_COLUMNS_SQL, tableDigestSql, type TableDigest } from '../lib/table-digest';
import { checksumsOf, type TableChecksums } from './lib/galera-tables';
import { ident, onDatabase } from './lib/database-programs';
import { withHeartbeat } from './lib/heartbeat';
import { describeTable, rewriteTable, type SqlConnection } from './lib/url-rewrite-table';

export type TableReport = ({ status: 'rewritten' } & TableRewriteReport) | { status: 'refused'; table: string; reason: string; rowsWithOldHost: number };

/** Heartbeat details of the rewrite: the tables done (with their reports) and where the current one got to. */
interface RewriteProgress {
  done: TableReport[];
  table?: string;
  lastKey?: unknown[];
}

function previousProgress(): RewriteProgress | null {
  try {
    const d = activityInfo().heartbeatDetails as RewriteProgress | undefined;
    return d && Array.isArray(d.done) ? d : null;
  } catch {
    return null;
  }
}

const assertStaging = (db: string) => {
  if (!/_drover_stg_/.test(db)) throw failure('InvalidInput', `refusing to touch ${db}: not a staging database name`);
};

export interface DatabaseCheck {
  oldUrlLeft: { table: string; column: string; rows: number }[];
  administrators: number;
  /** The site's title and admin e-mail as its options hold them (blogname, admin_email). */
  site: { title: string; adminEmail: string };
}

export function createMigrationStagingActivities({ galera }: Pick<ActivityDeps, 'galera'>) {
  /**
   * What a person would check before trusting a migrated database: no value outside `guid` still holding the old
   * URL's host (any spelling), and the prefix-bound keys WordPress needs for an administrator to log in
   * (`<prefix>user_roles` with the administrator role, a user with `<prefix>capabilities` holding it).
   */
  async function checkDatabase(database: string, input: { tablePrefix: string; fromUrl: string }): Promise<DatabaseCheck> {
    const host = new URL(input.fromUrl).host;
    const node = await galera.writerNode();
    return withHeartbeat(() => ({ checking: database }), () =>
      onDatabase(galera, node, database, async (conn) => {
        const [cols] = await conn.query<RowDataPacket[]>(
          "SELECT c.TABLE_NAME AS t, c.COLUMN_NAME AS c FROM information_schema.COLUMNS c JOIN information_schema.TABLES t ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME WHERE c.TABLE_SCHEMA = DATABASE() AND t.TABLE_TYPE = 'BASE TABLE' AND c.DATA_TYPE IN ('char','varchar','tinytext','text','mediumtext','longtext','json','binary','varbinary','tinyblob','blob','mediumblob','longblob') AND c.COLUMN_NAME <> 'guid' ORDER BY 1, 2",
        );
        // The URL in each spelling the rewrite knows (plain, JSON-escaped, URL-encoded), scheme-less so that
        // http:// and protocol-relative links count; an e-mail address at the old domain is not a URL.
        const esc = (x: string) => '%' + x.replace(/[\\%_]/g, (ch) => '\\' + ch) + '%';
        const spellings = [`//${host}`, `\\/\\/${host}`, `%2F%2F${host}`, `%2f%2f${host}`].map(esc);
        const oldUrlLeft: { table: string; column: string; rows: number }[] = [];
        for (const { t, c } of cols) {
          const col = `CAST(${ident(String(c))} AS BINARY)`;
          const [[r]] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${ident(String(t))} WHERE ${spellings.map(() => `${col} LIKE ?`).join(' OR ')}`, spellings);
          if (Number(r.n) > 0) oldUrlLeft.push({ table: String(t), column: String(c), rows: Number(r.n) });
        }
        const p = input.tablePrefix;
        const [[roles]] = await conn.query<RowDataPacket[]>(`SELECT option_value AS v FROM ${ident(p + 'options')} WHERE option_name = ?`, [`${p}user_roles`]);
        if (!roles || !String(roles.v).includes('s:13:"administrator"')) throw failure('MigrationVerificationFailed', `${p}options has no ${p}user_roles holding the administrator role: nobody could log in`);
        const [[admins]] = await conn.query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${ident(p + 'usermeta')} WHERE meta_key = ? AND meta_value LIKE ?`, [`${p}capabilities`, '%"administrator"%']);
        if (Number(admins.n) === 0) throw failure('MigrationVerificationFailed', `no user has ${p}capabilities with the administrator role: nobody could log in`);
        const [site] = await conn.query<RowDataPacket[]>(`SELECT option_name AS k, option_value AS v FROM ${ident(p + 'options')} WHERE option_name IN ('blogname', 'admin_email')`);
        const opt = (k: string) => String(site.find((r) => r.k === k)?.v ?? '');
        return { oldUrlLeft, administrators: Number(admins.n), site: { title: opt('blogname'), adminEmail: opt('admin_email') } };
      }),
    );
  }

  return {
    /**
     * Rewrites `fromUrl` → `toUrl` in every base table of the staging database; returns the per-table report.
     * A retry resumes from the last heartbeat (tables done, last key of the current one): the rewrite is
     * idempotent when `to` does not contain `from` past a boundary, and refuses to run otherwise on a retry.
     */
    async rewriteStagingUrls(input: { stagingDb: string; fromUrl: string; toUrl: string }): Promise<{ tables: TableReport[] }> {
      assertStaging(input.stagingDb);
      const rewriter = new UrlRewriter(input.fromUrl, input.toUrl);
      const prev = previousProgress();
      if (prev && !rewriter.needles.idempotent && (prev.done.length || prev.lastKey)) {
        throw failure('InvalidInput', `${input.toUrl} contains ${input.fromUrl}: a half-done rewrite cannot be resumed safely; reload the staging database`);
      }
      const progress: RewriteProgress = prev ?? { done: [] };
      const node = await galera.writerNode();
      return withHeartbeat(() => progress, () =>
        onDatabase(galera, node, input.stagingDb, async (conn) => {
          const [tables] = await conn.query<RowDataPacket[]>("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME");
          for (const { t } of tables) {
            const name = String(t);
            if (progress.done.some((d) => d.table === name)) continue;
            const resumeAfter = progress.table === name ? progress.lastKey : undefined;
            progress.table = name;
            progress.lastKey = undefined;
            const report = await rewriteTable(conn as unknown as SqlConnection, await describeTable(conn as unknown as SqlConnection, name), rewriter, {
              resumeAfter,
              onBatch: (_r, lastKey) => (progress.lastKey = [...lastKey]),
            });
            progress.done.push(report);
            progress.table = undefined;
            progress.lastKey = undefined;
          }
          return { tables: progress.done };
        }),
      );
    },

    /**
     * What a person would check before trusting the staged database: no value outside `guid` still holding the
     * old URL's host (any spelling), and the prefix-bound keys WordPress needs for an administrator to log in
     * (`<prefix>user_roles` with the administrator role, a user with `<prefix>capabilities` holding it).
     */
    async checkStagedDatabase(input: { stagingDb: string; tablePrefix: string; fromUrl: string }): Promise<DatabaseCheck> {
      assertStaging(input.stagingDb);
      return checkDatabase(input.stagingDb, input);
    },

    /** The same checks on the migrated site's live database, after the swap. */
    async checkMigratedDatabase(input: { database: string; tablePrefix: string; fromUrl: string }): Promise<DatabaseCheck> {
      return checkDatabase(input.database, input);
    },

    /** CHECKSUM TABLE of every staged table, right before the swap: the swap checks live equals them right after its RENAME. */
    async stagedChecksums(input: { stagingDb: string }): Promise<{ checksums: TableChecksums }> {
      assertStaging(input.stagingDb);
      return { checksums: await checksumsOf(galera, input.stagingDb) };
    },

    /** The migrated database's per-table digests and programs, computed as on the old host (lib/table-digest.ts). */
    async migratedDatabaseDigests(input: { database: string }): Promise<{ digests: Record<string, TableDigest>; programs: string[] }> {
      const node = await galera.writerNode();
      return withHeartbeat(() => ({ phase: 'digest', database: input.database }), () =>
        onDatabase(galera, node, input.database, async (conn) => {
          const cols: unknown[][] = [];
          for (const stmt of TABLE_COLUMNS_SQL.split('; ')) {
            const [rows] = await conn.query<RowDataPacket[]>({ sql: stmt, rowsAsArray: true });
            if (Array.isArray(rows)) cols.push(...(rows as unknown as unknown[][]));
          }
          const rows: unknown[][] = [];
          for (const c of cols.filter((r) => r[0] === 'columns')) {
            const [r] = await conn.query<RowDataPacket[]>({ sql: tableDigestSql(String(c[1]), String(c[2]).split(',')), rowsAsArray: true });
            rows.push(...(r as unknown as unknown[][]));
          }
          const [programs] = await conn.query<RowDataPacket[]>({ sql: PROGRAMS_SQL, rowsAsArray: true });
          return { digests: digestsFrom(rows), programs: (programs as unknown as unknown[][]).map((r) => `${String(r[1])} ${String(r[2])}`) };
        }),
      );
    },

    /**
     * The migration's record in drover_meta.migrations (schema version 15): source, times, per-table rewrite report
     * and what was verified. Keyed by the workflow ID: a retry writes the same row.
     */
    async recordMigration(input: {
      workflowId: string; domain: string; wave: string; sourceSsh: string; sourcePath: string; sourceDb: string; fromUrl: string; toUrl: string; tablePrefix: string;
      startedAt: string; finishedAt: string; rewriteReport: unknown; verification: unknown;
    }): Promise<{ recorded: true }> {
      await ensureMetaSchema(galera);
      const ts = (iso: string) => iso.replace('T', ' ').replace('Z', '');
      await galera.query(
        await galera.writerNode(),
        `INSERT INTO drover_meta.migrations (workflow_id, domain, wave, source_ssh, source_path, source_db, from_url, to_url, table_prefix, started_at, finished_at, rewrite_report, verification)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON DUPLICATE KEY UPDATE finished_at = VALUES(finished_at), rewrite_report = VALUES(rewrite_report), verification = VALUES(verification)`,
        [input.workflowId, input.domain, input.wave, input.sourceSsh, input.sourcePath, input.sourceDb, input.fromUrl, input.toUrl, input.tablePrefix, ts(input.startedAt), ts(input.finishedAt), JSON.stringify(input.rewriteReport ?? []), JSON.stringify(input.verification ?? {})],
      );
      return { recorded: true };
    },

    /** A wave's row in drover_meta.migration_waves, as it starts and as it ends (lib/wave-record.ts). Idempotent. */
    async recordWave(input: WaveRecord): Promise<{ recorded: true }> {
      await writeWaveRecord(galera, input);
      return { recorded: true };
    },

    /** Compensation: drops a migration's staging database. Idempotent. */
    async dropMigrationStaging(input: { stagingDb: string }): Promise<{ dropped: boolean }> {
      assertStaging(input.stagingDb);
      const node = await galera.writerNode();
      const [r] = await galera.query<RowDataPacket[]>(node, 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [input.stagingDb]);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.stagingDb)}`);
      return { dropped: Number(r.n) > 0 };
    },
  };
}

/**
 * The `drover_meta` database's schema as versioned migrations: each migration is applied once, in ascending
 * version order, and recorded in `drover_meta.schema_migrations`, so an existing farm upgrades in place.
 *
 * Rules for a new migration: append it with the next free version; never edit one that has shipped; make each
 * statement safe to run twice (`IF NOT EXISTS`, `ADD COLUMN IF NOT EXISTS`), because a worker can die between a
 * statement and the row that records the version. Version 1 is the schema as it stood before migrations (every
 * table `CREATE … IF NOT EXISTS`), so farms created before versioning adopt it without change.
 *
 * DDL on Galera runs in total order and briefly stalls the cluster: `ensureMetaSchema` runs the check once per
 * client, and applies only what is missing.
 */
import type { RowDataPacket } from 'mysql2/promise';
import type { GaleraClient } from './clients/galera-client';

export interface MetaMigration {
  version: number;
  name: string;
  statements: string[];
}

export const META_MIGRATIONS: readonly MetaMigration[] = [
  {
    version: 1,
    name: 'sites, retention holds, backup runs, restore drills, smoke',
    statements: [
      `CREATE TABLE IF NOT EXISTS drover_meta.sites (
        domain VARCHAR(253) NOT NULL PRIMARY KEY,
        db_name VARCHAR(64) NOT NULL,
        files_path VARCHAR(1024) NOT NULL,
        storage_host VARCHAR(255) NULL,
        status ENUM('active','migrating','deleted') NOT NULL DEFAULT 'active',
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        updated_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
        UNIQUE KEY db_name (db_name)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS drover_meta.retention_holds (
        site VARCHAR(253) NOT NULL,
        holder VARCHAR(255) NOT NULL,
        created_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
        PRIMARY KEY (site, holder)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS drover_meta.backup_runs (
        site VARCHAR(253) NOT NULL,
        nominal_date DATE NOT NULL,
        status ENUM('created','already-complete','failed') NOT NULL,
        bytes BIGINT UNSIGNED NULL,
        duration_ms INT UNSIGNED NULL,
        error VARCHAR(1000) NULL,
        recorded_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (site, nominal_date, recorded_at),
        KEY recorded_at (recorded_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS drover_meta.restore_drills (
        drill_id VARCHAR(255) NOT NULL,
        site VARCHAR(253) NOT NULL,
        point VARCHAR(64) NOT NULL,
        passed TINYINT(1) NOT NULL,
        rto_ms INT UNSIGNED NOT NULL,
        error VARCHAR(1000) NULL,
        recorded_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (drill_id, site),
        KEY recorded_at (recorded_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
      `CREATE TABLE IF NOT EXISTS drover_meta.smoke (
        marker VARCHAR(191) PRIMARY KEY,
        written_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP
      ) ENGINE=InnoDB`,
    ],
  },
  {
    version: 10,
    name: 'database swap journal (restores resume or undo a swap after a crash)',
    statements: [
      // One row per live database while a restore swaps it: the scratch names, how far the swap got, and the
      // triggers, views, routines and events of both sides (RENAME TABLE cannot move them), so a retry after a
      // crash between any two commands finishes the swap or its undo from what is recorded here.
      `CREATE TABLE IF NOT EXISTS drover_meta.database_swaps (
        live_db VARCHAR(64) NOT NULL PRIMARY KEY,
        staging_db VARCHAR(64) NOT NULL,
        previous_db VARCHAR(64) NOT NULL,
        state ENUM('recorded','swapped','undoing') NOT NULL,
        previous_tables INT UNSIGNED NOT NULL,
        programs LONGTEXT NOT NULL,
        updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
        KEY previous_db (previous_db)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 11,
    name: 'sites.table_prefix (WordPress $table_prefix of each site)',
    statements: [`ALTER TABLE drover_meta.sites ADD COLUMN IF NOT EXISTS table_prefix VARCHAR(64) NOT NULL DEFAULT 'wp_' AFTER db_name`],
  },
  {
    version: 12,
    name: 'sites created by Drover: lifecycle status, database user, PHP version, farm, title, admin email, last operation',
    statements: [
      // 'creating' and 'deleting' rows are not backed up by the nightly run (listSites reads active and migrating).
      `ALTER TABLE drover_meta.sites MODIFY COLUMN status ENUM('active','migrating','deleted','creating','deleting') NOT NULL DEFAULT 'active'`,
      `ALTER TABLE drover_meta.sites
        ADD COLUMN IF NOT EXISTS db_user VARCHAR(80) NULL AFTER table_prefix,
        ADD COLUMN IF NOT EXISTS php_version VARCHAR(8) NULL AFTER storage_host,
        ADD COLUMN IF NOT EXISTS farm VARCHAR(64) NULL AFTER php_version,
        ADD COLUMN IF NOT EXISTS title VARCHAR(255) NULL AFTER farm,
        ADD COLUMN IF NOT EXISTS admin_email VARCHAR(255) NULL AFTER title,
        ADD COLUMN IF NOT EXISTS last_operation VARCHAR(255) NULL AFTER status`,
      // Two sites never share a database user (NULL for sites registered with `site add`: they bring their own).
      `ALTER TABLE drover_meta.sites ADD UNIQUE KEY IF NOT EXISTS db_user (db_user)`,
    ],
  },
  {
    version: 15,
    name: 'migrations: one row per site migrated from an old host (source, times, rewrite report, verification)',
    statements: [
      // Written by migrateSiteWorkflow's last step, keyed by its workflow ID (migrate/<wave>/<domain>): a retried
      // step writes the same row again. No secret: the password file's path, never the password.
      `CREATE TABLE IF NOT EXISTS drover_meta.migrations (
        workflow_id VARCHAR(400) NOT NULL PRIMARY KEY,
        domain VARCHAR(253) NOT NULL,
        wave VARCHAR(64) NOT NULL,
        source_ssh VARCHAR(300) NOT NULL,
        source_path VARCHAR(1000) NOT NULL,
        source_db VARCHAR(64) NOT NULL,
        from_url VARCHAR(1000) NOT NULL,
        to_url VARCHAR(1000) NOT NULL,
        table_prefix VARCHAR(64) NOT NULL,
        started_at TIMESTAMP(3) NOT NULL,
        finished_at TIMESTAMP(3) NOT NULL,
        rewrite_report LONGTEXT NOT NULL,
        verification LONGTEXT NOT NULL,
        KEY domain (domain),
        KEY finished_at (finished_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 18,
    name: 'migration waves: one row per wave (file digest, operator, start and end, counts by state), kept past history retention',
    statements: [
      // Written by migrationWaveWorkflow as it starts and ends (lib/wave-record.ts); read by `drover migrate status`
      // once the wave's workflow is gone from the namespace.
      `CREATE TABLE IF NOT EXISTS drover_meta.migration_waves (
        wave VARCHAR(64) NOT NULL PRIMARY KEY,
        workflow_id VARCHAR(400) NOT NULL,
        file_digest VARCHAR(64) NOT NULL,
        operator VARCHAR(255) NOT NULL,
        state VARCHAR(16) NOT NULL,
        total INT UNSIGNED NOT NULL,
        concurrency INT UNSIGNED NOT NULL,
        counts LONGTEXT NOT NULL,
        failed LONGTEXT NOT NULL,
        started_at TIMESTAMP(3) NOT NULL,
        ended_at TIMESTAMP(3) NULL,
        KEY started_at (started_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 20,
    name: 'restore locks: one restore per site at a time',
    statements: [
      `CREATE TABLE IF NOT EXISTS drover_meta.restore_locks (
        site VARCHAR(253) NOT NULL PRIMARY KEY,
        holder VARCHAR(255) NOT NULL,
        acquired_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 21,
    name: 'farm recoveries: finished sites',
    statements: [
      `CREATE TABLE IF NOT EXISTS drover_meta.restore_farm_sites (
        farm_id VARCHAR(255) NOT NULL,
        site VARCHAR(253) NOT NULL,
        point VARCHAR(64) NOT NULL,
        rto_ms INT UNSIGNED NOT NULL,
        finished_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
        PRIMARY KEY (farm_id, site)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 22,
    name: 'audit events: who did what to which site, kept past history retention',
    statements: [
      `CREATE TABLE IF NOT EXISTS drover_meta.audit_events (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        at TIMESTAMP(3) NOT NULL,
        operator VARCHAR(255) NOT NULL,
        operation VARCHAR(128) NOT NULL,
        site VARCHAR(253) NULL,
        workflow_id VARCHAR(1000) NOT NULL,
        run_id VARCHAR(64) NOT NULL,
        outcome ENUM('completed', 'failed', 'cancelled') NOT NULL,
        failure_type VARCHAR(128) NULL,
        UNIQUE KEY audit_run (run_id),
        KEY audit_site_at (site, at),
        KEY audit_at (at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
  {
    version: 23,
    name: 'audit events: steps within a run (a contractor grant records granted, extended, revoked as they happen) and their detail',
    statements: [
      `ALTER TABLE drover_meta.audit_events
        ADD COLUMN IF NOT EXISTS seq INT UNSIGNED NOT NULL DEFAULT 0 AFTER run_id,
        ADD COLUMN IF NOT EXISTS detail VARCHAR(255) NULL AFTER failure_type`,
      `ALTER TABLE drover_meta.audit_events DROP INDEX IF EXISTS audit_run, ADD UNIQUE KEY IF NOT EXISTS audit_run_seq (run_id, seq)`,
    ],
  },
  {
    version: 25,
    name: 'backup leases: nights and restores against the collection of unreferenced packs',
    statements: [
      `CREATE TABLE IF NOT EXISTS drover_meta.backup_leases (
        id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
        site VARCHAR(253) NOT NULL,
        kind ENUM('night', 'restore', 'collect') NOT NULL,
        holder VARCHAR(255) NOT NULL,
        expires_at TIMESTAMP(3) NOT NULL,
        KEY backup_leases_site (site, kind, expires_at)
      ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`,
    ],
  },
];

const LEDGER = `CREATE TABLE IF NOT EXISTS drover_meta.schema_migrations (
  version INT UNSIGNED NOT NULL PRIMARY KEY,
  name VARCHAR(255) NOT NULL,
  applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4`;

/** The production schema; tests pass another name to migrate a scratch copy with the same list. */
export const META_SCHEMA = 'drover_meta';

/**
 * Statements are written against `drover_meta.`; for another schema (a scratch copy in a test) each qualified
 * name is rewritten, so the migrations a test runs are exactly those production runs.
 */
function forSchema(sql: string, schema: string): string {
  return schema === META_SCHEMA ? sql : sql.replace(/\bdrover_meta\./g, `${schema}.`);
}

function checkSchemaName(schema: string): void {
  if (!/^[A-Za-z0-9_]{1,64}$/.test(schema)) throw new Error(`meta schema name must be 1-64 characters of [A-Za-z0-9_], got ${JSON.stringify(schema)}`);
}

/** Versions already applied to `schema` (default drover_meta), ascending. */
export async function appliedMetaVersions(galera: GaleraClient, schema: string = META_SCHEMA): Promise<number[]> {
  checkSchemaName(schema);
  const node = await galera.writerNode();
  await galera.query(node, `CREATE DATABASE IF NOT EXISTS ${schema}`);
  await galera.query(node, forSchema(LEDGER, schema));
  const rows = await galera.query<RowDataPacket[]>(node, `SELECT version FROM ${schema}.schema_migrations ORDER BY version`);
  return rows.map((r) => Number(r.version));
}

/**
 * Applies every migration not yet recorded, in ascending order, each recorded right after its statements.
 * Returns the versions applied by this call. `migrations` and `schema` are for tests; production uses
 * META_MIGRATIONS on drover_meta.
 */
export async function migrateMeta(
  galera: GaleraClient,
  migrations: readonly MetaMigration[] = META_MIGRATIONS,
  schema: string = META_SCHEMA,
): Promise<number[]> {
  const versions = migrations.map((m) => m.version);
  if (new Set(versions).size !== versions.length || versions.some((v, i) => i > 0 && v <= versions[i - 1])) {
    throw new Error(`drover_meta migrations must have unique ascending versions, got ${versions.join(', ')}`);
  }
  const done = new Set(await appliedMetaVersions(galera, schema));
  const applied: number[] = [];
  for (const m of migrations) {
    if (done.has(m.version)) continue;
    const node = await galera.writerNode();
    for (const sql of m.statements) await galera.query(node, forSchema(sql, schema));
    await galera.query(node, `INSERT IGNORE INTO ${schema}.schema_migrations (version, name) VALUES (?, ?)`, [m.version, m.name]);
    applied.push(m.version);
  }
  return applied;
}

const ensured = new WeakMap<GaleraClient, Promise<void>>();

/** Brings drover_meta up to the current schema, once per client (concurrent callers share one run). */
export function ensureMetaSchema(galera: GaleraClient): Promise<void> {
  let p = ensured.get(galera);
  if (!p) {
    p = migrateMeta(galera).then(() => undefined);
    p.catch(() => ensured.delete(galera));
    ensured.set(galera, p);
  }
  return p;
}

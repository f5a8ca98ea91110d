/**
 * A drover_meta made before versioning (version 1's tables, no schema_migrations, `sites` without
 * `table_prefix`, rows in sites and backup_runs) upgrades in place with the real migration list: rows intact,
 * every migration recorded, a second run applies nothing. Runs against a scratch schema so the shared
 * drover_meta of other tests is never touched.
 */
import { randomUUID } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { GaleraClient, parseGaleraNodes } from '../../lib/clients/galera-client';
import { appliedMetaVersions, META_MIGRATIONS, migrateMeta } from '../../lib/meta-schema';
import { testEnv } from '../helpers/temporal';

const env = testEnv();
const galera = new GaleraClient(parseGaleraNodes(env.DROVER_GALERA_NODES), { user: env.DROVER_GALERA_USER, password: env.DROVER_GALERA_PASSWORD });
const scratch = `meta_upgrade_${randomUUID().slice(0, 8)}`;
const longDomain = `${'ü'.repeat(3)}-${'a'.repeat(40)}.example.org`;
const longDb = `s_${'x'.repeat(62)}`;

/** The drover_meta DDL of 8fb695a~1, the last commit before versioning, verbatim from its lib/ and activities/. */
const PRE_VERSIONING_DDL = [
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
  'CREATE TABLE IF NOT EXISTS drover_meta.smoke (marker VARCHAR(191) PRIMARY KEY, written_at TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP) ENGINE=InnoDB',
];

afterAll(async () => {
  await galera.query(await galera.writerNode(), `DROP DATABASE IF EXISTS ${scratch}`);
  await galera.close();
});

describe('drover_meta upgrade in place', () => {
  it('upgrades a pre-versioning drover_meta with its rows intact and every migration recorded', async () => {
    const node = await galera.writerNode();
    await galera.query(node, `CREATE DATABASE ${scratch}`);
    // The tables as they stood before versioning (no ledger).
    for (const sql of PRE_VERSIONING_DDL) await galera.query(node, sql.replace(/\bdrover_meta\./g, `${scratch}.`));
    await galera.query(node, `INSERT INTO ${scratch}.sites (domain, db_name, files_path, storage_host) VALUES (?, ?, ?, NULL), (?, ?, ?, ?)`, [
      'old.example.com', 'wp_old', '/srv/sites/old.example.com', longDomain, longDb, `/srv/sites/${longDomain}`, 'storage-1',
    ]);
    await galera.query(node, `INSERT INTO ${scratch}.backup_runs (site, nominal_date, status, bytes, duration_ms) VALUES (?, '2026-11-01', 'created', 1234, 56), (?, '2026-11-02', 'failed', NULL, 7)`, [
      'old.example.com', longDomain,
    ]);
    const before = await galera.query<RowDataPacket[]>(node, `SELECT domain, db_name, files_path, storage_host, status, created_at FROM ${scratch}.sites ORDER BY domain`);
    const runsBefore = await galera.query<RowDataPacket[]>(node, `SELECT * FROM ${scratch}.backup_runs ORDER BY site`);
    const tables = async () => (await galera.query<RowDataPacket[]>(node, 'SELECT table_name AS t FROM information_schema.tables WHERE table_schema = ? ORDER BY table_name', [scratch])).map((r) => r.t);
    expect(await tables()).not.toContain('schema_migrations');

    const applied = await migrateMeta(galera, META_MIGRATIONS, scratch);
    expect(applied).toEqual(META_MIGRATIONS.map((m) => m.version));

    const prefixCol = await galera.query<RowDataPacket[]>(node, `SELECT column_default AS d, is_nullable AS n FROM information_schema.columns WHERE table_schema = ? AND table_name = 'sites' AND column_name = 'table_prefix'`, [scratch]);
    expect(prefixCol).toHaveLength(1);
    expect(String(prefixCol[0].d).replace(/'/g, '')).toBe('wp_');
    expect(prefixCol[0].n).toBe('NO');
    const after = await galera.query<RowDataPacket[]>(node, `SELECT domain, db_name, files_path, storage_host, status, created_at, table_prefix FROM ${scratch}.sites ORDER BY domain`);
    expect(after.map(({ table_prefix: _p, ...rest }) => rest)).toEqual(before.map((r) => ({ ...r })));
    expect(after.map((r) => r.table_prefix)).toEqual(['wp_', 'wp_']);
    expect(await galera.query<RowDataPacket[]>(node, `SELECT * FROM ${scratch}.backup_runs ORDER BY site`)).toEqual(runsBefore);
    expect(await tables()).toEqual(expect.arrayContaining(['schema_migrations', 'database_swaps', 'restore_locks', 'restore_farm_sites', 'sites', 'backup_runs']));

    const ledger = await galera.query<RowDataPacket[]>(node, `SELECT version, name FROM ${scratch}.schema_migrations ORDER BY version`);
    expect(ledger.map((r) => [Number(r.version), r.name])).toEqual(META_MIGRATIONS.map((m) => [m.version, m.name]));
    expect(await appliedMetaVersions(galera, scratch)).toEqual(META_MIGRATIONS.map((m) => m.version));

    expect(await migrateMeta(galera, META_MIGRATIONS, scratch)).toEqual([]);
    expect((await galera.query<RowDataPacket[]>(node, `SELECT COUNT(*) AS n FROM ${scratch}.schema_migrations`))[0].n).toBe(META_MIGRATIONS.length);
  });

  it('refuses a schema name that is not a plain identifier', async () => {
    await expect(migrateMeta(galera, META_MIGRATIONS, 'x; DROP DATABASE drover_meta')).rejects.toThrow(/meta schema name/);
  });
});

/** drover_meta's versioned migrations on the real Galera cluster: applied once, in order, recorded. */
import { randomUUID } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import { afterAll, describe, expect, it } from 'vitest';
import { GaleraClient, parseGaleraNodes } from '../../lib/clients/galera-client';
import { appliedMetaVersions, META_MIGRATIONS, migrateMeta, type MetaMigration } from '../../lib/meta-schema';
import { testEnv } from '../helpers/temporal';

const env = testEnv();
const galera = new GaleraClient(parseGaleraNodes(env.DROVER_GALERA_NODES), { user: env.DROVER_GALERA_USER, password: env.DROVER_GALERA_PASSWORD });
const base = 900_000 + Math.floor(Math.random() * 90_000);
const scratch = `meta_test_${randomUUID().slice(0, 8)}`;

afterAll(async () => {
  const node = await galera.writerNode();
  await galera.query(node, `DROP DATABASE IF EXISTS ${scratch}`);
  await galera.query(node, 'DELETE FROM drover_meta.schema_migrations WHERE version >= ?', [base]);
  await galera.close();
});

describe('drover_meta migrations', () => {
  it('applies the shipped schema and records every version', async () => {
    await migrateMeta(galera);
    const applied = await appliedMetaVersions(galera);
    for (const m of META_MIGRATIONS) expect(applied).toContain(m.version);
    expect(await migrateMeta(galera)).toEqual([]);
  });

  it('applies new migrations once, in ascending order, and records them', async () => {
    const order: MetaMigration[] = [
      { version: base + 1, name: 'scratch db', statements: [`CREATE DATABASE IF NOT EXISTS ${scratch}`, `CREATE TABLE IF NOT EXISTS ${scratch}.log (n INT AUTO_INCREMENT PRIMARY KEY, v INT NOT NULL)`] },
      { version: base + 2, name: 'first row', statements: [`INSERT INTO ${scratch}.log (v) VALUES (${base + 2})`] },
      { version: base + 3, name: 'second row', statements: [`INSERT INTO ${scratch}.log (v) VALUES (${base + 3})`] },
    ];
    expect(await migrateMeta(galera, [...META_MIGRATIONS, ...order])).toEqual([base + 1, base + 2, base + 3]);
    expect(await migrateMeta(galera, [...META_MIGRATIONS, ...order])).toEqual([]);
    const rows = await galera.query<RowDataPacket[]>(await galera.writerNode(), `SELECT v FROM ${scratch}.log ORDER BY n`);
    expect(rows.map((r) => r.v)).toEqual([base + 2, base + 3]);
    const ledger = await galera.query<RowDataPacket[]>(await galera.writerNode(), 'SELECT version, name FROM drover_meta.schema_migrations WHERE version > ? ORDER BY version', [base]);
    expect(ledger.map((r) => [r.version, r.name])).toEqual(order.map((m) => [m.version, m.name]));
  });

  it('refuses a list whose versions are not unique and ascending', async () => {
    await expect(migrateMeta(galera, [{ version: 2, name: 'b', statements: [] }, { version: 2, name: 'c', statements: [] }])).rejects.toThrow(/unique ascending/);
  });
});

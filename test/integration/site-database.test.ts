/**
 * A created site's database, user and secret, and its files, on the real Galera cluster, a real Docker swarm
 * (the test environment's dockerd, a one-node swarm reached over SSH as a farm manager is) and the storage host:
 * - created twice: one database, one user, one secret; the user's grants cover its own database only, and
 *   logged in as that user it cannot read another site's database;
 * - a process killed (SIGKILL) right after the database, right after the user (before the secret) and right after
 *   the files, then the step run again: everything exactly once, and a user left without its secret gets a new
 *   password and a new secret;
 * - removal takes user, secret, database and files away, and running it again is harmless;
 * - no password reaches the activity's result.
 */
import { statSync } from 'node:fs';
import mysql from 'mysql2/promise';
import type { RowDataPacket } from 'mysql2/promise';
import { MockActivityEnvironment } from '@temporalio/testing';
import { beforeAll, describe, expect, it } from 'vitest';
import { createSiteDatabaseActivities } from '../../activities/site-database';
import { createSiteFilesActivities } from '../../activities/site-files';
import type { NodeAddress } from '../../activities/swarm-nodes';
import { closeDockerClient, createDockerClient } from '../../lib/clients/docker-client';
import { proxysqlUserStatements } from '../../lib/clients/proxysql-admin-client';
import { siteNames } from '../../lib/site-names';
import { testEnv, useRunningWorker } from '../helpers/temporal';
import { crashActivityAt } from '../helpers/activity-process';

const ctx = useRunningWorker('site-db');
const act = new MockActivityEnvironment();
let manager: NodeAddress;

beforeAll(async () => {
  const env = testEnv();
  const socket = env.DROVER_DOCKER_HOST.replace(/^unix:\/\//, '');
  const d = createDockerClient({ host: env.DROVER_DOCKER_HOST });
  try {
    const info = (await d.info()) as { Swarm?: { LocalNodeState?: string } };
    if (info.Swarm?.LocalNodeState !== 'active') await d.swarmInit({ ListenAddr: '127.0.0.1:2377', AdvertiseAddr: '127.0.0.1' });
  } finally {
    closeDockerClient(d);
  }
  const port = Number(/:(\d+)$/.exec(env.DROVER_SSH_TARGET)?.[1] ?? 22);
  manager = { name: 'test-manager', ip: '127.0.0.1', sshPort: port, hostKey: env.DROVER_SSH_HOST_KEYS.split(',')[0], dockerSocket: socket };
}, 120_000);

async function users(user: string): Promise<number> {
  const rows = await ctx.deps.galera.query<RowDataPacket[]>(await ctx.deps.galera.writerNode(), "SELECT COUNT(*) AS n FROM mysql.user WHERE User = ? AND Host = '%'", [user]);
  return Number(rows[0].n);
}
async function databases(db: string): Promise<number> {
  const rows = await ctx.deps.galera.query<RowDataPacket[]>(await ctx.deps.galera.writerNode(), 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]);
  return Number(rows[0].n);
}
async function secrets(name: string): Promise<{ id: string; createdAt: string }[]> {
  const d = createDockerClient({ host: testEnv().DROVER_DOCKER_HOST });
  try {
    const l = (await d.listSecrets({ filters: { name: [name] } })) as { ID: string; CreatedAt: string; Spec: { Name: string } }[];
    return l.filter((s) => s.Spec.Name === name).map((s) => ({ id: s.ID, createdAt: s.CreatedAt }));
  } finally {
    closeDockerClient(d);
  }
}

describe('site database, user and secret', () => {
  it('created twice: one of each; grants on its own database only; it cannot read another site; removal is complete and repeatable', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const a = siteNames(`isolation-a-${tag}.example.com`);
    const b = siteNames(`isolation-b-${tag}.example.com`);
    const acts = createSiteDatabaseActivities(ctx.deps);
    const input = (n: typeof a) => ({ domain: n.domain, database: n.database, dbUser: n.dbUser, dbSecret: n.dbSecret, manager });

    const first = await act.run(acts.ensureSiteDatabase, input(a));
    expect(first).toEqual({ createdDatabase: true, passwordSet: true, proxysqlChanged: 0 });
    const secretBefore = await secrets(a.dbSecret);
    const again = await act.run(acts.ensureSiteDatabase, input(a));
    expect(again).toEqual({ createdDatabase: false, passwordSet: false, proxysqlChanged: 0 });
    expect(JSON.stringify([first, again])).not.toMatch(/password"\s*:\s*"/);
    expect([await databases(a.database), await users(a.dbUser), (await secrets(a.dbSecret)).length]).toEqual([1, 1, 1]);
    expect(await secrets(a.dbSecret)).toEqual(secretBefore);
    await act.run(acts.ensureSiteDatabase, input(b));

    const node = await ctx.deps.galera.writerNode();
    // What ProxySQL is given where the farm has it: the user's mysql_native_password hash as Galera stores it, which
    // the statements accept (the clear password stays in the activity that made it).
    const [{ h }] = await ctx.deps.galera.query<RowDataPacket[]>(node, "SELECT authentication_string AS h FROM mysql.user WHERE User = ? AND Host = '%'", [a.dbUser]);
    expect(String(h)).toMatch(/^\*[0-9A-F]{40}$/);
    expect(proxysqlUserStatements(a.dbUser, String(h))[1]).toContain(`'${a.dbUser}', '${String(h)}', 10, 1, 200, 1`);
    const grants = (await ctx.deps.galera.query<RowDataPacket[]>(node, 'SHOW GRANTS FOR ?@?', [a.dbUser, '%'])).map((r) => String(Object.values(r)[0]));
    expect(grants.filter((g) => !/^GRANT USAGE ON \*\.\*/.test(g))).toEqual([`GRANT ALL PRIVILEGES ON \`${a.database}\`.* TO \`${a.dbUser}\`@\`%\``]);

    // Logged in as site A's user (its password reset here to one the test knows: the real one is only in the secret).
    await ctx.deps.galera.query(node, 'ALTER USER ?@? IDENTIFIED BY ?', [a.dbUser, '%', 'test-only-password']);
    await ctx.deps.galera.query(node, `CREATE TABLE \`${b.database}\`.secret_rows (v INT)`);
    const [host, port] = [node.host, node.port];
    const conn = await mysql.createConnection({ host, port, user: a.dbUser, password: 'test-only-password' });
    try {
      await conn.query(`CREATE TABLE \`${a.database}\`.own (v INT)`);
      await conn.query(`INSERT INTO \`${a.database}\`.own VALUES (1)`);
      await expect(conn.query(`SELECT * FROM \`${b.database}\`.secret_rows`)).rejects.toMatchObject({ code: expect.stringMatching(/ER_TABLEACCESS_DENIED_ERROR|ER_DBACCESS_DENIED_ERROR/) });
      await expect(conn.query(`SELECT * FROM drover_meta.sites`)).rejects.toMatchObject({ code: expect.stringMatching(/DENIED/) });
      await expect(conn.query('SELECT User FROM mysql.user')).rejects.toMatchObject({ code: expect.stringMatching(/DENIED/) });
    } finally {
      await conn.end();
    }

    for (const n of [a, b]) {
      expect(await act.run(acts.removeSiteDatabaseUser, { domain: n.domain, dbUser: n.dbUser, dbSecret: n.dbSecret, manager })).toEqual({ removedUser: true, removedSecret: true });
      expect(await act.run(acts.dropSiteDatabase, { domain: n.domain, database: n.database })).toEqual({ dropped: true });
      expect(await act.run(acts.removeSiteDatabaseUser, { domain: n.domain, dbUser: n.dbUser, dbSecret: n.dbSecret, manager })).toEqual({ removedUser: false, removedSecret: false });
      expect(await act.run(acts.dropSiteDatabase, { domain: n.domain, database: n.database })).toEqual({ dropped: false });
      expect([await databases(n.database), await users(n.dbUser), (await secrets(n.dbSecret)).length]).toEqual([0, 0, 0]);
    }
  }, 180_000);

  it.each(['site-create-after-database', 'site-create-after-user'])('killed at %s, then run again: one database, one user, one secret', async (point) => {
    const n = siteNames(`crash-${point.slice(-4)}-${ctx.taskQueue.slice(-6)}.example.com`);
    const input = { domain: n.domain, database: n.database, dbUser: n.dbUser, dbSecret: n.dbSecret, manager };
    await crashActivityAt(point, 'ensureSiteDatabase', input);
    expect(await databases(n.database)).toBe(1);
    expect(await secrets(n.dbSecret)).toEqual([]); // killed before the secret was written
    const r = await act.run(createSiteDatabaseActivities(ctx.deps).ensureSiteDatabase, input);
    expect(r).toEqual({ createdDatabase: false, passwordSet: true, proxysqlChanged: 0 });
    expect([await databases(n.database), await users(n.dbUser), (await secrets(n.dbSecret)).length]).toEqual([1, 1, 1]);
    await act.run(createSiteDatabaseActivities(ctx.deps).removeSiteDatabaseUser, { domain: n.domain, dbUser: n.dbUser, dbSecret: n.dbSecret, manager });
    await act.run(createSiteDatabaseActivities(ctx.deps).dropSiteDatabase, { domain: n.domain, database: n.database });
  }, 120_000);

  it('files: a root-owned site directory holding a www-data docroot (0750); killed after creating them, run again changes nothing; removed', async () => {
    const n = siteNames(`files-${ctx.taskQueue.slice(-6)}.example.com`);
    const input = { storageHost: null, siteRoot: n.siteRoot, docroot: n.docroot };
    await crashActivityAt('site-create-after-files', 'ensureSiteFiles', input);
    const files = createSiteFilesActivities(ctx.deps);
    expect(await act.run(files.ensureSiteFiles, input)).toEqual({ created: false });
    const root = statSync(n.siteRoot);
    const doc = statSync(n.docroot);
    expect([root.uid, root.gid, root.mode & 0o777]).toEqual([0, 0, 0o755]);
    expect([doc.uid, doc.gid, doc.mode & 0o777]).toEqual([33, 33, 0o750]);
    await expect(act.run(files.removeSiteFiles, { storageHost: null, siteRoot: '/srv/drover/sites/../../etc' })).rejects.toMatchObject({ type: 'InvalidInput' });
    expect(await act.run(files.removeSiteFiles, { storageHost: null, siteRoot: n.siteRoot })).toEqual({ removed: true });
    expect(await act.run(files.removeSiteFiles, { storageHost: null, siteRoot: n.siteRoot })).toEqual({ removed: false });
  }, 60_000);
});

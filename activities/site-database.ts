/**
 * A created site's database and its own database user (Galera), and the user's password as a Docker secret on
 * the farm's manager, which the site's service reads at /run/secrets/…. One activity does both because the
 * password is generated here and must never leave it: not in its input or result (workflow history), not in a
 * log line, not in an error message.
 */
import { randomBytes } from 'node:crypto';
import type { RowDataPacket } from 'mysql2/promise';
import type Docker from 'dockerode';
import type { ActivityDeps } from '../lib/clients/deps';
import { classifyDatabaseError, failure } from '../lib/clients/errors';
import { siteOwning } from '../lib/site-registry';
import { withNodeDocker, type NodeAddress } from './swarm-nodes';
import { faultPoint } from './lib/fault-points';

const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;
const NAME = /^[a-z0-9_]{1,64}$/;
const SECRET = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export interface SiteDatabaseInput {
  domain: string;
  database: string;
  dbUser: string;
  dbSecret: string;
  manager: NodeAddress;
}

export function createSiteDatabaseActivities({ galera, ssh, proxysql }: Pick<ActivityDeps, 'galera' | 'ssh'> & Partial<Pick<ActivityDeps, 'proxysql'>>) {
  const onManager = <T>(n: NodeAddress, fn: (d: Docker) => Promise<T>): Promise<T> => withNodeDocker(ssh.options.privateKey, n, fn);
  const secretId = (d: Docker, name: string) =>
    d.listSecrets({ filters: { name: [name] } }).then((l) => (l as { ID: string; Spec: { Name: string } }[]).find((s) => s.Spec.Name === name)?.ID ?? null);
  const check = (input: { database?: string; dbUser?: string; dbSecret?: string }) => {
    if (input.database !== undefined && !NAME.test(input.database)) throw failure('InvalidInput', `database: "${input.database}" is not a derived site database name`);
    if (input.dbUser !== undefined && !NAME.test(input.dbUser)) throw failure('InvalidInput', `dbUser: "${input.dbUser}" is not a derived site user name`);
    if (input.dbSecret !== undefined && !SECRET.test(input.dbSecret)) throw failure('InvalidInput', `dbSecret: "${input.dbSecret}" is not a derived secret name`);
  };

  /** Runs a statement that carries the password; its errors never repeat the statement or the password. */
  async function withPassword(sql: string, params: unknown[], password: string): Promise<void> {
    const node = await galera.writerNode();
    try {
      await galera.pool(node).query(sql, params);
    } catch (err) {
      throw classifyDatabaseError(err, node.name, { doing: "setting the site user's password", hide: password });
    }
  }

  /**
   * Where the farm routes through ProxySQL: the site's user in every instance's mysql_users with the password hash
   * Galera holds (read here, never returned or logged), so ProxySQL logs the site in and connects as it. Run after
   * every ensure: a new password (a crash repaired, a farm recovered) reaches ProxySQL too. Nothing to do without
   * ProxySQL (a local cluster, where sites reach Galera directly).
   */
  async function syncProxysqlUser(dbUser: string): Promise<{ proxysqlChanged: number }> {
    if (!proxysql) return { proxysqlChanged: 0 };
    const node = await galera.writerNode();
    const rows = await galera.query<RowDataPacket[]>(node, "SELECT authentication_string AS h FROM mysql.user WHERE User = ? AND Host = '%'", [dbUser]);
    const hash = String(rows[0]?.h ?? '');
    if (!hash) throw failure('DatabaseQueryFailed', `database ${node.name}: the site user ${dbUser} has no password to give ProxySQL`);
    try {
      const r = await proxysql.ensureUser(dbUser, hash);
      return { proxysqlChanged: r.changed.length };
    } catch (err) {
      throw failure('DatabaseUnavailable', `ProxySQL admin: adding the site user ${dbUser} failed: ${String((err as Error).message).split(hash).join('********').slice(0, 200)}`);
    }
  }

  return {
    /**
     * Get-or-create: the site's database (utf8mb4), its user with ALL on that database only, and the Docker secret
     * with the user's password. When the user and the secret both exist nothing changes (a Docker secret cannot be
     * read back, so an existing pair is trusted). When either is missing (first run, a crash between the two, a
     * farm recovered onto an empty cluster) a new password is generated, set on the user and stored in a new
     * secret: the secret is written last, so a crash before it leaves a state the next attempt repairs.
     */
    async ensureSiteDatabase(input: SiteDatabaseInput): Promise<{ createdDatabase: boolean; passwordSet: boolean; proxysqlChanged: number }> {
      check(input);
      const node = await galera.writerNode();
      const before = await galera.query<RowDataPacket[]>(node, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [input.database]);
      await galera.query(node, `CREATE DATABASE IF NOT EXISTS ${ident(input.database)} CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
      faultPoint('site-create-after-database');
      const users = await galera.query<RowDataPacket[]>(node, "SELECT User FROM mysql.user WHERE User = ? AND Host = '%'", [input.dbUser]);
      const secret = await onManager(input.manager, (d) => secretId(d, input.dbSecret));
      let passwordSet = false;
      if (!users.length || !secret) {
        const password = randomBytes(24).toString('base64url');
        await withPassword('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY ?', [input.dbUser, '%', password], password);
        await withPassword('ALTER USER ?@? IDENTIFIED BY ?', [input.dbUser, '%', password], password);
        faultPoint('site-create-after-user');
        await onManager(input.manager, async (d) => {
          // A secret a service still uses cannot be removed: rotating then needs the service removed first.
          if (secret) await d.getSecret(secret).remove();
          await d.createSecret({ Name: input.dbSecret, Labels: { 'drover.site': input.domain }, Data: Buffer.from(password).toString('base64') });
        });
        passwordSet = true;
      }
      // Grants cover the site's database only (no global privileges, no other schema).
      await galera.query(node, `GRANT ALL PRIVILEGES ON ${ident(input.database)}.* TO ?@?`, [input.dbUser, '%']);
      faultPoint('site-create-before-proxysql');
      const { proxysqlChanged } = await syncProxysqlUser(input.dbUser);
      return { createdDatabase: !before.length, passwordSet, proxysqlChanged };
    },

    /**
     * Removes the site's user (from ProxySQL first, where the farm has it, then Galera) and its secret (idempotent;
     * the service that read it must be gone first).
     */
    async removeSiteDatabaseUser(input: Omit<SiteDatabaseInput, 'database'>): Promise<{ removedUser: boolean; removedSecret: boolean }> {
      check(input);
      if (proxysql) {
        await proxysql.removeUser(input.dbUser).catch((err: unknown) => Promise.reject(failure('DatabaseUnavailable', `ProxySQL admin: removing the site user ${input.dbUser} failed: ${String((err as Error).message).slice(0, 200)}`)));
      }
      const node = await galera.writerNode();
      const users = await galera.query<RowDataPacket[]>(node, "SELECT User FROM mysql.user WHERE User = ? AND Host = '%'", [input.dbUser]);
      await galera.query(node, 'DROP USER IF EXISTS ?@?', [input.dbUser, '%']);
      const removedSecret = await onManager(input.manager, async (d) => {
        const id = await secretId(d, input.dbSecret);
        if (id) await d.getSecret(id).remove();
        return Boolean(id);
      });
      return { removedUser: users.length > 0, removedSecret };
    },

    /**
     * Drops a deleted site's database (idempotent). Refused while a registered site other than `domain` owns it:
     * the registry row of the site being deleted is marked deleted only after this step.
     */
    async dropSiteDatabase(input: { domain: string; database: string }): Promise<{ dropped: boolean }> {
      check(input);
      const owner = await siteOwning(galera, { database: input.database });
      if (owner && owner !== input.domain) throw failure('InvalidInput', `refusing to drop ${input.database}: it belongs to site ${owner}`);
      const node = await galera.writerNode();
      const before = await galera.query<RowDataPacket[]>(node, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [input.database]);
      await galera.query(node, `DROP DATABASE IF EXISTS ${ident(input.database)}`);
      return { dropped: before.length > 0 };
    },
  };
}

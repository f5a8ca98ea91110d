/**
 * ProxySQL's admin interface (MySQL protocol, port 6032, backed by SQLite): the per-site users in `mysql_users`, and
 * contractors' grant logins (activities/contractor-access.ts).
 * The farm runs one ProxySQL per database node (stacks/database.yml, `mode: global`) and no ProxySQL cluster, so
 * each instance is written: an endpoint name such as `tasks.database_proxysql:6032` resolves to every task's
 * address. ProxySQL's own `admin` user may only log in from localhost; Drover uses the second admin user the
 * shipped configuration defines (configs/proxysql/proxysql.cnf, `drover`).
 *
 * The site user's password is written as MariaDB's mysql_native_password hash (`*` and 40 hex digits, read from
 * Galera's mysql.user): ProxySQL accepts hashed passwords, so the clear password never leaves the activity that
 * made it. Values go into the SQL inline because ProxySQL's SQLite does not read MySQL's backslash escapes; they
 * are checked first to be a derived user name and a hash, and nothing else is accepted.
 */
import { lookup } from 'node:dns/promises';
import mysql from 'mysql2/promise';

const USER = /^[a-z0-9_]{1,32}$/;
const HASH = /^\*[0-9A-F]{40}$/;

export interface ProxysqlAdminOptions {
  /** host:port of each ProxySQL admin interface (a name resolving to several addresses counts for each). */
  endpoints: string[];
  user: string;
  password: string;
}

function checked(username: string, hash?: string): void {
  if (!USER.test(username)) throw new Error(`username: ${JSON.stringify(username)} is not a derived site user name`);
  if (hash !== undefined && !HASH.test(hash)) throw new Error(`password: not a mysql_native_password hash (a site user made by Drover has one)`);
}

/**
 * The statements that put one user into ProxySQL (replacing what was there), load it and save it: a site's user
 * (200 connections) or a contractor's grant login (lib/access-grants.ts, fewer).
 */
export function proxysqlUserStatements(username: string, hash: string, { maxConnections = 200 }: { maxConnections?: number } = {}): string[] {
  checked(username, hash);
  if (!Number.isInteger(maxConnections) || maxConnections < 1 || maxConnections > 10_000) throw new Error(`maxConnections: ${maxConnections} is not 1 to 10000`);
  return [
    `DELETE FROM mysql_users WHERE username = '${username}'`,
    // Default host group the writer (10); the query rules send plain reads to the readers. transaction_persistent:
    // a transaction stays on one host group.
    `INSERT INTO mysql_users (username, password, default_hostgroup, transaction_persistent, max_connections, active) VALUES ('${username}', '${hash}', 10, 1, ${maxConnections}, 1)`,
    'LOAD MYSQL USERS TO RUNTIME',
    'SAVE MYSQL USERS TO DISK',
  ];
}

/** The statements that remove one site user from ProxySQL, load and save. */
export function proxysqlRemoveUserStatements(username: string): string[] {
  checked(username);
  return [`DELETE FROM mysql_users WHERE username = '${username}'`, 'LOAD MYSQL USERS TO RUNTIME', 'SAVE MYSQL USERS TO DISK'];
}

export class ProxysqlAdminClient {
  constructor(private readonly opts: ProxysqlAdminOptions) {}

  /** Every ProxySQL instance's admin address (names resolved to all their addresses). */
  async instances(): Promise<{ host: string; port: number }[]> {
    const out: { host: string; port: number }[] = [];
    for (const e of this.opts.endpoints) {
      const i = e.lastIndexOf(':');
      const host = e.slice(0, i);
      const port = Number(e.slice(i + 1));
      const addrs = await lookup(host, { all: true });
      for (const a of addrs) if (!out.some((o) => o.host === a.address && o.port === port)) out.push({ host: a.address, port });
    }
    return out;
  }

  private async onEach<T>(fn: (c: mysql.Connection, at: string) => Promise<T>): Promise<T[]> {
    const results: T[] = [];
    for (const { host, port } of await this.instances()) {
      const c = await mysql.createConnection({ host, port, user: this.opts.user, password: this.opts.password, connectTimeout: 10_000 });
      try {
        results.push(await fn(c, `${host}:${port}`));
      } finally {
        await c.end().catch(() => undefined);
      }
    }
    return results;
  }

  /**
   * The site user with this hash on every instance; an instance that already has exactly it is left alone (no
   * reload). Returns the instances changed.
   */
  async ensureUser(username: string, hash: string, opts: { maxConnections?: number } = {}): Promise<{ instances: number; changed: string[] }> {
    const statements = proxysqlUserStatements(username, hash, opts);
    const maxConnections = opts.maxConnections ?? 200;
    const changed = (
      await this.onEach(async (c, at) => {
        const [rows] = await c.query(`SELECT password, default_hostgroup, max_connections, active FROM mysql_users WHERE username = '${username}'`);
        const have = rows as { password: string; default_hostgroup: number | string; max_connections: number | string; active: number | string }[];
        if (have.length === 1 && have[0].password === hash && Number(have[0].default_hostgroup) === 10 && Number(have[0].max_connections) === maxConnections && Number(have[0].active) === 1) return null;
        for (const s of statements) await c.query(s);
        return at;
      })
    ).filter((x): x is string => x !== null);
    return { instances: (await this.instances()).length, changed };
  }

  /** The site user gone from every instance (idempotent). Returns the instances it was removed from. */
  async removeUser(username: string): Promise<{ removedFrom: string[] }> {
    const statements = proxysqlRemoveUserStatements(username);
    const removedFrom = (
      await this.onEach(async (c, at) => {
        const [rows] = await c.query(`SELECT username FROM mysql_users WHERE username = '${username}'`);
        if (!(rows as unknown[]).length) return null;
        for (const s of statements) await c.query(s);
        return at;
      })
    ).filter((x): x is string => x !== null);
    return { removedFrom };
  }
}

import { describe, expect, it } from 'vitest';
import { proxysqlRemoveUserStatements, proxysqlUserStatements } from '../../lib/clients/proxysql-admin-client';
import { siteNames } from '../../lib/site-names';
import { accessLogin } from '../../lib/access-grants';
import { CONTRACTOR_PROXYSQL_MAX_CONNECTIONS, createContractorAccessActivities } from '../../activities/contractor-access';

const HASH = '*' + 'A1'.repeat(20);

describe('ProxySQL site user statements', () => {
  it('replace, load to runtime and save to disk, for a derived user of maximum length', () => {
    const user = siteNames(`${'a'.repeat(63)}.${'b'.repeat(63)}.example.com`).dbUser;
    expect(user.length).toBeLessThanOrEqual(32);
    expect(proxysqlUserStatements(user, HASH)).toEqual([
      `DELETE FROM mysql_users WHERE username = '${user}'`,
      `INSERT INTO mysql_users (username, password, default_hostgroup, transaction_persistent, max_connections, active) VALUES ('${user}', '${HASH}', 10, 1, 200, 1)`,
      'LOAD MYSQL USERS TO RUNTIME',
      'SAVE MYSQL USERS TO DISK',
    ]);
    expect(proxysqlRemoveUserStatements(user)).toEqual([`DELETE FROM mysql_users WHERE username = '${user}'`, 'LOAD MYSQL USERS TO RUNTIME', 'SAVE MYSQL USERS TO DISK']);
  });

  it.each([
    ["x'; DROP TABLE mysql_users; --", HASH],
    ['Upper', HASH],
    ['a'.repeat(33), HASH],
    ['wp_ok', 'clear-text-password'],
    ['wp_ok', "*A1'"],
    ['wp_ok', '*' + 'a1'.repeat(20)],
  ])('refuses user %j with password %j (nothing but a derived name and a hash goes inline)', (user, hash) => {
    expect(() => proxysqlUserStatements(user, hash)).toThrow(/username|password/);
  });

  it('never repeats a refused password in its error', () => {
    expect(() => proxysqlUserStatements('wp_ok', 'hunter2-secret')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
  });
});

describe('ProxySQL contractor grant logins (drover access grant --db)', () => {
  const login = accessLogin(`${'a'.repeat(63)}.${'b'.repeat(63)}.example.com`, 'abcdefghijklmnop');

  it('the longest grant login goes in with 10 connections, and out again', () => {
    expect(login.length).toBe(27);
    expect(proxysqlUserStatements(login, HASH, { maxConnections: CONTRACTOR_PROXYSQL_MAX_CONNECTIONS })).toEqual([
      `DELETE FROM mysql_users WHERE username = '${login}'`,
      `INSERT INTO mysql_users (username, password, default_hostgroup, transaction_persistent, max_connections, active) VALUES ('${login}', '${HASH}', 10, 1, 10, 1)`,
      'LOAD MYSQL USERS TO RUNTIME',
      'SAVE MYSQL USERS TO DISK',
    ]);
    expect(() => proxysqlUserStatements(login, HASH, { maxConnections: 0 })).toThrow(/maxConnections/);
  });

  /** The activities with Galera and ProxySQL's admin client stood in for: what they ask ProxySQL, in order with Galera. */
  function harness() {
    const calls: string[] = [];
    const node = { name: 'galera-1' };
    const galera = {
      nodes: [node],
      writerNode: async () => node,
      query: async (_n: unknown, sql: string) => {
        calls.push(`galera: ${sql.split(' ').slice(0, 2).join(' ')}`);
        return sql.includes('SCHEMATA') ? [{ SCHEMA_NAME: 'wp_site' }] : [];
      },
      pool: () => ({ query: async (sql: string) => calls.push(`galera: ${sql.split(' ').slice(0, 2).join(' ')}`) }),
    };
    const proxysql = {
      ensureUser: async (user: string, hash: string, opts: { maxConnections?: number }) => {
        calls.push(...proxysqlUserStatements(user, hash, opts).map((s) => `proxysql: ${s}`));
        return { instances: 1, changed: ['x'] };
      },
      removeUser: async (user: string) => {
        calls.push(...proxysqlRemoveUserStatements(user).map((s) => `proxysql: ${s}`));
        return { removedFrom: ['x'] };
      },
    };
    const acts = createContractorAccessActivities({ galera, ssh: {}, sftp: {}, contractor: {}, proxysql } as unknown as Parameters<typeof createContractorAccessActivities>[0]);
    return { calls, acts };
  }

  it('a grant adds the login to ProxySQL after Galera has it; revoking removes it from ProxySQL before Galera drops it', async () => {
    const { calls, acts } = harness();
    await acts.createContractorDbUser({ login, database: 'wp_site', passwordHash: HASH });
    const added = calls.indexOf(`proxysql: DELETE FROM mysql_users WHERE username = '${login}'`);
    expect(added).toBeGreaterThan(calls.indexOf('galera: GRANT ALL'));
    expect(calls.slice(added)).toEqual(proxysqlUserStatements(login, HASH, { maxConnections: 10 }).map((s) => `proxysql: ${s}`));
    calls.length = 0;
    await acts.revokeContractorDbUser({ login });
    expect(calls.slice(0, 3)).toEqual(proxysqlRemoveUserStatements(login).map((s) => `proxysql: ${s}`));
    expect(calls.indexOf('galera: DROP USER')).toBeGreaterThan(2);
  });

  it('a ProxySQL error while adding never repeats the hash', async () => {
    const failing = createContractorAccessActivities({
      galera: { nodes: [], writerNode: async () => ({ name: 'n' }), query: async (_n: unknown, sql: string) => (sql.includes('SCHEMATA') ? [{}] : []), pool: () => ({ query: async () => undefined }) },
      proxysql: { ensureUser: async () => Promise.reject(new Error(`rejected password ${HASH}`)) },
    } as unknown as Parameters<typeof createContractorAccessActivities>[0]);
    const err = (await failing.createContractorDbUser({ login, database: 'wp_site', passwordHash: HASH }).catch((e: unknown) => e)) as Error;
    expect(err.message).toMatch(/ProxySQL admin: adding contractor user c_abcdefghijklmnop_[0-9a-f]{8} failed: rejected password \*{8}/);
    expect(err.message).not.toContain(HASH.slice(1));
  });
});

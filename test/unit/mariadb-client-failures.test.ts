/**
 * A MariaDB client program's failure classified once (classifyMariadbClientExit): the server's or the link's trouble is
 * DatabaseUnavailable (retried, on the next Synced node), a refused login DatabaseAuthFailed, the dump or statement
 * itself DatabaseQueryFailed. The real `mariadb` client, loading a real age-encrypted dump, against a port nothing
 * listens on: the load of a restore whose node went away before its client connected was failed for good.
 */
import { execFileSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { classifyMariadbClientExit } from '../../lib/clients/errors';
import { loadDumpFile } from '../../activities/lib/dump-load';
import { freePort } from '../helpers/ports';
import { scratchDir } from '../helpers/scratch';

const dir = scratchDir('drover-client-fail-');

describe('MariaDB client failures', () => {
  it.each([
    ["ERROR 2002 (HY000): Can't connect to server on '127.0.0.1' (115)", 'DatabaseUnavailable'],
    ['ERROR 2013 (HY000) at line 412: Lost connection to server during query', 'DatabaseUnavailable'],
    ['ERROR 2006 (HY000) at line 9: Server has gone away', 'DatabaseUnavailable'],
    ['ERROR 1047 (08S01) at line 1: WSREP has not yet prepared node for application use', 'DatabaseUnavailable'],
    ['ERROR 1213 (40001) at line 77: Deadlock found when trying to get lock; try restarting transaction', 'DatabaseUnavailable'],
    ['ERROR 1040 (HY000): Too many connections', 'DatabaseUnavailable'],
    ['mariadb-dump: Got error: 2013: "Lost connection to server during query" when dumping table `wp_posts` at row: 1200', 'DatabaseUnavailable'],
    ["ERROR 1045 (28000): Access denied for user 'drover'@'10.0.0.4' (using password: YES)", 'DatabaseAuthFailed'],
    ["ERROR 1064 (42000) at line 3: You have an error in your SQL syntax; check the manual near '…' at line 1", 'DatabaseQueryFailed'],
    ["ERROR 1062 (23000) at line 40: Duplicate entry '…' for key 'PRIMARY'", 'DatabaseQueryFailed'],
    ['', 'DatabaseQueryFailed'],
    // Site data quoted in a statement's error never passes for a lost server or a refused login.
    ["ERROR 1064 (42000) at line 88: You have an error in your SQL syntax; check the manual near 'the server has gone away, Access denied' at line 1", 'DatabaseQueryFailed'],
    ["ERROR 1062 (23000) at line 12: Duplicate entry 'Lost connection' for key 'PRIMARY'", 'DatabaseQueryFailed'],
    ['mariadb: unknown option \'--bogus\'', 'DatabaseQueryFailed'],
  ])('%s → %s', (stderr, type) => {
    const f = classifyMariadbClientExit(stderr, 'loading x failed');
    expect(f.type).toBe(type);
    expect(f.nonRetryable).toBe(type !== 'DatabaseUnavailable');
    expect(f.message).toBe('loading x failed');
  });

  it('a load whose server does not answer fails DatabaseUnavailable, naming the database', async () => {
    const id = path.join(dir, 'id');
    execFileSync('age-keygen', ['-o', id], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', id], { encoding: 'utf8' }).trim();
    const dump = path.join(dir, 'dump.sql.zst.age');
    execFileSync('bash', ['-c', `printf 'CREATE TABLE t (a INT);\\n' | zstd -q -c | age -r "$1" -o "$2"`, 'enc', recipient, dump]);
    const port = await freePort();
    const options = path.join(dir, 'client.cnf');
    writeFileSync(options, `[client]\nhost=127.0.0.1\nport=${port}\nuser=drover\npassword="not-a-secret"\nconnect-timeout=5\n`, { mode: 0o600 });
    const load = loadDumpFile({ identityFile: id, file: dump, key: 'sites/x/2026-12-06/database.sql.zst.age', database: 'staging_x', optionsFile: options });
    const err = await load.done.then(() => null, (e: unknown) => e as { type?: string; nonRetryable?: boolean; message: string });
    expect(err?.type, err?.message).toBe('DatabaseUnavailable');
    expect(err?.nonRetryable).toBe(false);
    expect(err?.message).toMatch(/^loading staging_x failed: ERROR 2002 .*Can't connect/s);
  }, 30_000);
});

/**
 * Contractor access (issue 17, item 3) on the real services, through the CLI and a production `drover worker
 * infra`: a grant's database user reads its site's database and no other; its SFTP login (OpenSSH, the local
 * environment's sshd) is chrooted to the site's root-owned directory and cannot leave it, gets no shell; the
 * grant is extended, its worker killed (SIGKILL) and replaced while it is live, and the new worker revokes it on
 * time: both logins then fail and the sessions left open (a database connection, an SFTP session) are closed. Its
 * FileBrowser/Adminer grant (--files), written into the contractor stack's configuration, is checked by parsing
 * (those images cannot run here) and by running the Adminer plugin in php-cli, and is gone after expiry. An
 * early revoke by the operator, idempotent; the audit record of each step; no password or private key in the
 * history, even decoded through the codec server; bad input exits 2 and creates nothing.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import { devLayout } from '../../devkit/dev-env';
import { resolveGoTool } from '../../devkit/dev-env/binaries';
import { execFileP } from '../../devkit/dev-env/processes';
import { accessLogin } from '../../lib/access-grants';
import { normalizeDomain } from '../../lib/domain-input';
import { upsertSite } from '../../lib/site-registry';
import { siteNames } from '../../lib/site-names';
import { createActivityDeps, closeActivityDeps, type ActivityDeps } from '../../lib/clients/deps';
import { createSiteFilesActivities } from '../../activities/site-files';
import type { AccessGrantState } from '../../workflows/access-grant';
import type { AuditEvent } from '../../lib/audit';
import { CLI, drover } from '../helpers/cli';
import { textsOf } from '../helpers/history-secrets';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { connectTestServer, testEnv } from '../helpers/temporal';
import { temporal } from '@temporalio/proto';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { adminerAvailable, startAdminer } from '../helpers/adminer';
import { parseAuthentikBlueprint } from '../helpers/authentik-blueprint';
import { pgrep } from '../helpers/pgrep';
import { scratchDir } from '../helpers/scratch';

const tag = randomBytes(3).toString('hex');
// A Unicode domain (stored as IDNA ASCII) for the granted site, a plain one for the site it must not reach.
const siteA = normalizeDomain(`bücher-${tag}.example.com`);
if (!siteA.ok) throw new Error('test domain');
const A = siteA.domain;
const B = `other-${tag}.example.com`;
const layout = devLayout(TEST_STATE_DIR, TEST_PORT_OFFSET);
const tmp = scratchDir('drover-access-test-');
/** Where the grant's FileBrowser/Adminer configuration is written (over SSH, as on the farm's node). */
const PORTAL_DIR = path.join(path.resolve(TEST_STATE_DIR), 'contractor');
const portalFile = (sub: string, name: string) => path.join(PORTAL_DIR, sub, name);
let deps: ActivityDeps;
let tw: TestWorkflowEnvironment;
const workers: ChildProcess[] = [];

/** A production `drover worker infra`, once it polls (the CLI refuses to wait on a queue no worker polls). */
async function startInfraWorker(): Promise<{ worker: ChildProcess; exited: Promise<void> }> {
  const worker = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'infra'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'ignore'], env: { ...process.env, DROVER_METRICS_PORT: '0', DROVER_CONTRACTOR_CONFIG_DIR: PORTAL_DIR } });
  workers.push(worker);
  await waitFor('the infra worker to poll', async () => {
    const r = await tw.client.workflowService.describeTaskQueue({
      namespace: tw.client.options.namespace,
      taskQueue: { name: TASK_QUEUES.infra, kind: temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    });
    return (r.pollers ?? []).some((p) => p.identity?.startsWith(`${worker.pid}@`));
  });
  return { worker, exited: new Promise((r) => worker.once('close', () => r())) };
}

async function waitFor(what: string, check: () => Promise<boolean> | boolean, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const galeraNode = () => {
  const first = testEnv().DROVER_GALERA_NODES.split(',')[0];
  const [host, port] = first.slice(first.indexOf('=') + 1).split(':');
  return { host, port: Number(port) };
};
const contractorDb = (user: string, password: string, database?: string) => mysql.createConnection({ ...galeraNode(), user, password, database, connectTimeout: 5_000 });

const sshArgs = (key: string) => ['-F', '/dev/null', '-i', key, '-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'StrictHostKeyChecking=no', '-o', 'UserKnownHostsFile=/dev/null', '-o', 'LogLevel=ERROR', '-o', 'ConnectTimeout=5'];
/** One `sftp -b -` batch as the contractor (a leading `-` on a command lets the batch go on when it fails). */
function sftpBatch(login: string, key: string, batch: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const c = spawn('sftp', [...sshArgs(key), '-P', String(layout.ssh.port), '-b', '-', `${login}@127.0.0.1`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    c.stdout.on('data', (d) => (stdout += d));
    c.stderr.on('data', (d) => (stderr += d));
    c.once('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
    c.stdin.end(batch);
  });
}

beforeAll(async () => {
  deps = createActivityDeps(testEnv());
  tw = await connectTestServer();
  const writer = await deps.galera.writerNode();
  for (const [domain, rows] of [[A, 'in-a'], [B, 'secret-of-b']] as const) {
    const n = siteNames(domain);
    await deps.galera.query(writer, `CREATE DATABASE IF NOT EXISTS \`${n.database}\``);
    await deps.galera.query(writer, `CREATE TABLE IF NOT EXISTS \`${n.database}\`.wp_options (option_name VARCHAR(64) PRIMARY KEY, option_value TEXT)`);
    await deps.galera.query(writer, `REPLACE INTO \`${n.database}\`.wp_options VALUES ('marker', ?)`, [rows]);
    await new MockActivityEnvironment().run(createSiteFilesActivities(deps).ensureSiteFiles, { storageHost: null, siteRoot: n.siteRoot, docroot: n.docroot });
    await upsertSite(deps.galera, { domain, database: n.database, filesPath: n.docroot, storageHost: null });
  }
  writeFileSync(path.join(siteNames(A).docroot, 'index.php'), '<?php echo "a";\n');
}, 120_000);

afterAll(async () => {
  // A grant a failed test left live is revoked (while a worker still runs), so no login outlives the test.
  for (const user of ['bob', 'carol']) await drover(['access', 'revoke', `access/${A}/${user}`]).catch(() => undefined);
  for (const w of workers) if (w.exitCode === null) w.kill('SIGKILL');
  for (const domain of [A, B]) {
    await new MockActivityEnvironment().run(createSiteFilesActivities(deps).removeSiteFiles, { storageHost: null, siteRoot: siteNames(domain).siteRoot }).catch(() => undefined);
    await deps.galera.query(await deps.galera.writerNode(), `DROP DATABASE IF EXISTS \`${siteNames(domain).database}\``).catch(() => undefined);
  }
  await closeActivityDeps(deps);
  await tw?.teardown();
});

describe('drover access', () => {
  it('grants a site-scoped database user and a chrooted SFTP login, revokes them on time across a worker kill, closing open sessions', async () => {
    const w1 = await startInfraWorker();
    const credsFile = path.join(tmp, 'bob.json');
    const r = await drover(['access', 'grant', '--site', `bücher-${tag}.example.com`, '--user', 'bob', '--for', '25s', '--db', '--sftp', '--files', '--credentials-file', credsFile, '--json'], { env: { DROVER_OPERATOR: 'alice' } });
    expect(r.code, r.stderr).toBe(0);
    expect((statSync(credsFile).mode & 0o777).toString(8)).toBe('600');
    const creds = JSON.parse(readFileSync(credsFile, 'utf8')) as { grant: string; database: { user: string; password: string; database: string }; sftp: { user: string; privateKey: string }; files: unknown };
    const login = accessLogin(A, 'bob');
    expect(creds.grant).toBe(`access/${A}/bob`);
    expect(creds.database.user).toBe(login);
    expect(creds.files).toEqual({ authentikUser: login, authentikGroup: `site:${A}`, filebrowserScope: `/${A}/htdocs`, adminerDatabase: siteNames(A).database });
    expect(r.stdout).not.toContain(creds.database.password);
    const key = path.join(tmp, 'bob.key');
    writeFileSync(key, creds.sftp.privateKey, { mode: 0o600 });

    // FileBrowser/Adminer (--files): the contractor stack's configuration, validated by parsing (Authentik,
    // FileBrowser and Adminer images cannot run here), and Adminer's plugin run by php-cli on the files written.
    const blueprintFile = portalFile('authentik-blueprints', `drover-grant-${login}.yaml`);
    const blueprint = parseAuthentikBlueprint(readFileSync(blueprintFile, 'utf8'));
    expect(blueprint.entries.map((e) => [e.model, e.state, e.identifiers])).toEqual([
      ['authentik_core.group', 'present', { name: `site:${A}` }],
      ['authentik_core.user', 'present', { username: login }],
    ]);
    expect(blueprint.entries[1].attrs).toMatchObject({ groups: [{ find: ['authentik_core.group', ['name', `site:${A}`]] }] });
    const fbUsers = JSON.parse(readFileSync(portalFile('filebrowser-users', `${login}.json`), 'utf8')) as { username: string; scope: string; perm: { admin: boolean } }[];
    expect(fbUsers).toEqual([expect.objectContaining({ username: login, scope: `/${A}/htdocs`, perm: expect.objectContaining({ admin: false, execute: false }) })]);
    const adminerFile = portalFile('adminer-grants', `${login}.php`);
    for (const php of [adminerFile, path.join(ROOT, 'configs/contractor/adminer/drover-grants.php')]) expect((await execFileP('php', ['-l', php])).stdout).toMatch(/No syntax errors/);
    await execFileP('sh', ['-n', path.join(ROOT, 'configs/contractor/filebrowser-start.sh')]);
    const plugin = async (who: string) => JSON.parse((await execFileP('php', ['-r', `$_SERVER['HTTP_X_AUTHENTIK_USERNAME'] = $argv[1]; $p = include ${JSON.stringify(path.join(ROOT, 'configs/contractor/adminer/drover-grants.php'))}; echo json_encode([$p->databases(), $p->login($argv[1], 'x'), $p->login('root', 'x')]);`, who], { env: { ...process.env, DROVER_ADMINER_GRANTS: path.dirname(adminerFile) } })).stdout) as [string[], string | null, string | null];
    const [dbsShown, ownLogin, otherLogin] = await plugin(login);
    expect(dbsShown).toEqual([siteNames(A).database]);
    expect(ownLogin).toBeNull();
    expect(otherLogin).toMatch(/database user of your grant/);
    expect((await plugin(accessLogin(B, 'bob')))[0]).toEqual([]);
    expect(statSync(blueprintFile).mode & 0o022).toBe(0);

    // The database user: its site's database, nothing else.
    const conn = await contractorDb(login, creds.database.password, siteNames(A).database);
    const [own] = await conn.query<RowDataPacket[]>("SELECT option_value FROM wp_options WHERE option_name = 'marker'");
    expect(own[0].option_value).toBe('in-a');
    await expect(conn.query(`SELECT option_value FROM \`${siteNames(B).database}\`.wp_options`)).rejects.toMatchObject({ code: expect.stringMatching(/ER_(TABLEACCESS|DBACCESS)_DENIED/) });
    const [dbs] = await conn.query<RowDataPacket[]>('SHOW DATABASES');
    expect(dbs.map((d) => d.Database).sort()).toEqual(['information_schema', siteNames(A).database]);
    await expect(contractorDb(login, creds.database.password, siteNames(B).database)).rejects.toMatchObject({ code: 'ER_DBACCESS_DENIED_ERROR' });

    // The SFTP login: chrooted to the site's directory; uploads land in its docroot as the PHP user; no way out, no shell.
    writeFileSync(path.join(tmp, 'upload.txt'), 'from bob\n');
    const inside = await sftpBatch(login, key, [
      'pwd', 'ls -1a /', 'cd ..', 'pwd', `put ${path.join(tmp, 'upload.txt')} /htdocs/upload.txt`, 'ls -1 /htdocs',
      '-get /etc/passwd', '-cd /srv/drover/sites', `-ls /srv/drover/sites/${B}`, '-symlink /etc/passwd /htdocs/pw', `-get /htdocs/pw ${path.join(tmp, 'pw')}`, '-mkdir /escape',
    ].join('\n'));
    expect(inside.code, inside.stderr).toBe(0);
    expect(inside.stdout).toMatch(/Remote working directory: \/\n[\s\S]*Remote working directory: \/\n/);
    expect(inside.stdout).toContain('htdocs');
    // What the contractor sees (sftp echoes each batch command as `sftp> …`: left out).
    const listed = inside.stdout.split('\n').filter((l) => l && !l.startsWith('sftp>') && !l.startsWith('Remote working directory'));
    expect(listed.map((l) => l.trim()).filter((l) => !['/.', '/..', '/htdocs', '/htdocs/index.php', '/htdocs/upload.txt'].includes(l))).toEqual([]);
    expect(inside.stdout).toContain('/htdocs/index.php');
    expect(readFileSync(path.join(siteNames(A).docroot, 'upload.txt'), 'utf8')).toBe('from bob\n');
    expect(statSync(path.join(siteNames(A).docroot, 'upload.txt')).uid).toBe(33);
    expect(existsSync(path.join(tmp, 'pw'))).toBe(false);
    expect(existsSync(path.join(siteNames(A).siteRoot, 'escape'))).toBe(false); // the chroot's root is root's
    expect(inside.stderr).toMatch(/not found|No such file/);
    const shell = await execFileP('ssh', [...sshArgs(key), '-n', '-p', String(layout.ssh.port), `${login}@127.0.0.1`, 'cat /etc/passwd']).then(
      (x) => ({ code: 0, out: x.stdout }),
      (e: { code: number; stdout: string }) => ({ code: e.code, out: e.stdout }),
    );
    expect(shell.out).not.toContain('root:x:0:0');

    // Sessions left open across the expiry: a database connection and an SFTP session.
    const sftpSession = spawn('sftp', [...sshArgs(key), '-P', String(layout.ssh.port), `${login}@127.0.0.1`], { stdio: ['pipe', 'pipe', 'pipe'] });
    let sessionOut = '';
    let sessionErr = '';
    sftpSession.stdout.on('data', (d) => (sessionOut += d));
    sftpSession.stderr.on('data', (d) => (sessionErr += d));
    sftpSession.stdin.write('pwd\n');
    await waitFor('the open sftp session', () => sessionOut.includes('Remote working directory'));

    // Listed from Temporal's visibility (eventually consistent: a moment after the start).
    let grants: { grant: string; kinds: string[] }[] = [];
    await waitFor('the grant in `drover access list`', async () => {
      const list = await drover(['access', 'list', '--site', A, '--json']);
      expect(list.code, list.stderr).toBe(0);
      grants = (list.json() as { grants: typeof grants }).grants;
      return grants.length > 0;
    });
    expect(grants).toEqual([expect.objectContaining({ grant: creds.grant, kinds: ['db', 'sftp', 'files'] })]);

    const extended = await drover(['access', 'extend', creds.grant, '--for', '10s', '--json'], { env: { DROVER_OPERATOR: 'alice' } });
    expect(extended.code, extended.stderr).toBe(0);
    const state = (extended.json() as { grant: AccessGrantState }).grant;
    expect(state.extensions).toBe(1);
    const tooLong = await drover(['access', 'extend', creds.grant, '--for', '90d', '--json']);
    expect(tooLong.code, tooLong.stdout).toBe(2);
    expect((tooLong.json() as { error: { field: string } }).error.field).toBe('--for');

    // The worker dies while the grant is live; another takes over and revokes on time. (25 s and the 10 s extension
    // leave room for the steps above, about 5 s on a quiet machine, on a loaded one; if they ever take longer, this
    // says so rather than killing a revoked grant's worker.)
    expect(Date.parse(state.expiresAt) - Date.now(), 'the grant is still live when its worker is killed').toBeGreaterThan(3_000);
    w1.worker.kill('SIGKILL');
    await w1.exited;
    await startInfraWorker();
    const final = (await tw.client.workflow.getHandle(creds.grant).result()) as AccessGrantState;
    expect(final.status).toBe('revoked');
    expect(final.revokedBy).toBe('expiry');
    const late = Date.parse(final.revokedAt!) - Date.parse(state.expiresAt);
    expect(late).toBeGreaterThanOrEqual(0);
    // Completed, not just started, within a minute of expiry: the timer held across the worker's death (a bound on
    // being forgotten, not a speed test; under a load of 20 on 2 cores the revoke's steps alone took 20 s here).
    expect(late).toBeLessThan(60_000);
    expect(final.revoked).toMatchObject({ droppedDbUser: true, removedSftpLogin: true, removedPortalGrant: true });
    expect(final.revoked!.killedDbConnections).toBeGreaterThanOrEqual(1);
    expect(final.revoked!.killedSftpSessions).toBeGreaterThanOrEqual(1);

    // After expiry: both logins refused, the open sessions closed.
    await expect(conn.query('SELECT 1')).rejects.toThrow();
    await expect(contractorDb(login, creds.database.password, siteNames(A).database)).rejects.toMatchObject({ code: expect.stringMatching(/^ER_ACCESS_DENIED/) });
    const after = await sftpBatch(login, key, 'pwd');
    expect(after.code).not.toBe(0);
    // The server ended the session (the sftp client then waits on its own stdin: it is stopped here).
    await waitFor('the open sftp session to be closed by the server', () => /closed by remote host|Connection closed/.test(sessionErr), 10_000);
    sftpSession.kill();
    expect(pgrep(['-f', `^sshd(-session)?: ${login}( |@|$)`])).toEqual([]);
    expect((await execFileP('getent', ['passwd']).then((x) => x.stdout)).includes(`${login}:`)).toBe(false);
    // FileBrowser's user and Adminer's entry gone; the blueprint now deletes the Authentik user (the group stays).
    expect(existsSync(portalFile('filebrowser-users', `${login}.json`))).toBe(false);
    expect(existsSync(adminerFile)).toBe(false);
    expect((await plugin(login))[0]).toEqual([]);
    expect(parseAuthentikBlueprint(readFileSync(blueprintFile, 'utf8')).entries.map((e) => [e.model, e.state])).toEqual([['authentik_core.group', 'present'], ['authentik_core.user', 'absent']]);

    // The audit record: granted, extended, revoked on expiry, and the run's end.
    const audit = await drover(['audit', '--site', A, '--json']);
    const events = (audit.json() as { events: AuditEvent[] }).events.filter((e) => e.workflowId === creds.grant);
    expect(events.map((e) => [e.operation, e.operator])).toEqual([
      ['accessGranted', 'alice'],
      ['accessExtended', 'alice'],
      ['accessRevoked', 'drover:expiry'],
      ['accessGrant', 'alice'],
    ]);
    expect(events[0].detail).toContain(`bob (${login}): db+sftp+files until`);

    // No password, private key or site data in the history, even decoded through the codec server.
    const show = async (codec: boolean) => {
      const env = testEnv();
      const args = ['workflow', 'show', '--address', env.TEMPORAL_ADDRESS, '--namespace', env.TEMPORAL_NAMESPACE, '--workflow-id', creds.grant, '--output', 'json', ...(codec ? ['--codec-endpoint', `http://127.0.0.1:${layout.codec.port}`] : [])];
      return textsOf(JSON.parse((await execFileP(await resolveGoTool('temporal'), args, { maxBuffer: 64 * 1024 * 1024 })).stdout));
    };
    const decoded = await show(true);
    expect(decoded.some((t) => t.includes(siteNames(A).database))).toBe(true); // the codec server decodes
    const privateBody = creds.sftp.privateKey.split('\n')[1];
    for (const texts of [decoded, await show(false)]) {
      expect(texts.some((t) => t.includes(creds.database.password))).toBe(false);
      expect(texts.some((t) => t.includes(privateBody) || /PRIVATE KEY/.test(t))).toBe(false);
    }
    expect((await show(false)).some((t) => t.includes(siteNames(A).database))).toBe(false);
  }, 240_000);

  it('revokes early on the operator\'s word (idempotent), then refuses to extend what has ended', async () => {
    if (!workers.some((w) => w.exitCode === null && w.signalCode === null)) await startInfraWorker();
    const r = await drover(['access', 'grant', '--site', A, '--user', 'carol', '--for', '1h', '--db', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const out = r.json() as { grant: AccessGrantState; credentials: { database: { password: string } } };
    const conn = await contractorDb(out.grant.login, out.credentials.database.password, siteNames(A).database);
    // Through Adminer (Debian's package, when installed): the contractor's login lists its site's database alone.
    const adminer = adminerAvailable() ? await startAdminer(28_900 + TEST_PORT_OFFSET) : null;
    const adminerLogin = () => adminer!.login({ server: `${galeraNode().host}:${galeraNode().port}`, username: out.grant.login, password: out.credentials.database.password });
    if (adminer) {
      const seen = await adminerLogin();
      expect(seen.error).toBeNull();
      expect(seen.databases.filter((d) => d !== 'information_schema')).toEqual([siteNames(A).database]);
    } else {
      process.stderr.write('access-grant: Adminer not installed (apt-get install adminer): its login is not checked\n');
    }
    const revoke = await drover(['access', 'revoke', out.grant.grantId, '--json'], { env: { DROVER_OPERATOR: 'dave' } });
    expect(revoke.code, revoke.stderr).toBe(0);
    expect((revoke.json() as { grant: AccessGrantState }).grant).toMatchObject({ status: 'revoked', revokedBy: 'dave' });
    await expect(conn.query('SELECT 1')).rejects.toThrow();
    await expect(contractorDb(out.grant.login, out.credentials.database.password)).rejects.toMatchObject({ code: expect.stringMatching(/^ER_ACCESS_DENIED/) });
    if (adminer) {
      expect((await adminerLogin()).error).toMatch(/Access denied/);
      adminer.close();
    }
    const again = await drover(['access', 'revoke', out.grant.grantId, '--json']);
    expect(again.code, again.stderr).toBe(0);
    expect((again.json() as { grant: AccessGrantState }).grant.status).toBe('revoked');
    const extend = await drover(['access', 'extend', out.grant.grantId, '--for', '1d', '--json']);
    expect(extend.code).toBe(2);
    expect(extend.stdout).toContain('has ended');
  }, 120_000);

  it.each([
    [['--site', `unknown-${tag}.example.com`, '--user', 'zed', '--for', '7d', '--db'], '--site'],
    [['--site', A, '--user', 'zed', '--for', '0d', '--db'], '--for'],
    [['--site', A, '--user', 'zed', '--for', '-1d', '--db'], '--for'],
    [['--site', A, '--user', 'zed', '--for', '400d', '--db'], '--for'],
    [['--site', A, '--user', 'bob;id', '--for', '7d', '--db'], '--user'],
    [['--site', A, '--user', "x'--", '--for', '7d', '--sftp'], '--user'],
    [['--site', A, '--user', '$(id)', '--for', '7d', '--sftp'], '--user'],
    [['--site', A, '--user', 'zed', '--for', '7d'], '--db'],
    [['--site', `unknown-${tag}.example.com`, '--user', 'zed', '--for', '7d', '--files'], '--site'],
    [['--site', A, '--user', 'zed;id', '--for', '7d', '--files', '--db'], '--user'],
    [['--site', A, '--user', 'zed', '--for', '0s', '--files'], '--for'],
    [['--site', A, '--user', 'zed', '--for', '7d', '--files', '--ssh-public-key', '/dev/null'], '--ssh-public-key'],
    [['--site', A, '--user', 'zed', '--for', '7d', '--files', '--credentials-file', '/dev/null'], '--credentials-file'],
    // A folder that is not there: the grant would go live and its credentials be written nowhere.
    [['--site', A, '--user', 'zed', '--for', '7d', '--files', '--credentials-file', '/no/such/folder/creds.json'], '--credentials-file'],
  ])('refuses %j: exit 2 naming the field, nothing created', async (args, field) => {
    const r = await drover(['access', 'grant', ...args, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect((r.json() as { error: { field: string } }).error.field).toBe(field);
    const users = await deps.galera.query<RowDataPacket[]>(await deps.galera.writerNode(), "SELECT User FROM mysql.user WHERE User LIKE 'c\\_zed\\_%'");
    expect(users).toEqual([]);
    expect(existsSync(portalFile('authentik-blueprints', `drover-grant-${accessLogin(A, 'zed')}.yaml`))).toBe(false);
    await expect(tw.client.workflow.getHandle(`access/${A}/zed`).describe()).rejects.toThrow();
  });

  it('refuses a grant ID that is not one, and one that never existed', async () => {
    const bad = await drover(['access', 'revoke', 'access/../etc', '--json']);
    expect(bad.code).toBe(2);
    expect((bad.json() as { error: { field: string } }).error.field).toBe('grant');
    const none = await drover(['access', 'revoke', `access/${A}/nobody`, '--json']);
    expect(none.code).toBe(2);
  });
});

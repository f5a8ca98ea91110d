/**
 * `drover access grant | revoke | extend | list`: a contractor's time-boxed access to one site, one
 * accessGrantWorkflow per grant (ID `access/<site>/<user>`). The CLI checks the input (exit 2 naming the field,
 * nothing started), generates the credentials here and hands them to the operator once — printed, or written to
 * the file they name — and gives the workflow only what cannot log in: the password's hash and the public key.
 */
import { createHash, randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { Command } from 'commander';
import { WorkflowExecutionAlreadyStartedError, WorkflowNotFoundError, type Client } from '@temporalio/client';
import { ACCESS_USER, accessLogin, parseAccessGrantId, parseGrantDuration } from '../../lib/access-grants';
import { normalizeDomain } from '../../lib/domain-input';
import { getSite } from '../../lib/site-registry';
import { siteNames } from '../../lib/site-names';
import { siteGroup } from '../../lib/contractor-portal';
import { mergedEnv, parseEnv, clientEnvSchema } from '../../lib/env';
import { parseSshTarget } from '../../lib/clients/ssh-client';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { accessGrantStateQuery, accessGrantWorkflow, extendAccessUpdate, revokeAccessUpdate, type AccessGrantState } from '../../workflows/access-grant';
import { action, globals, updateRefusal, UsageError } from '../output';
import { withServices } from '../services';
import { operatorName, withTemporal } from '../temporal';
import { waitOnWorker } from '../worker-option';

/** Whether `dir` is a folder this process may create files in. */
function writableFolder(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK | constants.X_OK);
    return statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

/** mysql_native_password's stored form: `*` and upper-case hex SHA1(SHA1(password)). Not enough to log in with. */
export function nativePasswordHash(password: string): string {
  const inner = createHash('sha1').update(password).digest();
  return `*${createHash('sha1').update(inner).digest('hex').toUpperCase()}`;
}

/** A new ed25519 key pair for the contractor (ssh-keygen; the private key never leaves this process but to the operator). */
function newKeyPair(): { privateKey: string; publicKey: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'drover-access-'));
  try {
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', '', '-f', path.join(dir, 'key')], { stdio: 'ignore' });
    return { privateKey: readFileSync(path.join(dir, 'key'), 'utf8'), publicKey: readFileSync(path.join(dir, 'key.pub'), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ') };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function readPublicKey(file: string): string {
  if (!existsSync(file)) throw new UsageError('--ssh-public-key', `${file} does not exist`);
  const parts = readFileSync(file, 'utf8').trim().split(/\s+/);
  const key = parts.slice(0, 2).join(' ');
  if (!/^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/.test(key)) throw new UsageError('--ssh-public-key', `${file} is not an OpenSSH public key`);
  return key;
}

function grantArgument(id: string): { site: string; user: string } {
  const g = parseAccessGrantId(id);
  if (!g) throw new UsageError('grant', `"${id}" is not a grant ID (access/<site>/<user>, as \`drover access list\` shows)`);
  return g;
}

/** An update the grant refused: exit 2 naming the field. A closed grant: its final state. */
const refusal = (err: unknown): never => updateRefusal(err, 'grant');

/**
 * Whether the grant runs, and how a closed one ended (its result, read without a worker: a query on a closed
 * workflow would need one), or null when no such grant ever ran (within the namespace's retention).
 */
async function grantState(client: Client, id: string): Promise<{ running: true } | { running: false; state: AccessGrantState | null; closedAs: string } | null> {
  const handle = client.workflow.getHandle<typeof accessGrantWorkflow>(id);
  try {
    const d = await handle.describe();
    if (d.status.name === 'RUNNING') return { running: true };
    return { running: false, state: d.status.name === 'COMPLETED' ? await handle.result() : null, closedAs: d.status.name.toLowerCase() };
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return null;
    throw err;
  }
}

function describeGrant(s: AccessGrantState): string {
  return `${s.grantId}  ${s.status}  ${s.kinds.join('+')}  login ${s.login}  ${s.status === 'revoked' ? `revoked ${s.revokedAt} (${s.revokedBy})` : `expires ${s.expiresAt}`}`;
}

export function accessCommand(): Command {
  const access = new Command('access').description('time-boxed contractor access to one site: a database user, an SFTP login, FileBrowser and Adminer, revoked when the time is up');

  access
    .command('grant')
    .description('give a contractor access to one site for a while (a durable timer revokes it); prints the credentials once')
    .requiredOption('--site <domain>', 'the site')
    .requiredOption('--user <name>', 'the contractor: lower-case letters and digits, starting with a letter, at most 16')
    .requiredOption('--for <duration>', 'how long: 7d, 12h, 30m, 90s, 2w (10 s to 90 days)')
    .option('--db', 'a database user with all privileges on the site\'s database only')
    .option('--sftp', 'an SFTP login chrooted to the site\'s directory (key only)')
    .option('--files', 'FileBrowser scoped to the site\'s directory (and Adminer to its database, with --db), through Authentik group membership')
    .option('--ssh-public-key <file>', 'the contractor\'s own public key for --sftp (default: a new key pair, its private key handed out once)')
    .option('--credentials-file <file>', 'write the credentials to this new file (mode 0600) instead of printing them')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        const d = normalizeDomain(String(opts.site));
        if (!d.ok) throw new UsageError('--site', d.problem);
        const site = d.domain;
        const user = String(opts.user);
        if (!ACCESS_USER.test(user)) throw new UsageError('--user', `"${user}" must be lower-case letters and digits, starting with a letter, at most 16 characters`);
        const duration = parseGrantDuration(String(opts.for));
        if (!duration.ok) throw new UsageError('--for', duration.problem);
        if (!opts.db && !opts.sftp && !opts.files) throw new UsageError('--db', 'give --db, --sftp, --files or several');
        if (opts.sshPublicKey && !opts.sftp) throw new UsageError('--ssh-public-key', 'only with --sftp');
        const credentialsFile = opts.credentialsFile ? path.resolve(String(opts.credentialsFile)) : null;
        if (credentialsFile && existsSync(credentialsFile)) throw new UsageError('--credentials-file', `${credentialsFile} exists; name a new file`);
        // Checked before the grant: a folder the file cannot be written in would leave a live grant whose credentials
        // were shown nowhere.
        if (credentialsFile && !writableFolder(path.dirname(credentialsFile))) throw new UsageError('--credentials-file', `${path.dirname(credentialsFile)} is not a folder this user can write in`);
        const publicKeyGiven = opts.sshPublicKey ? readPublicKey(String(opts.sshPublicKey)) : null;
        const record = await withServices(g.stateDir, (deps) => getSite(deps.galera, site));
        if (!record || record.status === 'deleted') throw new UsageError('--site', `unknown site ${site}`);

        const login = accessLogin(site, user);
        const password = opts.db ? randomBytes(24).toString('base64url') : null;
        const pair = opts.sftp && !publicKeyGiven ? newKeyPair() : null;
        const publicKey = publicKeyGiven ?? pair?.publicKey ?? null;
        const env = mergedEnv(g.stateDir);
        const operator = operatorName(parseEnv(clientEnvSchema, env).DROVER_OPERATOR);
        const workflowId = workflowIds.accessGrant(site, user);

        const state = await withTemporal(g.stateDir, (client) =>
          waitOnWorker(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(opts.worker), workflowId }, async () => {
            let handle;
            try {
              handle = await client.workflow.start(accessGrantWorkflow, {
                workflowId,
                taskQueue: TASK_QUEUES.infra,
                args: [{
                  site, user, login, operator, durationMs: duration.ms,
                  db: password ? { database: record.database, passwordHash: nativePasswordHash(password) } : null,
                  sftp: publicKey ? { siteRoot: siteNames(site).siteRoot, storageHost: record.storageHost, publicKey } : null,
                  ...(opts.files ? { files: true } : {}),
                }],
                memo: { user, login, kinds: [...(opts.db ? ['db'] : []), ...(opts.sftp ? ['sftp'] : []), ...(opts.files ? ['files'] : [])], expiresAt: new Date(Date.now() + duration.ms).toISOString() },
                typedSearchAttributes: siteSearchAttributes(site, 'access'),
              });
            } catch (err) {
              if (err instanceof WorkflowExecutionAlreadyStartedError) throw new UsageError('--user', `${user} already has a live grant on ${site} (${workflowId}): extend or revoke it`);
              throw err;
            }
            // Wait until the grant is in place (or has failed and been undone): only then are the credentials worth handing out.
            for (;;) {
              const s = await handle.query(accessGrantStateQuery).catch(() => null);
              if (s && s.status !== 'granting') return s;
              if ((await handle.describe()).status.name !== 'RUNNING') return handle.result(); // failed: throws its cause
              await new Promise((r) => setTimeout(r, 300));
            }
          }),
        );
        if (state.status !== 'active') throw new Error(`grant ${workflowId} ended ${state.status}${state.error ? `: ${state.error}` : ''}`);

        const sshTarget = record.storageHost ?? env.DROVER_SSH_TARGET ?? '';
        const sftpAt = sshTarget ? parseSshTarget(sshTarget) : null;
        const credentials = {
          grant: workflowId,
          site,
          expiresAt: state.expiresAt,
          ...(password ? { database: { database: record.database, user: login, password, host: env.DROVER_SITE_DB_HOST ?? 'database_proxysql:6033' } } : {}),
          ...(publicKey ? { sftp: { user: login, host: sftpAt?.host ?? null, port: sftpAt?.port ?? 22, ...(pair ? { privateKey: pair.privateKey } : { publicKey }) } } : {}),
          ...(opts.files ? { files: { authentikUser: login, authentikGroup: siteGroup(site), filebrowserScope: `/${site}/htdocs`, adminerDatabase: password ? record.database : null } } : {}),
        };
        const lines = [
          `granted ${workflowId} (login ${login}) until ${state.expiresAt}`,
          ...(credentials.database ? [`  database  ${credentials.database.database} on ${credentials.database.host}, user ${login}, password ${credentialsFile ? '(in the file)' : password}`] : []),
          ...(credentials.files ? [`  files     Authentik user ${login} (group ${credentials.files.authentikGroup}): FileBrowser in ${credentials.files.filebrowserScope}${credentials.files.adminerDatabase ? `, Adminer on ${credentials.files.adminerDatabase} as the database user` : ''}; its Authentik login is the operator's to hand over (docs/security.md)`] : []),
          ...(credentials.sftp ? [`  sftp      sftp -P ${credentials.sftp.port} ${login}@${credentials.sftp.host ?? '<storage node>'} (chrooted to ${site}; key ${pair ? (credentialsFile ? 'in the file' : 'below') : 'the one given'})`] : []),
        ];
        if (credentialsFile) {
          writeFileSync(credentialsFile, JSON.stringify(credentials, null, 2) + '\n', { mode: 0o600, flag: 'wx' });
          lines.push(`  credentials written to ${credentialsFile} (mode 0600); they are shown nowhere else`);
          return { ok: true, data: { grant: state, credentialsFile }, text: lines.join('\n') };
        }
        if (pair) lines.push(pair.privateKey.trimEnd());
        return { ok: true, data: { grant: state, credentials }, text: lines.join('\n') };
      }),
    );

  access
    .command('revoke')
    .description('end a grant now: its database user and SFTP login removed, their open sessions killed (idempotent)')
    .argument('<grant>', 'the grant ID (access/<site>/<user>)')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (opts, cmd, [id]) => {
        const g = globals(cmd);
        grantArgument(id);
        const operator = operatorName(parseEnv(clientEnvSchema, mergedEnv(g.stateDir)).DROVER_OPERATOR);
        const state = await withTemporal(g.stateDir, async (client) => {
          const known = await grantState(client, id);
          if (!known) throw new UsageError('grant', `no grant ${id}`);
          if (!known.running) {
            if (!known.state) throw new Error(`grant ${id} ended ${known.closedAs}: nothing left to revoke by Drover; check its history`);
            return known.state;
          }
          return waitOnWorker(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(opts.worker), workflowId: id }, () =>
            client.workflow.getHandle(id).executeUpdate(revokeAccessUpdate, { args: [{ operator }] }).catch(refusal),
          );
        });
        return { ok: true, data: { grant: state }, text: describeGrant(state) };
      }),
    );

  access
    .command('extend')
    .description('push a live grant\'s expiry back')
    .argument('<grant>', 'the grant ID (access/<site>/<user>)')
    .requiredOption('--for <duration>', 'how much longer: 1d, 12h, … (the grant may not run past 90 days from now)')
    .option('--worker', 'run a drover-infra worker in this process meanwhile')
    .action(
      action(async (opts, cmd, [id]) => {
        const g = globals(cmd);
        grantArgument(id);
        const duration = parseGrantDuration(String(opts.for));
        if (!duration.ok) throw new UsageError('--for', duration.problem);
        const operator = operatorName(parseEnv(clientEnvSchema, mergedEnv(g.stateDir)).DROVER_OPERATOR);
        const state = await withTemporal(g.stateDir, async (client) => {
          const known = await grantState(client, id);
          if (!known) throw new UsageError('grant', `no grant ${id}`);
          if (!known.running) throw new UsageError('grant', `${id} has ended (${known.state?.status ?? known.closedAs}); grant again`);
          return waitOnWorker(client, { stateDir: g.stateDir, queue: 'infra', worker: Boolean(opts.worker), workflowId: id }, () =>
            client.workflow.getHandle(id).executeUpdate(extendAccessUpdate, { args: [{ operator, byMs: duration.ms }] }).catch(refusal),
          );
        });
        return { ok: true, data: { grant: state }, text: describeGrant(state) };
      }),
    );

  access
    .command('list')
    .description('live grants and their expiry (from Temporal\'s visibility: no worker needed)')
    .option('--site <domain>', 'only this site')
    .action(
      action(async (opts, cmd) => {
        const g = globals(cmd);
        let site: string | null = null;
        if (opts.site !== undefined) {
          const d = normalizeDomain(String(opts.site));
          if (!d.ok) throw new UsageError('--site', d.problem);
          site = d.domain;
        }
        const grants = await withTemporal(g.stateDir, async (client) => {
          const out: { grant: string; site: string; user: string; login: string; kinds: string[]; expiresAt: string; startedAt: string }[] = [];
          const query = `WorkflowType = 'accessGrantWorkflow' AND ExecutionStatus = 'Running'${site ? ` AND DroverSite = '${site}'` : ''}`;
          for await (const w of client.workflow.list({ query })) {
            const memo = (w.memo ?? {}) as { user?: string; login?: string; kinds?: string[]; expiresAt?: string };
            const parsed = parseAccessGrantId(w.workflowId);
            out.push({ grant: w.workflowId, site: parsed?.site ?? '?', user: memo.user ?? parsed?.user ?? '?', login: memo.login ?? '?', kinds: memo.kinds ?? [], expiresAt: memo.expiresAt ?? '?', startedAt: w.startTime.toISOString() });
          }
          return out.sort((a, b) => a.expiresAt.localeCompare(b.expiresAt));
        });
        const text = grants.length ? grants.map((x) => `${x.grant}  ${x.kinds.join('+').padEnd(7)} login ${x.login}  expires ${x.expiresAt}`).join('\n') : 'no live grants';
        return { ok: true, data: { grants }, text };
      }),
    );
  return access;
}

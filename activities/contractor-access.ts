/**
 * A contractor's time-boxed access to one site (issue 17): a database user with privileges on that site's database
 * only (Galera, and ProxySQL's mysql_users where the farm has it), and an SFTP login chrooted to the site's root-owned directory on the storage node (OpenSSH, over
 * SSH as root). Every step looks first and is safe to run twice; every revocation is complete: the login is
 * removed first (no new sessions), then the sessions still open are killed (dropping a user ends none of them).
 *
 * No secret passes through here: the database user is created from its password's hash (mysql_native_password,
 * the password itself stays with the operator's CLI) and the SFTP login from the contractor's public key.
 */
import { cancellationSignal, Context } from '@temporalio/activity';
import type { RowDataPacket } from 'mysql2/promise';
import type { ActivityDeps } from '../lib/clients/deps';
import { classifyDatabaseError, failure } from '../lib/clients/errors';
import { parseSshTarget, withSsh } from '../lib/clients/ssh-client';
import { recordAuditEvent } from '../lib/audit';
import { SFTP_GROUP, SFTP_KEYS_DIR } from '../lib/access-grants';
import { contractorPortalFiles, PORTAL_SUBDIRS, type PortalGrant } from '../lib/contractor-portal';
import { SITES_ROOT } from '../lib/site-names';
import { shellQuote as q } from '../lib/shell-quote';
import { PHP_GID, PHP_UID } from './site-files';
import { faultPoint } from './lib/fault-points';

const LOGIN = /^c_[a-z][a-z0-9]{0,15}_[0-9a-f]{8}$/;
const DATABASE = /^[a-z0-9_]{1,64}$/;
const HASH = /^\*[0-9A-F]{40}$/;
const PUBLIC_KEY = /^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+={0,3}$/;
const ident = (name: string) => `\`${name.replace(/`/g, '``')}\``;

function checkLogin(login: string): void {
  if (!LOGIN.test(login)) throw failure('InvalidInput', `login: "${login}" is not a contractor login (c_<user>_<hash>)`);
}

function checkSiteRoot(siteRoot: string): void {
  const name = siteRoot.slice(SITES_ROOT.length + 1);
  if (!siteRoot.startsWith(`${SITES_ROOT}/`) || !/^[a-z0-9][a-z0-9.-]{0,252}$/.test(name) || name.includes('..')) throw failure('InvalidInput', `siteRoot: ${siteRoot} is not a site directory under ${SITES_ROOT}`);
}

export interface ContractorDbUserInput {
  login: string;
  database: string;
  /** mysql_native_password hash (`*` and 40 hex digits) of the password the operator's CLI generated. */
  passwordHash: string;
}

export interface SftpLoginInput {
  storageHost: string | null;
  login: string;
  siteRoot: string;
  /** The contractor's public key (`type base64`, no comment). */
  publicKey: string;
}

export interface AccessAuditInput {
  operator: string;
  /** accessGranted, accessExtended, accessRevoked. */
  operation: string;
  site: string;
  /** Orders a run's events (0 is the run's end, written by the audit interceptor): the row's identity with the run. */
  seq: number;
  detail: string;
}

/** The contractor stack's FileBrowser service (stack `contractor`): restarted to import its users again. */
export const FILEBROWSER_SERVICE = 'contractor_filebrowser';

/** A contractor's grant login in ProxySQL: a person with a client, not a site's PHP workers. */
export const CONTRACTOR_PROXYSQL_MAX_CONNECTIONS = 10;

export function createContractorAccessActivities({ galera, ssh, sftp, contractor, proxysql }: Pick<ActivityDeps, 'galera' | 'ssh' | 'sftp' | 'contractor'> & Partial<Pick<ActivityDeps, 'proxysql'>>) {
  const target = (storageHost: string | null) => (storageHost ? parseSshTarget(storageHost) : ssh.defaultTarget);
  const onStorage = (storageHost: string | null, script: string) =>
    withSsh(target(storageHost), ssh.options, (c) => c.exec('sh -s', { stdin: script, signal: cancellationSignal() }), cancellationSignal());

  async function writePortal(g: PortalGrant, state: 'present' | 'absent'): Promise<{ written: string[]; removedFiles: number; reloaded: boolean }> {
    let files;
    try {
      files = contractorPortalFiles(g, state);
    } catch (err) {
      throw failure('InvalidInput', (err as Error).message);
    }
    const dir = contractor.configDir;
    const lines = [
      'set -eu',
      `dir=${q(dir)}`,
      // Root-owned, world-readable: the containers read them; nothing in them is secret.
      `install -d -m 0755 "$dir" ${Object.values(PORTAL_SUBDIRS).map((d) => `"$dir"/${q(d)}`).join(' ')}`,
      'removed=0',
    ];
    const written: string[] = [];
    for (const f of [files.blueprint, files.filebrowser, files.adminer]) {
      if (f.content === null) {
        lines.push(`if [ -e "$dir"/${q(f.path)} ]; then rm -f "$dir"/${q(f.path)}; removed=$((removed + 1)); fi`);
      } else {
        written.push(f.path);
        lines.push(`umask 022; printf '%s' ${q(Buffer.from(f.content).toString('base64'))} | base64 -d > "$dir"/${q(f.path)}.tmp && mv -f "$dir"/${q(f.path)}.tmp "$dir"/${q(f.path)}`);
      }
    }
    // FileBrowser imports its users when it starts (configs/contractor/filebrowser-start.sh): restart it where the
    // manager runs the contractor stack; elsewhere (the local environment) there is nothing to restart.
    lines.push(
      'reloaded=0',
      `if command -v docker >/dev/null 2>&1 && docker service inspect ${FILEBROWSER_SERVICE} >/dev/null 2>&1; then docker service update --force --detach ${FILEBROWSER_SERVICE} >/dev/null; reloaded=1; fi`,
      'echo "$removed $reloaded"',
    );
    const r = await onStorage(null, lines.join('\n'));
    if (r.code !== 0) throw failure('RemoteCommandFailed', `contractor portal grant ${g.login}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
    const [removed, reloaded] = r.stdout.trim().split(/\s+/);
    return { written, removedFiles: Number(removed) || 0, reloaded: reloaded === '1' };
  }

  return {
    /**
     * Get-or-create the contractor's database user, with ALL privileges on the site's database and nothing else
     * (no global privilege, no GRANT OPTION). The password is set from its hash each time, so a retried step and a
     * step after a crash leave the same user.
     */
    async createContractorDbUser(input: ContractorDbUserInput): Promise<{ created: boolean }> {
      checkLogin(input.login);
      if (!DATABASE.test(input.database)) throw failure('InvalidInput', `database: "${input.database}" is not a site database name`);
      if (!HASH.test(input.passwordHash)) throw failure('InvalidInput', 'passwordHash: not a mysql_native_password hash');
      const node = await galera.writerNode();
      const db = await galera.query<RowDataPacket[]>(node, 'SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [input.database]);
      if (!db.length) throw failure('InvalidInput', `database: ${input.database} does not exist`);
      const before = await galera.query<RowDataPacket[]>(node, "SELECT User FROM mysql.user WHERE User = ? AND Host = '%'", [input.login]);
      try {
        await galera.pool(node).query('CREATE USER IF NOT EXISTS ?@? IDENTIFIED BY PASSWORD ?', [input.login, '%', input.passwordHash]);
        await galera.pool(node).query('ALTER USER ?@? IDENTIFIED BY PASSWORD ?', [input.login, '%', input.passwordHash]);
      } catch (err) {
        // The statement carries the hash: the error's code only.
        throw classifyDatabaseError(err, node.name, { doing: `creating contractor user ${input.login}`, codeOnly: true });
      }
      faultPoint('access-after-db-user');
      await galera.query(node, `GRANT ALL PRIVILEGES ON ${ident(input.database)}.* TO ?@?`, [input.login, '%']);
      // Where the farm routes clients through ProxySQL (the credentials name DROVER_SITE_DB_HOST): the same login
      // and hash in every instance's mysql_users, as issue 14 does for site users.
      if (proxysql) {
        try {
          await proxysql.ensureUser(input.login, input.passwordHash, { maxConnections: CONTRACTOR_PROXYSQL_MAX_CONNECTIONS });
        } catch (err) {
          throw failure('DatabaseUnavailable', `ProxySQL admin: adding contractor user ${input.login} failed: ${String((err as Error).message).split(input.passwordHash).join('********').slice(0, 200)}`);
        }
      }
      return { created: !before.length };
    },

    /**
     * Removes the contractor's database user (idempotent), then kills its connections on every Galera node (each
     * node lists only its own). A node that refuses connections has none; any other error is retried.
     */
    async revokeContractorDbUser(input: { login: string }): Promise<{ droppedUser: boolean; killedConnections: number }> {
      checkLogin(input.login);
      // ProxySQL first (no new session through it), where the farm has it; then Galera.
      if (proxysql) {
        await proxysql.removeUser(input.login).catch((err: unknown) => Promise.reject(failure('DatabaseUnavailable', `ProxySQL admin: removing contractor user ${input.login} failed: ${String((err as Error).message).slice(0, 200)}`)));
      }
      const node = await galera.writerNode();
      const before = await galera.query<RowDataPacket[]>(node, "SELECT User FROM mysql.user WHERE User = ? AND Host = '%'", [input.login]);
      await galera.query(node, 'DROP USER IF EXISTS ?@?', [input.login, '%']);
      let killed = 0;
      for (const n of galera.nodes) {
        let rows: RowDataPacket[];
        try {
          rows = await galera.query<RowDataPacket[]>(n, 'SELECT ID FROM information_schema.PROCESSLIST WHERE USER = ?', [input.login]);
        } catch (err) {
          if (/ECONNREFUSED/.test(`${(err as { code?: string }).code} ${(err as Error).message}`)) continue;
          throw err;
        }
        for (const r of rows) {
          try {
            await galera.query(n, `KILL CONNECTION ${Number(r.ID)}`);
            killed += 1;
          } catch (err) {
            // ER_NO_SUCH_THREAD: it ended meanwhile.
            if ((err as { errno?: number }).errno !== 1094) throw err;
          }
        }
      }
      return { droppedUser: before.length > 0, killedConnections: killed };
    },

    /**
     * Get-or-create the contractor's SFTP login on the storage node: a system user sharing the PHP user's uid (the
     * files it writes belong to the site like WordPress's own), in SFTP_GROUP, its home the site's directory, no
     * password, its key in SFTP_KEYS_DIR. Refused (and undone) when a component of the chroot is not root-owned or
     * is group/other-writable, or when the effective sshd configuration would not chroot and confine this login.
     */
    async createSftpLogin(input: SftpLoginInput): Promise<{ created: boolean }> {
      checkLogin(input.login);
      checkSiteRoot(input.siteRoot);
      if (!PUBLIC_KEY.test(input.publicKey)) throw failure('InvalidInput', 'publicKey: not an OpenSSH public key (type and base64, no comment)');
      const keyFile = `${SFTP_KEYS_DIR}/${input.login}`;
      const script = [
        'set -eu',
        `login=${q(input.login)}; root=${q(input.siteRoot)}; keyfile=${q(keyFile)}`,
        '[ -d "$root/htdocs" ] || { echo "no-site-directory: $root/htdocs does not exist" >&2; exit 3; }',
        // OpenSSH's rule for a chroot, checked here so the refusal names the directory: every component root-owned, not group/other-writable.
        'p="$root"; while :; do set -- $(stat -c "%u %a" "$p"); if [ "$1" != 0 ] || [ $(( 0$2 & 022 )) -ne 0 ]; then echo "unsafe-chroot: $p is owned by uid $1 with mode $2" >&2; exit 4; fi; [ "$p" = / ] && break; p=$(dirname "$p"); done',
        `getent group ${SFTP_GROUP} >/dev/null || groupadd --system ${SFTP_GROUP}`,
        'created=0',
        'if getent passwd "$login" >/dev/null; then',
        '  [ "$(getent passwd "$login" | cut -d: -f6)" = "$root" ] || { echo "login-elsewhere: $login exists with another home" >&2; exit 5; }',
        'else',
        `  useradd --non-unique --uid ${PHP_UID} --gid ${PHP_GID} --groups ${SFTP_GROUP} --home-dir "$root" --no-create-home --shell /usr/sbin/nologin --password '*' "$login" 2>/dev/null`,
        '  created=1',
        'fi',
        `install -d -o root -g root -m 0755 ${q(SFTP_KEYS_DIR.replace(/\/[^/]+$/, ''))} ${q(SFTP_KEYS_DIR)}`,
        `umask 022; printf '%s drover-grant\\n' ${q(input.publicKey)} > "$keyfile.tmp"; mv -f "$keyfile.tmp" "$keyfile"`,
        // The effective configuration for this login: chrooted to its home, internal-sftp only.
        `eff=$(sshd -T -f ${q(sftp.sshdConfig)} -C "user=$login,host=drover-grant-check,addr=127.0.0.1")`,
        'echo "$eff" | grep -qx "chrootdirectory %h" && echo "$eff" | grep -q "^forcecommand internal-sftp" || { rm -f "$keyfile"; userdel -f "$login" 2>/dev/null || true; echo "not-confined: sshd does not chroot members of the sftp group (see SFTP_SSHD_MATCH_BLOCK)" >&2; exit 6; }',
        'echo "$created"',
      ].join('\n');
      const r = await onStorage(input.storageHost, script);
      if (r.code >= 3 && r.code <= 6) throw failure('InvalidInput', `sftp login ${input.login}: ${r.stderr.trim().split('\n').at(-1)}`);
      if (r.code !== 0) throw failure('RemoteCommandFailed', `sftp login ${input.login}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      faultPoint('access-after-sftp-login');
      return { created: r.stdout.trim() === '1' };
    },

    /**
     * Removes the SFTP login (its key first, so no new session can start, then the user; the site's directory
     * stays) and kills its open sessions: sshd names each session's processes after the login (`sshd: <login>
     * [priv]`, `sshd: <login>@internal-sftp`). Idempotent.
     */
    async revokeSftpLogin(input: { storageHost: string | null; login: string }): Promise<{ removedLogin: boolean; killedSessions: number }> {
      checkLogin(input.login);
      const script = [
        'set -eu',
        `login=${q(input.login)}`,
        `rm -f ${q(`${SFTP_KEYS_DIR}/${input.login}`)}`,
        'removed=0',
        'if getent passwd "$login" >/dev/null; then userdel -f "$login"; removed=1; fi',
        'pattern="^sshd(-session)?: $login( |@|\\$)"',
        'killed=$(pgrep -c -f "$pattern" || true)',
        'pkill -KILL -f "$pattern" || true',
        'echo "$removed ${killed:-0}"',
      ].join('\n');
      const r = await onStorage(input.storageHost, script);
      if (r.code !== 0) throw failure('RemoteCommandFailed', `revoking sftp login ${input.login}: exit ${r.code}: ${r.stderr.trim().split('\n').slice(-3).join(' | ')}`);
      const [removed, killed] = r.stdout.trim().split(/\s+/);
      return { removedLogin: removed === '1', killedSessions: Number(killed) || 0 };
    },

    /**
     * Writes a grant's FileBrowser/Adminer access into the contractor stack's configuration on the manager
     * (lib/contractor-portal.ts): the Authentik blueprint (group `site:<domain>`, the grant's user a member), the
     * FileBrowser user scoped to the site's directory, Adminer's allowed database (with `--db`). Each file is
     * replaced whole (write, then rename), so running it twice leaves the same files. FileBrowser reads its users
     * when it starts: its service is restarted where the manager runs it (`reloaded`).
     */
    async writeContractorPortalGrant(input: PortalGrant): Promise<{ written: string[]; reloaded: boolean }> {
      checkLogin(input.login);
      return writePortal(input, 'present');
    },

    /**
     * Undoes writeContractorPortalGrant (idempotent): the blueprint rewritten with the user absent (Authentik
     * deletes it, ending its membership; deleting the file would leave the user), the FileBrowser and Adminer files
     * removed, FileBrowser restarted where it runs. `removed`: whether a FileBrowser or Adminer file was still there.
     */
    async removeContractorPortalGrant(input: PortalGrant): Promise<{ removed: boolean; reloaded: boolean }> {
      checkLogin(input.login);
      const r = await writePortal(input, 'absent');
      return { removed: r.removedFiles > 0, reloaded: r.reloaded };
    },

    /** One audit row for a step of a grant (granted, extended, revoked): written once per run and `seq`. */
    async recordAccessEvent(input: AccessAuditInput): Promise<void> {
      const run = Context.current().info.workflowExecution;
      if (!run) throw failure('InvalidInput', 'recordAccessEvent runs only inside a grant workflow');
      const { workflowId, runId } = run;
      await recordAuditEvent(galera, {
        at: new Date(),
        operator: input.operator,
        operation: input.operation,
        site: input.site,
        outcome: 'completed',
        failureType: null,
        workflowId,
        runId,
        seq: input.seq,
        detail: input.detail,
      });
    },
  };
}

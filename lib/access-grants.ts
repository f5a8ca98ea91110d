/**
 * Contractor access grants (issue 17): the names, limits and durations both the CLI and the grant workflow use.
 * Pure (no Node built-ins): `workflows/access-grant.ts` imports it inside the sandbox.
 *
 * A grant gives one contractor (`--user`) access to one site for a bounded time: a database user with privileges
 * on that site's database only, and an SFTP login chrooted to that site's root-owned directory on the storage
 * node. Both logins share one name, derived here from the user and the site (`c_<user>_<fnv1a32(site)>`, ≤ 27
 * characters: MariaDB and Linux user names both allow 32), so the same contractor on two sites has two logins.
 */
import { fnv1a32 } from './hash';
import { domainProblem } from './site-names';

/** A contractor's name: lower-case letters and digits, starting with a letter, at most 16 (no shell or SQL metacharacters). */
export const ACCESS_USER = /^[a-z][a-z0-9]{0,15}$/;
/** A grant's login (accessLogin): `c_<user>_<fnv1a32(site)>`. */
export const ACCESS_LOGIN = /^c_[a-z][a-z0-9]{0,15}_[0-9a-f]{8}$/;
/** The shortest grant: long enough for a test, short enough to be useless to anyone else. */
export const MIN_GRANT_MS = 10_000;
/** The longest grant (and the longest a grant may run after an extension): 90 days; beyond that, grant again. */
export const MAX_GRANT_MS = 90 * 24 * 3600_000;
/** The OpenSSH group whose members sshd chroots and confines to internal-sftp (SFTP_SSHD_MATCH_BLOCK). */
export const SFTP_GROUP = 'drover-sftp';
/** Root-owned directory of the contractors' authorized keys on the storage node (outside every chroot). */
export const SFTP_KEYS_DIR = '/etc/drover/sftp-keys';

/**
 * What the storage node's sshd_config must end with (an `Include`d file or the main file's last lines): members of
 * SFTP_GROUP are chrooted to their home (the site's root-owned directory), may only run internal-sftp, log in by
 * key only from SFTP_KEYS_DIR, and forward nothing. The grant checks the effective configuration (`sshd -T`) for
 * the login it creates and refuses to hand out a login sshd would not confine.
 */
export const SFTP_SSHD_MATCH_BLOCK = [
  `Match Group ${SFTP_GROUP}`,
  '  ChrootDirectory %h',
  '  ForceCommand internal-sftp -u 0002 -l INFO -f AUTH',
  `  AuthorizedKeysFile ${SFTP_KEYS_DIR}/%u`,
  '  PasswordAuthentication no',
  '  KbdInteractiveAuthentication no',
  '  AllowTcpForwarding no',
  '  AllowStreamLocalForwarding no',
  '  AllowAgentForwarding no',
  '  X11Forwarding no',
  '  PermitTunnel no',
  '  PermitTTY no',
  '',
].join('\n');

export type AccessKind = 'db' | 'sftp' | 'files';

/** The site and user of a grant ID (workflowIds.accessGrant), or null when it is not one. */
export function parseAccessGrantId(id: string): { site: string; user: string } | null {
  const m = /^access\/([a-z0-9.-]{1,253})\/([a-z][a-z0-9]{0,15})$/.exec(id);
  return m && domainProblem(m[1]) === null ? { site: m[1], user: m[2] } : null;
}

/** The login name (database user and SFTP user) of a contractor on a site. */
export function accessLogin(site: string, user: string): string {
  if (!ACCESS_USER.test(user)) throw new Error(`user ${JSON.stringify(user)}: not a contractor name`);
  return `c_${user}_${fnv1a32(site)}`;
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3600_000, d: 86_400_000, w: 7 * 86_400_000 };

/** A duration such as `7d`, `12h`, `30m`, `90s`, `2w` in milliseconds, or why it is not one a grant may have. */
export function parseGrantDuration(text: string): { ok: true; ms: number } | { ok: false; problem: string } {
  const m = /^(\d{1,7})([smhdw])$/.exec(text.trim());
  if (!m) return { ok: false, problem: `"${text}" is not a duration: a positive whole number and a unit s, m, h, d or w (e.g. 7d, 12h)` };
  const ms = Number(m[1]) * UNIT_MS[m[2]];
  if (ms <= 0) return { ok: false, problem: `"${text}" is zero: a grant lasts at least ${MIN_GRANT_MS / 1000} s` };
  if (ms < MIN_GRANT_MS) return { ok: false, problem: `"${text}" is shorter than ${MIN_GRANT_MS / 1000} s` };
  if (ms > MAX_GRANT_MS) return { ok: false, problem: `"${text}" is longer than 90 days: grant again when the time is up` };
  return { ok: true, ms };
}

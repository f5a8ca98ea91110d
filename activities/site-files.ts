/**
 * A created site's files on the storage tier, over SSH to the storage node: a root-owned per-site directory (so a
 * contractor's SFTP chroot can be set on it later: OpenSSH requires every component of a chroot to be root-owned
 * and not group- or world-writable) holding the docroot, owned by the PHP user and not readable by others.
 */
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from '../lib/clients/deps';
import { failure } from '../lib/clients/errors';
import { parseSshTarget, withSsh } from '../lib/clients/ssh-client';
import { SITES_ROOT } from '../lib/site-names';
import { faultPoint } from './lib/fault-points';

/** The PHP user of the WordPress image (Debian's www-data). */
export const PHP_UID = 33;
export const PHP_GID = 33;

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

/** Only a site directory Drover derived (directly under SITES_ROOT, a domain's characters) is ever touched. */
function checkSiteRoot(siteRoot: string, docroot?: string): void {
  const name = siteRoot.slice(SITES_ROOT.length + 1);
  if (!siteRoot.startsWith(`${SITES_ROOT}/`) || !/^[a-z0-9][a-z0-9.-]{0,252}$/.test(name) || name.includes('..')) throw failure('InvalidInput', `siteRoot: ${siteRoot} is not a site directory under ${SITES_ROOT}`);
  if (docroot !== undefined && docroot !== `${siteRoot}/htdocs`) throw failure('InvalidInput', `docroot: ${docroot} is not ${siteRoot}/htdocs`);
}

export function createSiteFilesActivities({ ssh }: Pick<ActivityDeps, 'ssh'>) {
  const target = (storageHost: string | null) => (storageHost ? parseSshTarget(storageHost) : ssh.defaultTarget);
  return {
    /** Get-or-create the site's directory (root:root 0755) and docroot (www-data, 0750); fixes owners and modes if they drifted. */
    async ensureSiteFiles(input: { storageHost: string | null; siteRoot: string; docroot: string }): Promise<{ created: boolean }> {
      checkSiteRoot(input.siteRoot, input.docroot);
      const script = [
        'set -eu',
        `created=0; [ -d ${q(input.docroot)} ] || created=1`,
        `install -d -o root -g root -m 0755 ${q(SITES_ROOT)} ${q(input.siteRoot)}`,
        `install -d -o ${PHP_UID} -g ${PHP_GID} -m 0750 ${q(input.docroot)}`,
        'echo "$created"',
      ].join('\n');
      const r = await withSsh(target(input.storageHost), ssh.options, (c) => c.execOrThrow('sh -s', { stdin: script, signal: cancellationSignal() }), cancellationSignal());
      faultPoint('site-create-after-files');
      return { created: r.stdout.trim() === '1' };
    },

    /** Removes the site's directory and everything in it (idempotent). */
    async removeSiteFiles(input: { storageHost: string | null; siteRoot: string }): Promise<{ removed: boolean }> {
      checkSiteRoot(input.siteRoot);
      const script = `set -eu\nif [ -e ${q(input.siteRoot)} ]; then rm -rf --one-file-system ${q(input.siteRoot)}; echo 1; else echo 0; fi\n`;
      const r = await withSsh(target(input.storageHost), ssh.options, (c) => c.execOrThrow('sh -s', { stdin: script, signal: cancellationSignal() }), cancellationSignal());
      return { removed: r.stdout.trim() === '1' };
    },
  };
}

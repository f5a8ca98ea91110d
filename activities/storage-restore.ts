/**
 * Restore activities on a storage node over SSH: a restore point's files are extracted into a staging folder
 * beside the docroot, then swapped in by two renames (the live folder to `<path>.drover-previous`, staging to the
 * live path), so a failed extract never touches the live files and the swap can be undone.
 */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { siteOwning } from '../lib/site-registry';
import type { ActivityDeps } from './deps';
import { decryptObjectTo, verifyObject } from './lib/encrypted-download';
import { failure } from './lib/errors';
import { parseSshTarget, withSsh } from './lib/ssh-client';

export const STAGING_SUFFIX = '.drover-staging';
export const PREVIOUS_SUFFIX = '.drover-previous';

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function checkPath(p: string): string {
  if (!/^\/[^\0]*[^/]$/.test(p) || p.split('/').length < 3) throw failure('InvalidInput', `refusing to work on "${p}": an absolute path at least two levels deep is required`);
  return p;
}

export function createStorageRestoreActivities({ ssh, s3, bucket, backup, galera }: Pick<ActivityDeps, 'ssh' | 's3' | 'bucket' | 'backup' | 'galera'>) {
  const target = (host: string | null) => (host ? parseSshTarget(host) : ssh.defaultTarget);

  return {
    /** Verifies the archive's SHA-256, then streams it decrypted into `tar -x` in `<livePath>.drover-staging`. */
    async extractFilesToStaging(input: { key: string; sha256: string; storageHost: string | null; livePath: string }): Promise<{ bytes: number; files: number }> {
      if (!backup.identityFile) throw failure('ConfigMissing', 'this worker has no backup identity (DROVER_BACKUP_AGE_IDENTITY_FILE): restores run on restore workers');
      const staging = checkPath(input.livePath) + STAGING_SUFFIX;
      heartbeat({ phase: 'verify' });
      const { bytes } = await verifyObject(s3, bucket, input.key, input.sha256, cancellationSignal());
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        await c.execOrThrow(`rm -rf ${q(staging)} && mkdir -p ${q(staging)}`);
        heartbeat({ phase: 'extract' });
        const tar = await c.execWithStdin(`tar -C ${q(staging)} --numeric-owner -xf -`);
        await decryptObjectTo({ s3, bucket, key: input.key, identityFile: backup.identityFile!, sink: tar.stdin, sinkExit: tar.exit, signal: cancellationSignal() });
        const count = await c.execOrThrow(`find ${q(staging)} -type f | wc -l`);
        return { bytes, files: Number(count.stdout.trim()) };
      });
    },

    /** Swaps staging in. Idempotent: once staging is gone and the previous folder exists, it does nothing. */
    async swapFiles(input: { storageHost: string | null; livePath: string }): Promise<{ swapped: boolean }> {
      const live = checkPath(input.livePath);
      const [staging, previous] = [live + STAGING_SUFFIX, live + PREVIOUS_SUFFIX];
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        const r = await c.execOrThrow(
          `if [ ! -d ${q(staging)} ]; then echo noop; exit 0; fi; rm -rf ${q(previous)}; if [ -e ${q(live)} ]; then mv ${q(live)} ${q(previous)}; fi; mv ${q(staging)} ${q(live)}; echo swapped`,
        );
        return { swapped: r.stdout.trim() === 'swapped' };
      });
    },

    /** Undoes swapFiles: the previous folder becomes live again. */
    async undoFilesSwap(input: { storageHost: string | null; livePath: string }): Promise<{ restored: boolean }> {
      const live = checkPath(input.livePath);
      const previous = live + PREVIOUS_SUFFIX;
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        const r = await c.execOrThrow(`if [ ! -d ${q(previous)} ]; then echo noop; exit 0; fi; rm -rf ${q(live + '.drover-undo')}; if [ -e ${q(live)} ]; then mv ${q(live)} ${q(live + '.drover-undo')}; fi; mv ${q(previous)} ${q(live)}; rm -rf ${q(live + '.drover-undo')}; echo restored`);
        return { restored: r.stdout.trim() === 'restored' };
      });
    },

    /** After a restore: the docroot holds a WordPress install (wp-config.php and wp-includes/version.php). */
    async checkSiteFiles(input: { storageHost: string | null; livePath: string }): Promise<{ wordpressVersion: string | null }> {
      const live = checkPath(input.livePath);
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        const r = await c.exec(`test -f ${q(live + '/wp-config.php')} && sed -n "s/^\\$wp_version = '\\(.*\\)';/\\1/p" ${q(live + '/wp-includes/version.php')}`);
        if (r.code !== 0) throw failure('RestoreVerificationFailed', `${live} has no wp-config.php: not a WordPress docroot`);
        return { wordpressVersion: r.stdout.trim() || null };
      });
    },

    /** Removes a side-by-side copy's docroot (drill scratch copies); never a registered site's. Idempotent. */
    async removeRestoredCopy(input: { storageHost: string | null; path: string }): Promise<{ removed: boolean }> {
      const p = checkPath(input.path);
      const owner = await siteOwning(galera, { filesPath: p });
      if (owner) throw failure('InvalidInput', `refusing to remove ${p}: it is the docroot of site ${owner}`);
      await withSsh(target(input.storageHost), ssh.options, (c) => c.execOrThrow(`rm -rf ${q(p)} ${q(p + STAGING_SUFFIX)} ${q(p + PREVIOUS_SUFFIX)}`));
      return { removed: true };
    },

    /** Removes a restore's staging or previous folder (only those: the suffix is required). */
    async removeRestoreLeftovers(input: { storageHost: string | null; livePath: string; which: 'staging' | 'previous' }): Promise<{ removed: boolean }> {
      const p = checkPath(input.livePath) + (input.which === 'staging' ? STAGING_SUFFIX : PREVIOUS_SUFFIX);
      await withSsh(target(input.storageHost), ssh.options, (c) => c.execOrThrow(`rm -rf ${q(p)}`));
      return { removed: true };
    },
  };
}

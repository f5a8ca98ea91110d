/** Backup activities that read site files from a storage node over SSH: a tar stream, encrypted, into Spaces. */
import { cancellationSignal, heartbeat } from '@temporalio/activity';
import { objectKey, type ManifestObject } from '../lib/backup-layout';
import type { ActivityDeps } from './deps';
import { uploadEncrypted } from './lib/encrypted-upload';
import { failure } from './lib/errors';
import { formatSshTarget, parseSshTarget, SshClient } from './lib/ssh-client';

export interface ArchiveFilesInput {
  site: string;
  date: string;
  filesPath: string;
  /** user@host[:port]; the worker's default target when null. */
  storageHost: string | null;
}

export interface ArchiveFilesResult extends ManifestObject {
  storageHost: string;
  wordpressVersion: string | null;
  durationMs: number;
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export function createStorageArchiveActivities({ ssh, s3, bucket, backup }: Pick<ActivityDeps, 'ssh' | 's3' | 'bucket' | 'backup'>) {
  return {
    /**
     * Streams the site's docroot as a tar from its storage node (`tar -C <path> -cf - .` over SSH) through zstd
     * and age into a multipart upload. Reads the WordPress version from wp-includes/version.php on the way.
     */
    async archiveSiteFilesToSpaces(input: ArchiveFilesInput): Promise<ArchiveFilesResult> {
      const started = Date.now();
      const target = input.storageHost ? parseSshTarget(input.storageHost) : ssh.defaultTarget;
      const client = await SshClient.connect(target, ssh.options, cancellationSignal());
      try {
        const dir = shellQuote(input.filesPath);
        const probe = await client.exec(`test -d ${dir} && (sed -n "s/^\\$wp_version = '\\(.*\\)';/\\1/p" ${dir}/wp-includes/version.php 2>/dev/null || true)`);
        if (probe.code !== 0) throw failure('InvalidInput', `files of site ${input.site} not found: ${input.filesPath} is not a directory on ${formatSshTarget(target)}`);
        const { stdout, exit } = await client.execStream(`tar -C ${dir} --numeric-owner -cf - .`);
        const uploaded = await uploadEncrypted({
          s3,
          bucket,
          key: objectKey(input.site, input.date, 'files'),
          source: stdout,
          sourceExit: exit,
          recipients: backup.recipients,
          signal: cancellationSignal(),
          onProgress: (plainBytes) => heartbeat({ phase: 'files', plainBytes }),
        });
        return { ...uploaded, storageHost: formatSshTarget(target), wordpressVersion: probe.stdout.trim() || null, durationMs: Date.now() - started };
      } finally {
        client.close();
      }
    },
  };
}

/**
 * Backup activities that read site files from a storage node over SSH: a tar stream, encrypted, into Spaces;
 * deduplicated against the site's earlier points when the worker has a dedup key (activities/lib/dedup-files.ts).
 */
import { activityInfo, cancellationSignal, heartbeat } from '@temporalio/activity';
import { acquireWorkLease, releaseLease, renewLease, WORK_LEASE_TTL_MS } from '../lib/backup-leases';
import { archiveDeduplicated } from './lib/dedup-files';
import { objectKey, type ManifestObject } from '../lib/backup-layout';
import type { ActivityDeps } from '../lib/clients/deps';
import { uploadEncryptedWithHeartbeat } from './lib/encrypted-upload';
import { failure } from '../lib/clients/errors';
import { withHeartbeat } from './lib/heartbeat';
import { formatSshTarget, parseSshTarget, SshClient } from '../lib/clients/ssh-client';
import { shellQuote } from '../lib/shell-quote';

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
  /** Deduplicated points: what this night stored (new packs and the index) and how many pieces it reused. */
  dedup?: { storedBytes: number; newPacks: number; newPieces: number; reusedPieces: number; entries: number };
}

export function createStorageArchiveActivities({ ssh, s3, bucket, backup, galera }: Pick<ActivityDeps, 'ssh' | 's3' | 'bucket' | 'backup' | 'galera'>) {
  return {
    /**
     * Streams the site's docroot as a tar from its storage node (`tar -C <path> -cf - .` over SSH) through zstd
     * and age into a multipart upload. Reads the WordPress version from wp-includes/version.php on the way. With
     * a dedup key, the tar is stored deduplicated instead (under a night lease: see lib/backup-leases.ts).
     */
    async archiveSiteFilesToSpaces(input: ArchiveFilesInput): Promise<ArchiveFilesResult> {
      const started = Date.now();
      const target = input.storageHost ? parseSshTarget(input.storageHost) : ssh.defaultTarget;
      const client = await SshClient.connect(target, ssh.options, cancellationSignal());
      // On progress (bytes read) and, while a remote command shows none (the probe, a slow disk), on a timer.
      const progress = { plainBytes: 0 };
      try {
        return await withHeartbeat(() => ({ phase: 'files', plainBytes: progress.plainBytes }), () => archive());
      } finally {
        client.close();
      }
      async function archive(): Promise<ArchiveFilesResult> {
        const dir = shellQuote(input.filesPath);
        const probe = await client.exec(`test -d ${dir} && (sed -n "s/^\\$wp_version = '\\(.*\\)';/\\1/p" ${dir}/wp-includes/version.php 2>/dev/null || true)`);
        if (probe.code !== 0) throw failure('InvalidInput', `files of site ${input.site} not found: ${input.filesPath} is not a directory on ${formatSshTarget(target)}`);
        const tarCommand = `tar -C ${dir} --numeric-owner -cf - .`;
        const found = { storageHost: formatSshTarget(target), wordpressVersion: probe.stdout.trim() || null };
        if (backup.dedupKey) {
          const { key, bytes, sha256, plainBytes, firstByteAt, finishedAt, ...dedup } = await archiveDedup(tarCommand);
          return { key, bytes, sha256, plainBytes, firstByteAt, finishedAt, ...found, durationMs: Date.now() - started, dedup };
        }
        const { stdout, exit } = await client.execStream(tarCommand);
        const uploaded = await uploadEncryptedWithHeartbeat({ s3, bucket, key: objectKey(input.site, input.date, 'files'), source: stdout, sourceExit: exit, recipients: backup.recipients }, 'files', progress);
        return { ...uploaded, ...found, durationMs: Date.now() - started };
      }
      async function archiveDedup(tarCommand: string) {
        // The lease first: a collection of the site's packs never runs while this night may refer to them.
        const lease = await acquireWorkLease(galera, input.site, 'night', `${activityInfo().workflowExecution?.workflowId ?? activityInfo().activityId} attempt ${activityInfo().attempt}`);
        // Renewed on a timer, not on progress: an unchanged site is read for minutes without storing a pack.
        const renewing = setInterval(() => void renewLease(galera, lease, WORK_LEASE_TTL_MS).catch(() => undefined), 60_000);
        try {
          const { stdout, exit } = await client.execStream(tarCommand);
          return await archiveDeduplicated({
            s3,
            bucket,
            site: input.site,
            point: input.date,
            recipients: backup.recipients,
            macKey: backup.dedupKey!,
            source: stdout,
            sourceExit: exit,
            signal: cancellationSignal(),
            onProgress: (plainBytes) => {
              progress.plainBytes = plainBytes;
              heartbeat({ phase: 'files', plainBytes });
            },
          });
        } finally {
          clearInterval(renewing);
          await releaseLease(galera, lease).catch(() => undefined);
        }
      }
    },
  };
}

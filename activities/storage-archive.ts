/**
 * Backup activities that read site files from a storage node over SSH: a tar stream, encrypted, into Spaces;
 * deduplicated against the site's earlier points when the worker has a dedup key (activities/lib/dedup-files.ts).
 */
import { activityInfo, cancellationSignal } from '@temporalio/activity';
import { acquireWorkLease, releaseLease, renewLease, WORK_LEASE_TTL_MS } from '../lib/backup-leases';
import { archiveDeduplicated } from './lib/dedup-files';
import { objectKey, type ManifestObject } from '../lib/backup-layout';
import type { ActivityDeps } from '../lib/clients/deps';
import { uploadEncryptedInActivity } from './lib/encrypted-upload';
import { failure } from '../lib/clients/errors';
import { withHeartbeat, withProgressWatch } from './lib/heartbeat';
import { formatSshTarget, parseSshTarget, SshClient } from '../lib/clients/ssh-client';
import { shellQuote } from '../lib/shell-quote';
import { wordpressVersionCommand } from '../lib/wp-version-shell';
import type { Readable } from 'node:stream';

/** The archive command's exit code when the files path is not a directory (nothing was read). */
const NO_FILES_DIRECTORY = 66;
const VERSION_LINE = 'drover-wp-version: ';

/**
 * The one remote command that reads a site's files: exits NO_FILES_DIRECTORY when the path is not a directory;
 * else writes the docroot as a tar to stdout, then the WordPress version (wp-includes/version.php's
 * `$wp_version`; empty when none) to stderr as a `drover-wp-version:` line, and exits with tar's code. The line
 * comes last so that it is in the stderr the SSH client keeps (its first and last 8 KiB) whatever a login shell's
 * rc files or tar's warnings wrote before it, and it is always written, so the last such line is the command's own
 * (a tar warning naming a file called `drover-wp-version: 9.9` comes before it).
 */
export function filesArchiveCommand(filesPath: string): string {
  const dir = shellQuote(filesPath);
  return (
    `test -d ${dir} || exit ${NO_FILES_DIRECTORY}; ` +
    `tar -C ${dir} --numeric-owner -cf - .; drover_rc=$?; ` +
    `printf '${VERSION_LINE}%s\\n' "$(${wordpressVersionCommand(filesPath)})" >&2; ` +
    `exit $drover_rc`
  );
}

/** The WordPress version the archive command wrote to stderr; null when the docroot has none. */
export function wordpressVersionOf(stderr: string): string | null {
  // The last such line (the command always writes it, last). Not anchored to a line's start: what came before it
  // may not have ended its line.
  const at = stderr.lastIndexOf(VERSION_LINE);
  return at < 0 ? null : stderr.slice(at + VERSION_LINE.length).split('\n')[0].trim() || null;
}

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

export function createStorageArchiveActivities({ ssh, s3, bucket, backup, galera, stepStallMs }: Pick<ActivityDeps, 'ssh' | 's3' | 'bucket' | 'backup' | 'galera' | 'stepStallMs'>) {
  return {
    /**
     * Streams the site's docroot as a tar from its storage node (`tar -C <path> -cf - .` over SSH) through zstd
     * and age into a multipart upload. Reads the WordPress version from wp-includes/version.php after the tar. With
     * a dedup key, the tar is stored deduplicated instead (under a night lease: see lib/backup-leases.ts).
     */
    async archiveSiteFilesToSpaces(input: ArchiveFilesInput): Promise<ArchiveFilesResult> {
      const started = Date.now();
      const target = input.storageHost ? parseSshTarget(input.storageHost) : ssh.defaultTarget;
      const client = await SshClient.connect(target, ssh.options, cancellationSignal());
      // Heartbeats once a second with the bytes read so far (counted per chunk into progress), a slow disk or not.
      const progress = { plainBytes: 0 };
      let streamed = false;
      // Waiting on the remote tar: nothing of it left unread (an upload slow to take the bytes holds the tar back,
      // which is not the storage node's stall).
      let waitingOnTar = () => false;
      try {
        // A tar that gives no byte for the stall bound (the storage node's disk or mount hung, SSH still answering)
        // fails the step StepStalled instead of holding one of the night's slots until the step's ceiling.
        return await withHeartbeat(() => ({ phase: 'files', plainBytes: progress.plainBytes }), () => withProgressWatch({ moved: () => progress.plainBytes, what: `reading ${input.filesPath} on ${formatSshTarget(target)}`, waitingOnRemote: () => waitingOnTar(), stop: () => client.destroy(), stallMs: stepStallMs, streamed: () => streamed }, archive()));
      } finally {
        client.close();
      }
      async function archive(): Promise<ArchiveFilesResult> {
        // One remote command per site (one SSH session: on a 500-site night each costs the storage node a login shell).
        const run = await client.execStream(filesArchiveCommand(input.filesPath));
        void run.code.then(() => (streamed = true), () => (streamed = true));
        waitingOnTar = () => run.stdout.readableLength === 0;
        const found = () => ({ storageHost: formatSshTarget(target), wordpressVersion: wordpressVersionOf(run.stderr()) });
        // The exit code as soon as it comes. A failure is read as "no directory" only when the command has already
        // exited so (its exit is what failed the read); any other failure (a busy lease) is not held up by a tar
        // that still runs, which the connection's close then stops.
        let exitCode: number | null | 'dropped' | undefined;
        void run.code.then((code) => (exitCode = code));
        const read = <T>(p: Promise<T>): Promise<T> =>
          p.catch((err: unknown) => {
            if (exitCode === NO_FILES_DIRECTORY) throw failure('InvalidInput', `files of site ${input.site} not found: ${input.filesPath} is not a directory on ${formatSshTarget(target)}`);
            throw err;
          });
        if (backup.dedupKey) {
          const { key, bytes, sha256, plainBytes, firstByteAt, finishedAt, ...dedup } = await read(archiveDedup(run.stdout, run.exit));
          return { key, bytes, sha256, plainBytes, firstByteAt, finishedAt, ...found(), durationMs: Date.now() - started, dedup };
        }
        const uploaded = await read(uploadEncryptedInActivity({ s3, bucket, key: objectKey(input.site, input.date, 'files'), source: run.stdout, sourceExit: run.exit, recipients: backup.recipients }, progress));
        return { ...uploaded, ...found(), durationMs: Date.now() - started };
      }
      async function archiveDedup(source: Readable, sourceExit: Promise<void>) {
        // The lease first: a collection of the site's packs never runs while this night may refer to them.
        const lease = await acquireWorkLease(galera, input.site, 'night', `${activityInfo().workflowExecution?.workflowId ?? activityInfo().activityId} attempt ${activityInfo().attempt}`);
        // Renewed on a timer, not on progress: an unchanged site is read for minutes without storing a pack.
        const renewing = setInterval(() => void renewLease(galera, lease, WORK_LEASE_TTL_MS).catch(() => undefined), 60_000);
        try {
          return await archiveDeduplicated({
            s3,
            bucket,
            site: input.site,
            point: input.date,
            recipients: backup.recipients,
            macKey: backup.dedupKey!,
            source,
            sourceExit,
            signal: cancellationSignal(),
            onProgress: (plainBytes) => void (progress.plainBytes = plainBytes),
          });
        } finally {
          clearInterval(renewing);
          await releaseLease(galera, lease).catch(() => undefined);
        }
      }
    },
  };
}

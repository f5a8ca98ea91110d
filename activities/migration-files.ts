/**
 * A migration's files (issue 15): copied by rsync running on the storage node, pulling from the old host, so
 * the bytes never pass through the worker and a retried copy continues where the last one stopped (files
 * already there are skipped, a file cut in the middle resumes from `--partial-dir`). The old host's SSH host
 * key is pinned for rsync's ssh as for the worker's (DROVER_MIGRATE_HOST_KEYS); the migration key is placed
 * in a private folder on the storage node for the copy's duration only.
 */
import { createHash } from 'node:crypto';
import { cancellationSignal } from '@temporalio/activity';
import type { ActivityDeps } from '../lib/clients/deps';
import { classifyRemoteCopyFailure, failure } from '../lib/clients/errors';
import { hostKeyFingerprint, withSsh, type SshClient } from '../lib/clients/ssh-client';
import { faultPoint } from './lib/fault-points';
import { withHeartbeat, withProgressWatch } from './lib/heartbeat';
import { connectOldHost, shq, type SourceRef } from './lib/old-host';
import { adaptWpConfigForFarm } from '../lib/wp-config';
import { PHP_GID, PHP_UID } from './site-files';

/** Marks, inside the staged folder, that its move into the docroot has begun (the docroot was emptied once). */
const MOVING_MARK = '.drover-moving-in';

/** Where a copy's private state lives on the storage node (the key, known_hosts, the running rsync's pid). */
export const MIGRATE_WORK_ROOT = '/var/lib/drover/migrate';
export const PARTIAL_DIR = '.drover-rsync-partial';

export interface FileTotals {
  files: number;
  bytes: number;
}

/** Counts regular files and their bytes under `dir` (rsync's partial folder and a top-level .maintenance left out). */
export async function fileTotals(ssh: SshClient, dir: string, signal?: AbortSignal): Promise<FileTotals> {
  const r = await ssh.execOrThrow(`cd ${shq(dir)} && find . \\( -path ./${PARTIAL_DIR} -o -path ./.maintenance \\) -prune -o -type f -printf '%s\\n' | awk '{n++; s+=$1} END {printf "%d %d", n, s}'`, { signal });
  const [files, bytes] = r.stdout.trim().split(' ').map(Number);
  return { files, bytes };
}

const workDirOf = (destPath: string) => `${MIGRATE_WORK_ROOT}/${createHash('sha256').update(destPath).digest('hex').slice(0, 16)}`;

/** Stops a copy an earlier attempt left running (rsync in its own session), by the process group it recorded. */
const STOP_EARLIER = (w: string) =>
  `if [ -f ${w}/pid ]; then pg=$(cat ${w}/pid); kill -TERM -- -"$pg" 2>/dev/null || true; i=0; while kill -0 -- -"$pg" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done; kill -KILL -- -"$pg" 2>/dev/null || true; rm -f ${w}/pid; fi`;

export function createMigrationFilesActivities({ ssh, migrateSsh, stepStallMs }: Pick<ActivityDeps, 'ssh' | 'migrateSsh' | 'stepStallMs'>) {
  return {
    /**
     * Copies the old host's `sourcePath` into `destPath` on the storage node with rsync (resumable; a retry
     * stops the previous attempt's rsync first), then checks file count and bytes equal the source's.
     * Heartbeats with the bytes rsync reports.
     */
    async copySiteFilesFromSource(input: { source: SourceRef; destPath: string; bandwidthLimitKBps?: number }): Promise<{ source: FileTotals; copied: FileTotals }> {
      // rsync --delete makes the destination equal the source: never point it at anything but a staging folder.
      if (!/^\/\S+\/\S+\.migrating$/.test(input.destPath)) throw failure('InvalidInput', `destPath ${input.destPath} must be an absolute path ending in .migrating`);
      const signal = cancellationSignal();
      const src = input.source;
      const workDir = workDirOf(input.destPath);
      const w = shq(workDir);
      const progress = { phase: 'stop earlier copy', bytes: 0 };
      return withHeartbeat(() => progress, () =>
        withSsh(ssh.defaultTarget, ssh.options, async (storage) => {
          await storage.execOrThrow(`umask 077; mkdir -p ${w} && chmod 700 ${w} && ${STOP_EARLIER(w)}`, { signal });
          // The old host's key as the storage node sees it, kept only if it matches a pin.
          progress.phase = 'host key';
          const scan = await storage.exec(`ssh-keyscan -T 10 -p ${src.ssh.port} ${shq(src.ssh.host)} 2>/dev/null`, { signal });
          const pins = migrateSsh.pinnedHostKeys ?? [];
          const known = scan.stdout.split('\n').filter((l) => {
            const blob = l.trim().split(/\s+/)[2];
            if (!blob || l.startsWith('#')) return false;
            return pins.length === 0 ? Boolean(migrateSsh.insecureAnyHostKey) : pins.includes(hostKeyFingerprint(Buffer.from(blob, 'base64')));
          });
          if (!known.length) {
            if (!scan.stdout.trim()) throw failure('SshUnreachable', `the storage node cannot reach ${src.ssh.host}:${src.ssh.port} over SSH`);
            throw failure('SshHostKeyMismatch', `the SSH host key of ${src.ssh.host}:${src.ssh.port} (as the storage node sees it) matches no pin in DROVER_MIGRATE_HOST_KEYS`);
          }
          await storage.upload(known.join('\n') + '\n', `${workDir}/known_hosts`);
          await storage.upload(Buffer.from(migrateSsh.privateKey), `${workDir}/key`);
          const sshCmd = `ssh -p ${src.ssh.port} -i ${w}/key -o BatchMode=yes -o IdentitiesOnly=yes -o UserKnownHostsFile=${w}/known_hosts -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o ConnectTimeout=15 -o ServerAliveInterval=5 -o ServerAliveCountMax=3`;
          const host = src.ssh.host.includes(':') ? `[${src.ssh.host}]` : src.ssh.host;
          const rsync = [
            // A cutover's freeze (WordPress's .maintenance in the source's root) must not freeze the farm's copy.
            'rsync -rlpt --delete --partial-dir=' + PARTIAL_DIR + ' --exclude=/.maintenance',
            // What rsync writes is the copy's sign of life (the stall watch below): progress2 about once a second
            // while bytes flow, flist2 a line per hundred files listed, name2 a line per file checked (also those
            // already up to date: a retry's or a cutover's final pass over a large tree says nothing otherwise),
            // del1 a line per file deleted.
            '--info=progress2,flist2,name2,del1 --no-inc-recursive',
            input.bandwidthLimitKBps ? `--bwlimit=${Math.floor(input.bandwidthLimitKBps)}` : '',
            `-e ${shq(sshCmd)}`,
            shq(`${src.ssh.user}@${host}:${src.sourcePath}/`),
            shq(`${input.destPath}/`),
          ].filter(Boolean).join(' ');
          // rsync runs in its own session so that a retry can stop it as a group; the key goes when this ends.
          const script = `trap 'rm -f ${w}/key' EXIT HUP INT TERM; mkdir -p ${shq(input.destPath)}; setsid ${rsync} & echo $! > ${w}/pid; wait $!; rc=$?; rm -f ${w}/pid; exit $rc`;
          progress.phase = 'copy';
          const run = await storage.execStream(`sh -c ${shq(script)}`);
          let tail = '';
          // Every line rsync writes (a file checked or deleted, a hundred more listed, bytes moving) is the copy moving.
          let said = 0;
          run.stdout.on('data', (d: Buffer) => {
            said += d.length;
            tail = (tail + d.toString('utf8')).slice(-400);
            const m = /([\d,]+)\s+\d+%[^\r\n]*$/.exec(tail.replace(/[\r\n]+$/, ''));
            if (m) progress.bytes = Number(m[1].replace(/,/g, ''));
            // Fault injection: the worker dies with the copy under way (the rsync on the storage node goes on).
            if (progress.bytes > 64 * 1024) faultPoint('copySiteFiles:copying');
          });
          const onAbort = () => storage.close();
          signal.addEventListener('abort', onAbort, { once: true });
          try {
            // rsync's --timeout does not fire with the old host's sender stopped (the receiving side's keepalives count
            // as I/O): a copy that says nothing for the stall bound (a disk or mount hung on either side, or the old
            // host's rsync stopped, sshd still answering) fails StepStalled, its connection dropped; the retry stops
            // the rsync left behind (STOP_EARLIER).
            await withProgressWatch({ moved: () => said, waitingOnRemote: () => true, what: `copying ${src.sourcePath} from ${src.ssh.host}:${src.ssh.port}`, at: () => `${progress.bytes} bytes copied`, silence: 'rsync reported nothing', stop: () => storage.destroy(), stallMs: stepStallMs }, run.exit);
          } catch (err) {
            throw classifyRemoteCopyFailure(err, `copying files from ${src.ssh.host}:${src.ssh.port}`);
          } finally {
            signal.removeEventListener('abort', onAbort);
          }
          progress.phase = 'verify';
          const copied = await fileTotals(storage, input.destPath, signal);
          const source = await (async () => {
            const old = await connectOldHost(migrateSsh, src, signal);
            try {
              return await fileTotals(old, src.sourcePath, signal);
            } finally {
              old.close();
            }
          })();
          if (copied.files !== source.files || copied.bytes !== source.bytes) {
            throw failure('MigrationVerificationFailed', `copied ${copied.files} files / ${copied.bytes} bytes, the source has ${source.files} / ${source.bytes} (is the old site still being written to?)`);
          }
          return { source, copied };
        }),
      );
    },

    /**
     * Moves the staged files (`<docroot>.migrating`) into the site's docroot, which the site's service already
     * mounts (so the docroot itself is never renamed: a bind mount follows the folder it was given): the docroot
     * is emptied once (what the image put there), then each top-level entry is moved in (a rename on the same
     * file system). A retry after a crash goes on with the entries not yet moved. Then the file count and bytes
     * must equal the copy's, owner and modes are the PHP user's, and wp-config.php is adapted to the farm
     * (lib/wp-config.ts: the database from the service's environment and secret, the source's table prefix).
     */
    async moveMigratedFilesIn(input: { stagedPath: string; docroot: string; tablePrefix: string; expect: FileTotals }): Promise<{ files: number; bytes: number; wpConfig: { adapted: boolean; removed: string[] } }> {
      if (input.stagedPath !== `${input.docroot}.migrating` || !/^\/\S+\/htdocs$/.test(input.docroot)) throw failure('InvalidInput', `stagedPath ${input.stagedPath} must be the docroot ${input.docroot} + .migrating`);
      const signal = cancellationSignal();
      const src = shq(input.stagedPath);
      const dst = shq(input.docroot);
      return withHeartbeat(() => ({ phase: 'move in', docroot: input.docroot }), () =>
        withSsh(ssh.defaultTarget, ssh.options, async (storage) => {
          const script = [
            'set -eu',
            `if [ -d ${src} ]; then`,
            `  [ -d ${dst} ] || { echo "docroot ${input.docroot} does not exist: the site was not created" >&2; exit 3; }`,
            `  if [ ! -e ${src}/${MOVING_MARK} ]; then find ${dst} -mindepth 1 -maxdepth 1 -exec rm -rf {} +; touch ${src}/${MOVING_MARK}; fi`,
            `  rm -rf ${src}/${PARTIAL_DIR}`,
            `  find ${src} -mindepth 1 -maxdepth 1 ! -name ${MOVING_MARK} -print0 | while IFS= read -r -d '' e; do b=$(basename "$e"); rm -rf ${dst}/"$b"; mv "$e" ${dst}/; done`,
            `  rm -rf ${src}`,
            'fi',
            `chown -R ${PHP_UID}:${PHP_GID} ${dst}`,
            `chmod 0750 ${dst}`,
          ].join('\n');
          const moved = await storage.exec('bash -s', { stdin: script, signal });
          if (moved.code === 3) throw failure('InvalidInput', moved.stderr.trim());
          if (moved.code !== 0) throw failure('RemoteCommandFailed', `moving ${input.stagedPath} into ${input.docroot} exited ${moved.code}: ${moved.stderr.trim().slice(-300)}`);
          faultPoint('moveMigratedFilesIn:moved');
          const config = `${input.docroot}/wp-config.php`;
          const read = await storage.exec(`cat ${shq(config)}`, { signal });
          if (read.code !== 0) throw failure('MigrationSourceInvalid', `${config}: no wp-config.php in the migrated docroot (one kept above the docroot on the old host is not migrated)`);
          const adapted = adaptWpConfigForFarm(read.stdout, { tablePrefix: input.tablePrefix });
          if (adapted.text !== read.stdout) {
            // Counted before it changes: the copy's totals hold the source's wp-config.php.
            const totals = await fileTotals(storage, input.docroot, signal);
            if (totals.files !== input.expect.files || totals.bytes !== input.expect.bytes) {
              throw failure('MigrationVerificationFailed', `the docroot holds ${totals.files} files / ${totals.bytes} bytes after the move, the copy had ${input.expect.files} / ${input.expect.bytes}`);
            }
            await storage.upload(adapted.text, `${config}.drover-new`);
            await storage.execOrThrow(`chown ${PHP_UID}:${PHP_GID} ${shq(config + '.drover-new')} && chmod 0640 ${shq(config + '.drover-new')} && mv ${shq(config + '.drover-new')} ${shq(config)}`, { signal });
          }
          const after = await fileTotals(storage, input.docroot, signal);
          if (after.files !== input.expect.files) throw failure('MigrationVerificationFailed', `the docroot holds ${after.files} files, the copy had ${input.expect.files}`);
          return { ...after, wpConfig: { adapted: adapted.text !== read.stdout, removed: adapted.removed } };
        }),
      );
    },

    /** The site's docroot's file count and bytes (the migration's last check). */
    async migratedFileTotals(input: { docroot: string }): Promise<FileTotals> {
      return withSsh(ssh.defaultTarget, ssh.options, (storage) => fileTotals(storage, input.docroot, cancellationSignal()));
    },

    /** Compensation: removes a migration's copied files, its private folder and the site folder if it is left empty. Idempotent. */
    async removeMigratedFiles(input: { destPath: string }): Promise<{ removed: boolean }> {
      if (!/\.migrating$/.test(input.destPath)) throw failure('InvalidInput', `refusing to remove ${input.destPath}: not a migration's staging folder`);
      const w = shq(workDirOf(input.destPath));
      return withSsh(ssh.defaultTarget, ssh.options, async (storage) => {
        const r = await storage.execOrThrow(`${STOP_EARLIER(w)}; rm -rf ${w}; if [ -e ${shq(input.destPath)} ]; then rm -rf ${shq(input.destPath)}; echo removed; fi; rmdir ${shq(input.destPath.replace(/\/[^/]+$/, ''))} 2>/dev/null || true`);
        return { removed: r.stdout.includes('removed') };
      });
    },
  };
}

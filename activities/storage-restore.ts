/**
 * Restore activities on a storage node over SSH: a restore point's files are extracted into a staging folder
 * beside the docroot, then swapped in by two renames (the live folder to `<path>.drover-previous`, staging to the
 * live path), so a failed extract never touches the live files and the swap can be undone.
 */
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { activityInfo, cancellationSignal } from '@temporalio/activity';
import { isFilesIndexKey } from '../lib/backup-layout';
import { acquireWorkLease, releaseLease, renewLease, WORK_LEASE_TTL_MS } from '../lib/backup-leases';
import { restoreDeduplicated } from './lib/dedup-restore';
import { yieldCpuShell } from './lib/cpu-yield';
import { siteOwning } from '../lib/site-registry';
import type { ActivityDeps } from '../lib/clients/deps';
import { decryptObjectTo, withVerifiedObject } from './lib/encrypted-download';
import { failure } from '../lib/clients/errors';
import { faultPoint } from './lib/fault-points';
import { byteCounter, withHeartbeat, withProgressWatch } from './lib/heartbeat';
import { formatSshTarget, parseSshTarget, stderrTail, withSsh, type SshClient } from '../lib/clients/ssh-client';
import { shellQuote as q } from '../lib/shell-quote';
import { wordpressVersionCommand } from '../lib/wp-version-shell';

export const STAGING_SUFFIX = '.drover-staging';
export const PREVIOUS_SUFFIX = '.drover-previous';
/** Where an undo moves the restored docroot before removing it. */
export const UNDO_SUFFIX = '.drover-undo';

/** Which of the named paths exist, in one round trip. */
async function existing<K extends string>(c: SshClient, paths: Record<K, string>): Promise<Record<K, boolean>> {
  const names = Object.keys(paths) as K[];
  const r = await c.execOrThrow(names.map((n) => `if [ -e ${q(paths[n])} ]; then echo 1; else echo 0; fi`).join('; '));
  const flags = r.stdout.trim().split('\n');
  return Object.fromEntries(names.map((n, i) => [n, flags[i] === '1'])) as Record<K, boolean>;
}

/** The remote command that extracts an archive into a staging folder: one exact command line per folder. */
export function extractCommand(staging: string): string {
  // GNU tar exits once it has read the record that holds the end-of-archive blocks, without waiting for the end of its
  // input: the channel then closed while the worker was still ending its side (the decrypted stream's end comes a
  // moment after its last bytes), failing a complete extract with "Premature close" (under load, about 1 in 40
  // tiny archives). After a tar that succeeded, `cat` reads the rest (the worker's end of stream); one that failed
  // ends the command at once.
  // At nice 10, its session's autogroup too (cpu-yield.ts): it gives way to the database load beside it, and on the farm
  // to the sites the storage node serves. tar's own command line stays the one stopEarlierExtracts looks for.
  return `${yieldCpuShell} tar -C ${q(staging)} --numeric-owner -xf - && exec cat > /dev/null`;
}

/** stopEarlierExtracts' exit status when an earlier extract outlived every SIGKILL (stuck in the kernel). */
export const EXTRACT_WOULD_NOT_STOP = 75;

/**
 * Stops every earlier attempt's `tar` still extracting into `staging` (a worker that lost track of its attempt,
 * a heartbeat timeout that started this retry): found by its exact command line (`pgrep -x -f`, the path's
 * regex characters escaped), SIGKILLed, and waited for (up to `waitSeconds`, 30) before the folder is touched. One
 * that will not die is stuck in the kernel (uninterruptible, on a disk or mount that hung): the command then exits
 * EXTRACT_WOULD_NOT_STOP, and the step fails StepStalled (retried: the mount may come back), not for good.
 */
export function stopEarlierExtracts(staging: string, waitSeconds = 30): string {
  const args = `tar -C ${staging} --numeric-owner -xf -`;
  const re = q(`^${args.replace(/[\\^$.|?*+()[\]{}]/g, '\\$&')}$`);
  const tries = Math.max(1, Math.round(waitSeconds / 0.2));
  return `for i in $(seq 1 ${tries}); do pids=$(pgrep -x -f ${re}) || break; kill -9 $pids 2>/dev/null; sleep 0.2; done; if pgrep -x -f ${re} >/dev/null; then echo "an earlier extract into ${staging.replace(/["$`\\]/g, '')} would not stop, even killed: stuck on its disk or mount" >&2; exit ${EXTRACT_WOULD_NOT_STOP}; fi`;
}

/**
 * Puts `from` at `to` in renames that are each safe to crash after: when `to` is there (`toThere`), it is moved
 * aside to `aside` first (an `aside` already there, `asideThere`, is a leftover and removed before), then `from`
 * is moved in. A fault point after each rename, named by `faults`.
 */
async function moveInReplacing(c: SshClient, p: { from: string; to: string; aside: string }, toThere: boolean, asideThere: boolean, faults: [string, string]): Promise<void> {
  if (toThere) {
    if (asideThere) await c.execOrThrow(`rm -rf ${q(p.aside)}`);
    await c.execOrThrow(`mv -T ${q(p.to)} ${q(p.aside)}`);
    faultPoint(faults[0]);
  }
  await c.execOrThrow(`mv -T ${q(p.from)} ${q(p.to)}`);
  faultPoint(faults[1]);
}

function checkPath(p: string): string {
  if (!/^\/[^\0]*[^/]$/.test(p) || p.split('/').length < 3) throw failure('InvalidInput', `refusing to work on "${p}": an absolute path at least two levels deep is required`);
  return p;
}

export function createStorageRestoreActivities({ ssh, s3, bucket, backup, galera, stepStallMs }: Pick<ActivityDeps, 'ssh' | 's3' | 'bucket' | 'backup' | 'galera' | 'stepStallMs'>) {
  const target = (host: string | null) => (host ? parseSshTarget(host) : ssh.defaultTarget);

  /** A deduplicated point's files into `sink`: its packs fetched and decrypted in parallel (dedup-restore.ts). */
  async function restoreDeduplicatedInto(input: { key: string; sha256: string }, indexFile: string | undefined, sink: Writable, sinkExit: Promise<void>, progress: { phase: string }, onBytes: (n: number) => void): Promise<{ bytes: number }> {
    return restoreDeduplicated({
      s3,
      bucket,
      indexKey: input.key,
      indexSha256: input.sha256,
      indexFile,
      identityFile: backup.identityFile!,
      sink,
      sinkExit,
      signal: cancellationSignal(),
      onPhase: (phase, packs) => Object.assign(progress, { phase, packs }),
      onBytes,
    });
  }

  /**
   * Runs `fn` under a restore lease on the site's packs when `key` is a deduplicated index, so no collection
   * deletes a pack while this reads it (lib/backup-leases.ts); `BackupBusy` while one runs.
   */
  async function underRestoreLease<T>(key: string, fn: () => Promise<T>): Promise<T> {
    if (!isFilesIndexKey(key)) return fn();
    const info = activityInfo();
    const lease = await acquireWorkLease(galera, key.split('/')[1], 'restore', `${info.workflowExecution?.workflowId ?? info.activityId} attempt ${info.attempt}`);
    const renewing = setInterval(() => void renewLease(galera, lease, WORK_LEASE_TTL_MS).catch(() => undefined), 60_000);
    try {
      return await fn();
    } finally {
      clearInterval(renewing);
      await releaseLease(galera, lease).catch(() => undefined);
    }
  }

  return {
    /**
     * Downloads the archive once and checks its SHA-256, then streams it decrypted into `tar -x` in
     * `<livePath>.drover-staging` (encrypted-download.ts: from the file it was checked in when the worker's disk has
     * room, else from a second download, checked again). A deduplicated point (`key` is its files index) is rebuilt
     * into the same `tar -x` from its packs.
     */
    async extractFilesToStaging(input: { key: string; sha256: string; storageHost: string | null; livePath: string }): Promise<{ bytes: number; files: number; liveExisted: boolean }> {
      if (!backup.identityFile) throw failure('ConfigMissing', 'this worker has no backup identity (DROVER_BACKUP_AGE_IDENTITY_FILE): restores run on restore workers');
      const staging = checkPath(input.livePath) + STAGING_SUFFIX;
      // Heartbeats on a timer through the SHA-256 pass, the extraction and the remote commands around them.
      const counter = byteCounter();
      const progress = { phase: 'verify' };
      return withHeartbeat(() => ({ ...progress, extractedBytes: counter.bytes }), () => underRestoreLease(input.key, async () => {
        // Checked before anything on the storage node is touched (a missing or damaged object must not cost an
        // earlier restore's kept folders). A tar point's archive, or a deduplicated point's index, is kept on the
        // worker's disk as it is checked, and used from that file (one download, and what is used is what was
        // checked); each of a deduplicated point's packs is checked before any of its pieces is used.
        const dedup = isFilesIndexKey(input.key);
        return withVerifiedObject({ s3, bucket, key: input.key, sha256: input.sha256, signal: cancellationSignal(), reserveBytes: backup.spoolReserveBytes }, async ({ bytes, file }) => withSsh(target(input.storageHost), ssh.options, async (c) => {
          // A previous folder here is an earlier restore's: its leftover when live exists (removed, so an undo of
          // this restore can never bring it back), or an interrupted swap's original when live is missing (put back).
          const [live, previous] = [input.livePath, input.livePath + PREVIOUS_SUFFIX];
          progress.phase = 'stop earlier extract';
          const stopped = await c.exec(stopEarlierExtracts(staging));
          if (stopped.code === EXTRACT_WOULD_NOT_STOP) throw failure('StepStalled', `on ${formatSshTarget(target(input.storageHost))}: ${stderrTail(stopped.stderr)}; another attempt may find it gone`);
          if (stopped.code !== 0) throw failure('RemoteCommandFailed', `stopping an earlier extract on ${formatSshTarget(target(input.storageHost))} exited ${stopped.code}: ${stderrTail(stopped.stderr)}`);
          progress.phase = 'clear staging';
          // A failed put-back stops here (`fi &&`): the previous folder is then the original's only copy. Whether live
          // is there then (the workflow swaps database and files side by side only over a docroot that
          // exists: an undo brings back what a swap moved aside, and over none it has nothing to bring back).
          const cleared = await c.execOrThrow(
            `if [ ! -e ${q(live)} ] && [ -d ${q(previous)} ]; then mv -T ${q(previous)} ${q(live)}; fi && rm -rf ${q(previous)} ${q(live + UNDO_SUFFIX)} ${q(staging)} && mkdir -p ${q(staging)} && if [ -e ${q(live)} ]; then echo 1; else echo 0; fi`,
          );
          const liveExisted = cleared.stdout.trim() === '1';
          progress.phase = 'extract';
          const tar = await c.execWithStdin(extractCommand(staging));
          // Bytes streamed into tar are the heartbeat's progress; tar's exit reports a failed extract. A rebuilt tar
          // is written into tar's stdin itself (its buffers used again once the channel has taken them). A tar that
          // takes no byte for the stall bound (the storage node's disk or mount hung) fails the step StepStalled.
          const extract = async () => {
            if (dedup) bytes += (await restoreDeduplicatedInto(input, file, tar.stdin, tar.exit, progress, (n) => (counter.bytes += n))).bytes;
            else await decryptObjectTo({ s3, bucket, key: input.key, identityFile: backup.identityFile!, sink: counter, sinkExit: Promise.all([tar.exit, pipeline(counter, tar.stdin)]).then(() => undefined), signal: cancellationSignal(), sha256: input.sha256, file });
          };
          // Waiting on the remote tar: it takes nothing of what is written to it (packs or a download slow to bring
          // the bytes are this side's pause, not the storage node's stall).
          await withProgressWatch({ moved: () => counter.bytes, waitingOnRemote: () => tar.stdin.writableNeedDrain, what: `extracting into ${staging} on ${formatSshTarget(target(input.storageHost))}`, stop: () => c.destroy(), stallMs: stepStallMs }, extract());
          progress.phase = 'count';
          const count = await c.execOrThrow(`find ${q(staging)} -type f | wc -l`);
          return { bytes, files: Number(count.stdout.trim()), liveExisted };
        }));
      }));
    },

    /**
     * Swaps staging in: `mv live previous`, then `mv staging live`, each a single rename, so a crash between them
     * (or a retry of either) leaves a state the next run recognises from what exists: staging still there and live
     * missing means the first rename happened, and only the second is left. Never removes `previous` once live
     * has been moved there: it is the only copy of the original docroot until the restore commits.
     */
    async swapFiles(input: { storageHost: string | null; livePath: string }): Promise<{ swapped: boolean }> {
      const live = checkPath(input.livePath);
      const [staging, previous] = [live + STAGING_SUFFIX, live + PREVIOUS_SUFFIX];
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        const has = await existing(c, { staging, live, previous });
        if (!has.staging) return { swapped: false };
        // Live still in place means nothing of this swap has happened: a previous folder is then an earlier
        // restore's leftover (staging removes those, this is the last guard), never this swap's.
        await moveInReplacing(c, { from: staging, to: live, aside: previous }, has.live, has.previous, ['swapFiles:live-moved-aside', 'swapFiles:staging-moved-in']);
        return { swapped: true };
      });
    },

    /**
     * Undoes swapFiles: the previous folder becomes live again, the restored one is moved aside (`<path>.drover-undo`)
     * and removed. Each command a rename or a removal of the discarded copy, so a rerun after a crash between any
     * two finishes the job; with no previous folder (the swap never ran) it does nothing.
     */
    async undoFilesSwap(input: { storageHost: string | null; livePath: string }): Promise<{ restored: boolean }> {
      const live = checkPath(input.livePath);
      const [previous, undo] = [live + PREVIOUS_SUFFIX, live + UNDO_SUFFIX];
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        const has = await existing(c, { live, previous, undo });
        if (has.previous) await moveInReplacing(c, { from: previous, to: live, aside: undo }, has.live, has.undo, ['undoFilesSwap:restored-moved-aside', 'undoFilesSwap:previous-moved-back']);
        if (has.previous || has.undo) await c.execOrThrow(`rm -rf ${q(undo)}`);
        return { restored: has.previous };
      });
    },

    /** Entries in a docroot (0 when it does not exist): is a restore target empty? */
    async countDocrootEntries(input: { storageHost: string | null; livePath: string }): Promise<{ entries: number }> {
      const live = checkPath(input.livePath);
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        const r = await c.execOrThrow(`if [ -e ${q(live)} ]; then find ${q(live)} -mindepth 1 -maxdepth 1 | wc -l; else echo 0; fi`);
        return { entries: Number(r.stdout.trim()) };
      });
    },

    /** After a restore: the docroot holds a WordPress install (wp-config.php and wp-includes/version.php). */
    async checkSiteFiles(input: { storageHost: string | null; livePath: string }): Promise<{ wordpressVersion: string | null }> {
      const live = checkPath(input.livePath);
      return withSsh(target(input.storageHost), ssh.options, async (c) => {
        // Each required file is named when missing; the version is read only when both are there.
        const required = ['wp-config.php', 'wp-includes/version.php'];
        const r = await c.exec(
          `cd ${q(live)} || exit 3; m=0; for f in ${required.map(q).join(' ')}; do [ -f "$f" ] || { echo "missing $f"; m=1; }; done; [ $m = 0 ] || exit 4; ${wordpressVersionCommand(null)}`,
        );
        if (r.code === 3) throw failure('RestoreVerificationFailed', `${live} does not exist: not a WordPress docroot`);
        const missing = r.stdout.split('\n').filter((l) => l.startsWith('missing ')).map((l) => l.slice('missing '.length));
        if (r.code === 4) throw failure('RestoreVerificationFailed', `${live}/ has no ${missing.join(', no ')}: not a WordPress docroot`);
        if (r.code !== 0) throw failure('RestoreVerificationFailed', `cannot check ${live}: exit ${r.code}`);
        return { wordpressVersion: r.stdout.trim() || null };
      });
    },

    /** Removes a side-by-side copy's docroot (drill scratch copies); never a registered site's. Idempotent. */
    async removeRestoredCopy(input: { storageHost: string | null; path: string }): Promise<{ removed: boolean }> {
      const p = checkPath(input.path);
      const owner = await siteOwning(galera, { filesPath: p });
      if (owner) throw failure('InvalidInput', `refusing to remove ${p}: it is the docroot of site ${owner}`);
      await withSsh(target(input.storageHost), ssh.options, (c) => c.execOrThrow(`rm -rf ${q(p)} ${q(p + STAGING_SUFFIX)} ${q(p + PREVIOUS_SUFFIX)} ${q(p + UNDO_SUFFIX)}`));
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

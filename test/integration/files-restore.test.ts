/**
 * File restore activities over the real sshd: staged extract (at nice 10), directory swap and undo, corrupted archive
 * refused.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createSpacesActivities } from '../../activities/spaces';
import { createStorageArchiveActivities } from '../../activities/storage-archive';
import { createStorageRestoreActivities, extractCommand, PREVIOUS_SUFFIX, STAGING_SUFFIX } from '../../activities/storage-restore';
import { withSsh } from '../../lib/clients/ssh-client';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { objectBytes, treeHashes } from '../helpers/restore-point';
import { createTestSite } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';
import { pgrep } from '../helpers/pgrep';
import { scratchDir } from '../helpers/scratch';

const ctx = useRunningWorker('files-restore');
const env = new MockActivityEnvironment();
const act = { run: <A, R>(fn: (a: A) => Promise<R>, a: A) => env.run(fn, a) as Promise<R> };

describe('file restore activities', () => {
  it('extract to staging, swap in, undo; a corrupted archive never reaches the live folder', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `files-${tag}.example.com`, { posts: 3, uploadBytes: 256 * 1024 });
    const date = '2026-11-14';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const backedUp = treeHashes(site.filesPath);

    // After the backup: a file changed, one deleted, one added.
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // edited');
    rmSync(path.join(site.filesPath, 'wp-content/uploads/2024/01/photo-1.jpg'));
    writeFileSync(path.join(site.filesPath, 'wp-content/uploads/new.txt'), 'new');
    const changed = treeHashes(site.filesPath);

    const files = createStorageRestoreActivities(ctx.deps);
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const where = { storageHost: null, livePath: site.filesPath };

    const staged = await act.run(files.extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, ...where });
    expect(staged.files).toBe(Object.keys(backedUp).length);
    expect(staged.liveExisted).toBe(true);
    expect(treeHashes(site.filesPath)).toEqual(changed);
    expect(treeHashes(site.filesPath + STAGING_SUFFIX)).toEqual(backedUp);

    expect(await act.run(files.swapFiles, where)).toEqual({ swapped: true });
    expect(treeHashes(site.filesPath)).toEqual(backedUp);
    expect(treeHashes(site.filesPath + PREVIOUS_SUFFIX)).toEqual(changed);
    expect(await act.run(files.swapFiles, where)).toEqual({ swapped: false }); // idempotent retry

    expect(await act.run(files.undoFilesSwap, where)).toEqual({ restored: true });
    expect(treeHashes(site.filesPath)).toEqual(changed);

    const bytes = await objectBytes(ctx.deps, manifest.files.key);
    bytes[bytes.length - 100] ^= 0x80;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: manifest.files.key, Body: bytes }));
    const err = await act.run(files.extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, ...where }).then(() => null, (e: { type?: string }) => e);
    expect(err?.type).toBe('BackupCorrupted');
    expect(existsSync(site.filesPath + STAGING_SUFFIX)).toBe(false);
    expect(treeHashes(site.filesPath)).toEqual(changed);

    await expect(act.run(files.removeRestoreLeftovers, { storageHost: null, livePath: '/', which: 'staging' })).rejects.toMatchObject({ type: 'InvalidInput' });
  });

  it('extracts the very bytes it checked: an archive replaced in S3 after its check is never what staging gets', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `files-swapped-${tag}.example.com`, { posts: 3, uploadBytes: 256 * 1024 });
    const backup = (date: string) => ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    await backup('2026-11-14');
    const checked = treeHashes(site.filesPath);
    writeFileSync(path.join(site.filesPath, 'wp-content/uploads/other-point.txt'), 'only in the other point');
    await backup('2026-11-15');
    const spaces = createSpacesActivities(ctx.deps);
    const first = await act.run(spaces.readManifest, { site: site.domain, date: '2026-11-14' });
    const second = await act.run(spaces.readManifest, { site: site.domain, date: '2026-11-15' });
    const original = await objectBytes(ctx.deps, first.files.key);
    const other = await objectBytes(ctx.deps, second.files.key);
    const put = (body: Buffer) => ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: first.files.key, Body: body }));

    // The archive is replaced as soon as its first download has been read to the end (a second download, if any,
    // waits until the replacement is in place).
    let gets = 0;
    let replaced: Promise<unknown> | null = null;
    const s3 = new Proxy(ctx.deps.s3, {
      get(target, prop, receiver) {
        if (prop !== 'send') return Reflect.get(target, prop, receiver);
        return async (command: { input?: { Key?: string }; constructor: { name: string } }, opts?: unknown) => {
          if (command.constructor.name !== 'GetObjectCommand' || command.input?.Key !== first.files.key) return target.send(command as never, opts as never);
          if (gets++ > 0) await replaced;
          const got = (await target.send(command as never, opts as never)) as { Body?: NodeJS.ReadableStream };
          if (gets === 1) got.Body!.once('end', () => (replaced = put(other)));
          return got;
        };
      },
    });
    const files = createStorageRestoreActivities({ ...ctx.deps, s3 });
    const where = { storageHost: null, livePath: site.filesPath };
    try {
      await act.run(files.extractFilesToStaging, { key: first.files.key, sha256: first.files.sha256, ...where });
      expect(replaced).not.toBeNull();
      await replaced;
      expect(treeHashes(site.filesPath + STAGING_SUFFIX)).toEqual(checked);
    } finally {
      await put(original);
      await act.run(files.removeRestoreLeftovers, { storageHost: null, livePath: site.filesPath, which: 'staging' });
    }
  });

  it('swap and undo are safe to repeat: a retry after the first rename keeps the original, a stale previous folder is never swapped back in', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `files-rep-${tag}.example.com`, { posts: 3, uploadBytes: 64 * 1024 });
    const date = '2026-11-14';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const backedUp = treeHashes(site.filesPath);
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // edited after the backup');
    const changed = treeHashes(site.filesPath);
    const files = createStorageRestoreActivities(ctx.deps);
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const where = { storageHost: null, livePath: site.filesPath };
    const previous = site.filesPath + PREVIOUS_SUFFIX;

    // A stale previous folder left by an earlier restore (its clean-up never ran) must never come back as live.
    cpSync(site.filesPath, previous, { recursive: true });
    writeFileSync(path.join(previous, 'stale.txt'), 'from an earlier restore');
    const stale = treeHashes(previous);
    await act.run(files.extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, ...where });
    // The swap failed before renaming anything: its undo must leave the live docroot as it is.
    await act.run(files.undoFilesSwap, where);
    expect(treeHashes(site.filesPath)).toEqual(changed);
    expect(treeHashes(site.filesPath)).not.toEqual(stale);

    // The worker died right after `mv live previous`: the retried swap must keep the original as previous.
    await act.run(files.extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, ...where });
    rmSync(previous, { recursive: true, force: true });
    renameSync(site.filesPath, previous);
    expect(await act.run(files.swapFiles, where)).toEqual({ swapped: true });
    expect(treeHashes(site.filesPath)).toEqual(backedUp);
    expect(treeHashes(previous)).toEqual(changed);
    expect(await act.run(files.swapFiles, where)).toEqual({ swapped: false });

    // The undo died after moving the restored docroot aside: run again, the original is live, nothing left over.
    renameSync(site.filesPath, site.filesPath + '.drover-undo');
    expect(await act.run(files.undoFilesSwap, where)).toEqual({ restored: true });
    expect(treeHashes(site.filesPath)).toEqual(changed);
    expect(await act.run(files.undoFilesSwap, where)).toEqual({ restored: false });
    expect(treeHashes(site.filesPath)).toEqual(changed);
    expect(existsSync(site.filesPath + '.drover-undo') || existsSync(previous)).toBe(false);
  });
  it('an extract retried while the earlier attempt\'s tar is still running stops that tar first and ends with exactly the archive\'s files', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `files-retry-${tag}.example.com`, { posts: 3, uploadBytes: 128 * 1024 });
    const date = '2026-11-14';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/retry/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const backedUp = treeHashes(site.filesPath);
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const staging = site.filesPath + STAGING_SUFFIX;

    // The earlier attempt (its worker lost track of it): its tar has extracted one file and waits for the rest.
    const dir = scratchDir('stray-');
    writeFileSync(path.join(dir, 'stray-from-the-earlier-attempt.txt'), 'Café ™ half an archive');
    writeFileSync(path.join(dir, 'zz-still-arriving.bin'), Buffer.alloc(64 * 1024, 7));
    // tar reads whole records (10 KiB): the first one holds the stray file and the start of the next.
    const partial = execFileSync('tar', ['-cf', '-', '-C', dir, 'stray-from-the-earlier-attempt.txt', 'zz-still-arriving.bin']).subarray(0, 10240);
    let feed: Writable | undefined;
    const earlier = withSsh(ctx.deps.ssh.defaultTarget, ctx.deps.ssh.options, async (c) => {
      await c.execOrThrow(`mkdir -p '${staging}'`);
      const tar = await c.execWithStdin(extractCommand(staging));
      feed = tar.stdin;
      tar.stdin.on('error', () => undefined);
      tar.stdin.write(partial);
      return tar.exit.then(() => 'exited 0', (e: Error) => `failed: ${e.message}`);
    });
    const tarsInStaging = () => execFileSync('ps', ['-eo', 'args=']).toString().split('\n').filter((l) => l.trim() === `tar -C ${staging} --numeric-owner -xf -`);
    try {
      for (let i = 0; i < 300 && !existsSync(path.join(staging, 'stray-from-the-earlier-attempt.txt')); i++) await new Promise((r) => setTimeout(r, 100));
      expect(tarsInStaging()).toHaveLength(1);
      // The extract runs at nice 10, its session's autogroup too (cpu-yield.ts): it gives way to the database load
      // beside it (where the kernel groups by session, as here, only the autogroup's nice counts between sessions).
      const tar = execFileSync('ps', ['-eo', 'pid=,ni=,args=']).toString().split('\n').map((l) => l.trim().split(/\s+/)).find((w) => w.slice(2).join(' ') === `tar -C ${staging} --numeric-owner -xf -`);
      expect(tar, 'the earlier extract\'s tar in the process list').toBeDefined();
      const [pid, nice] = tar!;
      expect(nice).toBe('10');
      if (existsSync('/proc/self/autogroup')) expect(readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim()).toMatch(/ nice 10$/);

      const staged = await act.run(createStorageRestoreActivities(ctx.deps).extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, storageHost: null, livePath: site.filesPath });
      expect(tarsInStaging(), 'the earlier attempt\'s tar is still running').toEqual([]);
      expect(await earlier).toMatch(/^failed/);
      expect(staged.files).toBe(Object.keys(backedUp).length);
      expect(treeHashes(staging)).toEqual(backedUp);
    } finally {
      feed?.end();
      await earlier.catch(() => undefined);
    }
    await act.run(createStorageRestoreActivities(ctx.deps).removeRestoreLeftovers, { storageHost: null, livePath: site.filesPath, which: 'staging' });
  });

  it('a complete archive whose end of stream comes after tar has read its last record extracts (GNU tar exits on that record: the channel closed before the worker ended it)', async () => {
    const dir = scratchDir('late-end-');
    const into = scratchDir('late-end-out-');
    writeFileSync(path.join(dir, 'Café ™.txt'), 'the whole archive arrives, its end of stream a second later');
    // One 10 KiB record: the file, then the end-of-archive blocks.
    const archive = execFileSync('tar', ['-cf', '-', '-C', dir, 'Café ™.txt']);
    expect(archive.length % 10240).toBe(0);
    try {
      const fed = await withSsh(ctx.deps.ssh.defaultTarget, ctx.deps.ssh.options, async (c) => {
        const tar = await c.execWithStdin(extractCommand(into));
        const late = Readable.from(
          (async function* () {
            yield archive;
            await new Promise((r) => setTimeout(r, 1500));
          })(),
        );
        const [feed, exit] = await Promise.allSettled([pipeline(late, tar.stdin), tar.exit]);
        return { feed: feed.status === 'rejected' ? String(feed.reason) : 'fed', exit: exit.status };
      });
      expect(fed).toEqual({ feed: 'fed', exit: 'fulfilled' });
      expect(treeHashes(into)).toEqual(treeHashes(dir));
    } finally {
      rmSync(dir, { recursive: true, force: true });
      rmSync(into, { recursive: true, force: true });
    }
  });

  it('an archive tar refuses fails with tar\'s own words, not the stream cut when it exited', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `files-notar-${tag}.example.com`, { posts: 1 });
    // Decrypts and decompresses fine (age, zstd), but is no tar: 2 MiB of random bytes.
    const sealed = execFileSync('sh', ['-c', `head -c 2097152 /dev/urandom | zstd -q -c | age ${ctx.deps.backup.recipients.map((r) => `-r ${r}`).join(' ')}`], { maxBuffer: 64 << 20 });
    const key = `test/notar-${tag}.tar.zst.age`;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: key, Body: sealed }));
    const files = createStorageRestoreActivities(ctx.deps);
    const err = await act.run(files.extractFilesToStaging, { key, sha256: createHash('sha256').update(sealed).digest('hex'), storageHost: null, livePath: site.filesPath }).then(
      () => null,
      (e: { type?: string; message?: string }) => e,
    );
    expect(err?.type).toBe('RemoteCommandFailed');
    expect(err?.message).toMatch(/tar: This does not look like a tar archive/);
    await act.run(files.removeRestoreLeftovers, { storageHost: null, livePath: site.filesPath, which: 'staging' });
  });
});

describe('a storage node whose tar stops (SIGSTOPped: a hung disk or mount, SSH still answering)', () => {
  /** Runs `step`, stopping the remote tar `pattern` finds once it runs. */
  async function stalled(pattern: string, step: () => Promise<unknown>): Promise<{ err: { type?: string; message?: string; nonRetryable?: boolean } | null | 'late'; stoppedPid: number }> {
    let stoppedPid = 0;
    try {
      const running = step().then(() => null, (e: unknown) => e as { type?: string });
      for (let i = 0; i < 200 && !stoppedPid; i++) {
        const pid = pgrep(['-n', '-f', pattern])[0] ?? 0;
        if (pid > 0) {
          process.kill(pid, 'SIGSTOP');
          stoppedPid = pid;
        } else await new Promise((r) => setTimeout(r, 50));
      }
      // Without the watch the step waited on the stopped tar for good, heartbeating all along.
      const err = await Promise.race([running, new Promise<'late'>((r) => setTimeout(() => r('late'), 15_000))]);
      return { err, stoppedPid };
    } finally {
      if (stoppedPid) process.kill(stoppedPid, 'SIGCONT');
    }
  }

  it('a restore\'s extract and a night\'s archive fail StepStalled, retryable, within the stall bound', async () => {
    const tag = ctx.taskQueue.slice(-6);
    // Incompressible uploads larger than what the SSH channel and the pipes hold: the stream stops with the tar.
    const site = await createTestSite(ctx.deps, `${'stalled-tar-'.padEnd(57, 'x')}${tag}.example.com`, { posts: 3, uploadBytes: 48 << 20 });
    const date = '2026-11-15';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const staging = site.filesPath + STAGING_SUFFIX;
    // The production activities with the stall bound at 2 s (300 s in production).
    const stalling = { ...ctx.deps, stepStallMs: 2_000 };

    const extract = await stalled(`^tar -C ${staging} --numeric-owner -xf`, () => act.run(createStorageRestoreActivities(stalling).extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, storageHost: null, livePath: site.filesPath }));
    expect(extract.stoppedPid, 'the extract\'s tar was never seen running').toBeGreaterThan(0);
    expect(extract.err).not.toBe('late');
    const e1 = extract.err as { type?: string; message?: string; nonRetryable?: boolean };
    expect(e1?.type).toBe('StepStalled');
    expect(e1?.nonRetryable).toBeFalsy();
    expect(e1?.message).toMatch(/^extracting into .* no byte moved for 2 s/);

    const archive = await stalled(`^tar -C ${site.filesPath} --numeric-owner -cf`, () => act.run(createStorageArchiveActivities(stalling).archiveSiteFilesToSpaces, { site: site.domain, date: '2026-11-16', filesPath: site.filesPath, storageHost: null }));
    expect(archive.stoppedPid, 'the archive\'s tar was never seen running').toBeGreaterThan(0);
    expect(archive.err).not.toBe('late');
    const e2 = archive.err as { type?: string; message?: string; nonRetryable?: boolean };
    expect(e2?.type).toBe('StepStalled');
    expect(e2?.nonRetryable).toBeFalsy();
    expect(e2?.message).toMatch(/^reading .* no byte moved for 2 s/);

    // Resumed, nothing is left of them on the storage node once the stopped tars have ended; the next extract stages the files whole.
    const staged = await act.run(createStorageRestoreActivities(ctx.deps).extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, storageHost: null, livePath: site.filesPath });
    expect(treeHashes(staging)).toEqual(treeHashes(site.filesPath));
    expect(staged.liveExisted).toBe(true);
  }, 120_000);
});

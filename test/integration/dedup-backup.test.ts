/**
 * Deduplicated file backups (issue 19) on the real sshd, versitygw, Galera and age: a worker with a dedup key
 * (and here, for the nights run through siteBackupWorkflow, the restore identity too: the test worker takes every
 * queue's activities) stores a second night of a barely changed site in a few new bytes; every point restores
 * exactly (contents, modes, mtimes, empty directories, symlinks, unicode names) with the identity alone;
 * retention collects what no kept point refers to; collection never runs beside a night or a restore, and a
 * killed night's leftovers go once its lease has expired; a tar point of a worker without the key (every point
 * written before) restores on a worker with it.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createSpacesActivities } from '../../activities/spaces';
import { createStorageArchiveActivities } from '../../activities/storage-archive';
import { restoreDeduplicated } from '../../activities/lib/dedup-restore';
import { createStorageRestoreActivities, STAGING_SUFFIX } from '../../activities/storage-restore';
import { isFilesIndexKey, packKey, packsPrefix, sitePrefix } from '../../lib/backup-layout';
import { acquireWorkLease, releaseLease, tryCollectLease } from '../../lib/backup-leases';
import type { ActivityDeps } from '../../lib/clients/deps';
import { listAll } from '../../lib/restore-points';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { spawnDroverWorker } from '../helpers/cli';
import { objectBytes } from '../helpers/restore-point';
import { createTestSite } from '../helpers/sites';
import { spoolPrefix } from '../../activities/lib/restore-spool';
import { testWorker, uniqueQueue, useRunningWorker } from '../helpers/temporal';
import { scratchDir } from '../helpers/scratch';

const dedupKey = randomBytes(32);
const ctx = useRunningWorker('dedup', (d) => ({ ...d, backup: { ...d.backup, dedupKey } }));
const run = <A, R>(fn: (a: A) => Promise<R>, a: A) => new MockActivityEnvironment().run(fn, a) as Promise<R>;
/** A backup worker's deps: recipients and the dedup key, no identity. */
const backupDeps = (): ActivityDeps => ({ ...ctx.deps, backup: { recipients: ctx.deps.backup.recipients, dedupKey } });

type Node = { type: 'dir' | 'file' | 'link'; mode: number; mtime?: number; sha?: string; target?: string };
/** Everything a restore must bring back, by relative path (the root folder's own attributes excepted). */
function treeState(dir: string): Record<string, Node> {
  const out: Record<string, Node> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const p = path.join(d, name);
      const st = lstatSync(p);
      const rel = path.relative(dir, p);
      if (st.isSymbolicLink()) out[rel] = { type: 'link', mode: 0, target: readlinkSync(p) };
      else if (st.isDirectory()) {
        out[rel] = { type: 'dir', mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
        walk(p);
      } else out[rel] = { type: 'file', mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000), sha: createHash('sha256').update(readFileSync(p)).digest('hex') };
    }
  };
  walk(dir);
  return out;
}

async function storedBytes(prefix: string): Promise<number> {
  return (await listAll(ctx.deps.s3, ctx.deps.bucket, prefix)).reduce((n, o) => n + o.bytes, 0);
}

/**
 * Restores a point's files into `<copy>.drover-staging` with the restore worker's activities; returns its state. The
 * index is downloaded once (checked into the worker's spool and decrypted from there): its GETs are counted.
 */
async function restoreCopy(site: string, date: string, copy: string): Promise<Record<string, Node>> {
  const manifest = await run(createSpacesActivities(ctx.deps).readManifest, { site, date });
  expect(isFilesIndexKey(manifest.files.key)).toBe(true);
  let indexGets = 0;
  const s3 = new Proxy(ctx.deps.s3, {
    get(target, prop, receiver) {
      if (prop !== 'send') return Reflect.get(target, prop, receiver);
      return (command: { input?: { Key?: string }; constructor: { name: string } }, opts?: unknown) => {
        if (command.constructor.name === 'GetObjectCommand' && command.input?.Key === manifest.files.key) indexGets++;
        return target.send(command as never, opts as never);
      };
    },
  });
  const staged = await run(createStorageRestoreActivities({ ...ctx.deps, s3 }).extractFilesToStaging, { key: manifest.files.key, sha256: manifest.files.sha256, storageHost: null, livePath: copy });
  expect(indexGets, 'the index is downloaded once').toBe(1);
  // A copy's path has no docroot: the workflow would swap its files only after its database.
  expect(staged.liveExisted).toBe(false);
  const state = treeState(copy + STAGING_SUFFIX);
  rmSync(copy + STAGING_SUFFIX, { recursive: true, force: true });
  return state;
}

/** A production backup worker (`drover worker backup`) with the dedup key, optionally armed to die at a fault point. */
const backUp = (domain: string, date: string) =>
  ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${domain}/${date}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site: domain, point: date }] });

describe('deduplicated file backups', () => {
  const tag = () => ctx.taskQueue.slice(-6);
  const marker = `MARKER-${randomBytes(8).toString('hex')}`;
  let site: { domain: string; filesPath: string };
  const states: Record<string, Record<string, Node>> = {};

  it('a second night stores only what changed; both points restore exactly; every object is ciphertext', async () => {
    site = await createTestSite(ctx.deps, `dedup-${tag()}.example.com`, { posts: 3, uploadBytes: 64 * 1024 });
    const f = (p: string) => path.join(site.filesPath, p);
    // Production shapes: an empty folder, symlinks, a unicode name past 100 bytes, modes, old mtimes, a file of
    // several pieces.
    mkdirSync(f('wp-content/uploads/empty'), { recursive: true });
    symlinkSync('../index.php', f('wp-content/index-link.php'));
    const long = `wp-content/uploads/2024/${'фото-été-'.repeat(12)}.txt`;
    writeFileSync(f(long), `${marker} long unicode name`);
    writeFileSync(f('wp-content/uploads/big.bin'), randomBytes(9 * 1024 * 1024 + 7));
    chmodSync(f('wp-config.php'), 0o640);
    utimesSync(f(long), new Date('2019-05-06T07:08:09Z'), new Date('2019-05-06T07:08:09Z'));
    utimesSync(f('wp-content/uploads/empty'), new Date('2020-01-02T03:04:05Z'), new Date('2020-01-02T03:04:05Z'));
    states.first = treeState(site.filesPath);

    const first = await backUp(site.domain, '2026-11-01');
    expect(isFilesIndexKey(first.manifest!.files.key)).toBe(true);
    const afterFirst = await storedBytes(packsPrefix(site.domain));
    expect(afterFirst).toBeGreaterThan(9 * 1024 * 1024);

    // The second night: one small file edited, one added, one removed; the 9 MiB file unchanged.
    writeFileSync(f('wp-content/uploads/new.bin'), randomBytes(100 * 1024));
    writeFileSync(f('wp-config.php'), readFileSync(f('wp-config.php'), 'utf8') + '\n// edited\n');
    rmSync(f('wp-content/uploads/2024/01/photo-1.jpg'));
    states.second = treeState(site.filesPath);
    await backUp(site.domain, '2026-11-02');
    const added = (await storedBytes(packsPrefix(site.domain))) - afterFirst;
    expect(added).toBeGreaterThan(100 * 1024);
    expect(added).toBeLessThan(100 * 1024 + 16 * 1024);

    // A backup worker (no identity) on an unchanged site: no new piece, only the index.
    const third = await run(createStorageArchiveActivities(backupDeps()).archiveSiteFilesToSpaces, { site: site.domain, date: '2026-11-03', filesPath: site.filesPath, storageHost: null });
    expect(third.dedup).toMatchObject({ newPieces: 0, newPacks: 0 });
    expect(third.dedup!.storedBytes).toBeLessThan(16 * 1024);
    // The point's size (its index and the packs it uses) is what the backup-size metrics see, as for a tar point.
    expect(third.bytes).toBeGreaterThan(9 * 1024 * 1024);

    expect(await restoreCopy(site.domain, '2026-11-01', `${site.filesPath}-copy`)).toEqual(states.first);
    expect(await restoreCopy(site.domain, '2026-11-02', `${site.filesPath}-copy`)).toEqual(states.second);

    // Everything stored is ciphertext: age, or refs sealed with the dedup key's derived key; no name or content.
    for (const o of await listAll(ctx.deps.s3, ctx.deps.bucket, sitePrefix(site.domain))) {
      const bytes = await objectBytes(ctx.deps, o.key);
      const head = bytes.subarray(0, 21).toString();
      expect(head === 'age-encryption.org/v1' || head.startsWith('drover-refs-v1\n'), o.key).toBe(true);
      for (const plain of [marker, 'wp-config', 'photo-', 'CREATE TABLE']) expect(bytes.includes(plain), `${o.key} holds "${plain}"`).toBe(false);
    }
  });

  it('the second point restores the same with one pack at a time and with several, and leaves no pack file behind', async () => {
    const manifest = await run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date: '2026-11-02' });
    const packFolders = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith(spoolPrefix('packs')));
    const before = packFolders();
    // Concurrency 1 with the fetch window: packs strictly in the order needed; 3 and 8 at once (8: as many as the
    // point has).
    for (const concurrency of [1, 3, 8]) {
      const dir = scratchDir('dedup-packs-');
      try {
        const tar = spawn('tar', ['-C', dir, '--numeric-owner', '-xf', '-'], { stdio: ['pipe', 'ignore', 'pipe'] });
        const exit = new Promise<void>((resolve, reject) => tar.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`tar exited ${code}`)))));
        const out = await restoreDeduplicated({ s3: ctx.deps.s3, bucket: ctx.deps.bucket, indexKey: manifest.files.key, indexSha256: manifest.files.sha256, identityFile: ctx.deps.backup.identityFile!, sink: tar.stdin, sinkExit: exit, concurrency });
        expect(out.packs, 'the second point uses packs of both nights').toBeGreaterThan(1);
        expect(treeState(dir), `${concurrency} at a time`).toEqual(states.second);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
    expect(packFolders(), 'decrypted packs are removed').toEqual(before);
  });

  it('retention deletes a point and collects the packs only it referred to; every kept point still restores', async () => {
    // A point with data of its own (an upload removed later), dated so that retention deletes it.
    writeFileSync(path.join(site.filesPath, 'wp-content/uploads/short-lived.bin'), randomBytes(300 * 1024));
    await backUp(site.domain, '2025-06-15');
    rmSync(path.join(site.filesPath, 'wp-content/uploads/short-lived.bin'));
    // A newer complete point, so that the old one is not among the newest three that are always kept.
    await backUp(site.domain, '2026-11-10');
    const before = await storedBytes(packsPrefix(site.domain));

    const [r] = await run(createSpacesActivities(ctx.deps).applyRetention, { sites: [site.domain], now: '2026-11-20' });
    // The unchanged night above ran its archive only (no manifest): an incomplete point, stale by now.
    expect([...r.deleted].sort()).toEqual(['2025-06-15', '2026-11-03']);
    expect(r.collected).toMatchObject({ deletedPacks: 1 });
    const freed = before - (await storedBytes(packsPrefix(site.domain)));
    expect(freed).toBeGreaterThan(300 * 1024);
    expect(freed).toBeLessThan(300 * 1024 + 16 * 1024);

    expect(await restoreCopy(site.domain, '2026-11-01', `${site.filesPath}-copy`)).toEqual(states.first);
    expect(await restoreCopy(site.domain, '2026-11-02', `${site.filesPath}-copy`)).toEqual(states.second);
  });

  it("collection never runs beside a night or a restore; a killed night's leftovers go once its lease expires", async () => {
    const spaces = createSpacesActivities(ctx.deps);
    const orphan = packKey(site.domain, 'killed0night0');
    // A night killed after storing a pack and before its refs: the pack and the night's lease are left behind.
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: orphan, Body: Buffer.concat([Buffer.from('age-encryption.org/v1\n'), randomBytes(1000)]) }));
    const killed = await acquireWorkLease(ctx.deps.galera, site.domain, 'night', 'killed worker');
    expect(await run(spaces.collectUnreferencedPacks, { site: site.domain })).toEqual({ skipped: expect.stringMatching(/in use: night killed worker/) });
    expect((await listAll(ctx.deps.s3, ctx.deps.bucket, orphan)).length).toBe(1);

    // A restore in progress holds collection back the same way.
    const restoring = await acquireWorkLease(ctx.deps.galera, site.domain, 'restore', 'a restore');
    // The killed night's lease expires (its holder never renews it again).
    await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), 'UPDATE drover_meta.backup_leases SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE id = ?', [killed.id]);
    expect(await run(spaces.collectUnreferencedPacks, { site: site.domain })).toEqual({ skipped: expect.stringMatching(/in use: restore a restore/) });
    await releaseLease(ctx.deps.galera, restoring);

    // A collection in progress: a night and a restore wait (BackupBusy, retried), storing and reading nothing.
    const collecting = await tryCollectLease(ctx.deps.galera, site.domain, 'a collection');
    expect(collecting.lease).not.toBeNull();
    const packsBefore = await listAll(ctx.deps.s3, ctx.deps.bucket, packsPrefix(site.domain));
    writeFileSync(path.join(site.filesPath, 'wp-content/uploads/during-collection.bin'), randomBytes(10 * 1024));
    const night = await run(createStorageArchiveActivities(backupDeps()).archiveSiteFilesToSpaces, { site: site.domain, date: '2026-11-04', filesPath: site.filesPath, storageHost: null }).then(
      () => null,
      (e: { type?: string; nonRetryable?: boolean }) => e,
    );
    expect(night).toMatchObject({ type: 'BackupBusy', nonRetryable: false });
    const restore = await restoreCopy(site.domain, '2026-11-01', `${site.filesPath}-copy`).then(
      () => null,
      (e: { type?: string }) => e,
    );
    expect(restore?.type).toBe('BackupBusy');
    expect(await listAll(ctx.deps.s3, ctx.deps.bucket, packsPrefix(site.domain))).toEqual(packsBefore);
    await releaseLease(ctx.deps.galera, collecting.lease!);

    // With no lease left, the killed night's pack goes; the referenced ones stay and every point restores.
    expect(await run(spaces.collectUnreferencedPacks, { site: site.domain })).toEqual({ deletedPacks: 1, keptPacks: packsBefore.length - 1 });
    expect(await restoreCopy(site.domain, '2026-11-01', `${site.filesPath}-copy`)).toEqual(states.first);
    expect(await restoreCopy(site.domain, '2026-11-02', `${site.filesPath}-copy`)).toEqual(states.second);
  });

  it('a backup worker killed after storing a pack: the retried night completes and restores exactly; the dead attempt\'s pack is collected once its lease expires', async () => {
    const crashed = await createTestSite(ctx.deps, `dcrash-${tag()}.example.com`, { posts: 3, uploadBytes: 16 * 1024 });
    writeFileSync(path.join(crashed.filesPath, 'wp-content/uploads/video.bin'), randomBytes(10 * 1024 * 1024));
    const state = treeState(crashed.filesPath);
    const keyFile = path.join(scratchDir('dedup-key-'), 'key');
    writeFileSync(keyFile, dedupKey, { mode: 0o600 });

    let w = spawnDroverWorker('backup', { DROVER_BACKUP_DEDUP_KEY_FILE: keyFile, DROVER_FAULT_CRASH_AT: 'archiveDeduplicated:pack-stored' });
    try {
      const handle = await ctx.tw.client.workflow.start(siteBackupWorkflow, {
        workflowId: `backup/${crashed.domain}/2026-11-05/${ctx.taskQueue}`,
        taskQueue: TASK_QUEUES.backup,
        args: [{ site: crashed.domain, point: '2026-11-05', timeouts: { heartbeat: '3s' } }],
      });
      await w.exited;
      expect(w.stderr()).toContain('crashing at archiveDeduplicated:pack-stored');
      const orphans = await listAll(ctx.deps.s3, ctx.deps.bucket, packsPrefix(crashed.domain));
      expect(orphans.length).toBeGreaterThan(0);

      w = spawnDroverWorker('backup', { DROVER_BACKUP_DEDUP_KEY_FILE: keyFile });
      expect((await handle.result()).status).toBe('created');
      expect(await restoreCopy(crashed.domain, '2026-11-05', `${crashed.filesPath}-copy`)).toEqual(state);

      // The dead attempt's lease holds collection back until it expires; then its pack goes, the point still restores.
      const spaces = createSpacesActivities(ctx.deps);
      expect(await run(spaces.collectUnreferencedPacks, { site: crashed.domain })).toEqual({ skipped: expect.stringMatching(/in use: night/) });
      await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), 'UPDATE drover_meta.backup_leases SET expires_at = NOW(3) - INTERVAL 1 SECOND WHERE site = ?', [crashed.domain]);
      const collected = await run(spaces.collectUnreferencedPacks, { site: crashed.domain });
      expect(collected).toMatchObject({ deletedPacks: orphans.length });
      expect(await restoreCopy(crashed.domain, '2026-11-05', `${crashed.filesPath}-copy`)).toEqual(state);
    } finally {
      await w.stop();
    }
  });

  it('restoreSiteWorkflow restores a deduplicated point over the live site exactly; its safety point is deduplicated too', async () => {
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // hacked');
    rmSync(path.join(site.filesPath, 'wp-content/uploads/big.bin'));
    const r = await ctx.tw.client.workflow.execute(restoreSiteWorkflow, { workflowId: `restore/${site.domain}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-02' }] });
    expect(r.safetyPoint).toMatch(/^safety\//);
    expect(treeState(site.filesPath)).toEqual(states.second);
    const safety = await run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date: r.safetyPoint! });
    expect(isFilesIndexKey(safety.files.key)).toBe(true);
  });

  it('a tar point written before deduplication (a worker without the key) restores exactly on a worker with it; the next write is deduplicated', async () => {
    const old = await createTestSite(ctx.deps, `dtar-${tag()}.example.com`, { posts: 3, uploadBytes: 16 * 1024 });
    const state = treeState(old.filesPath);
    // The night as workers wrote it before the key was given: the test environment's worker has none.
    const keylessQueue = uniqueQueue('dedup-keyless');
    const keyless = await testWorker(ctx.tw, { taskQueue: keylessQueue });
    try {
      expect(keyless.deps.backup.dedupKey).toBeUndefined();
      await keyless.worker.runUntil(ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${old.domain}/2026-10-30/${ctx.taskQueue}`, taskQueue: keylessQueue, args: [{ site: old.domain, point: '2026-10-30' }] }));
    } finally {
      await keyless.close();
    }
    const spaces = createSpacesActivities(ctx.deps);
    expect((await spaces.readManifest({ site: old.domain, date: '2026-10-30' })).files.key).toMatch(/\/files\.[0-9a-f]+\.tar\.zst\.age$/);

    writeFileSync(path.join(old.filesPath, 'wp-config.php'), '<?php // hacked');
    const r = await ctx.tw.client.workflow.execute(restoreSiteWorkflow, { workflowId: `restore/${old.domain}/${ctx.taskQueue}`, taskQueue: ctx.taskQueue, args: [{ site: old.domain, point: '2026-10-30' }] });
    expect(treeState(old.filesPath)).toEqual(state);
    // The safety point, the first write of the site by a worker with the key, is deduplicated.
    expect(isFilesIndexKey((await spaces.readManifest({ site: old.domain, date: r.safetyPoint! })).files.key)).toBe(true);
  });

  it('a pack altered in the bucket fails the restore (age or the SHA-256 notices), permanently', async () => {
    // The largest pack holds the 9 MiB upload: point 2026-11-02 uses it.
    const [pack] = (await listAll(ctx.deps.s3, ctx.deps.bucket, packsPrefix(site.domain))).sort((a, b) => b.bytes - a.bytes);
    const original = await objectBytes(ctx.deps, pack.key);
    const altered = Buffer.from(original);
    altered[altered.length - 100] ^= 0x80;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: pack.key, Body: altered }));
    try {
      const err = await restoreCopy(site.domain, '2026-11-02', `${site.filesPath}-copy`).then(
        () => null,
        (e: { type?: string; nonRetryable?: boolean }) => e,
      );
      expect(['BackupCorrupted', 'DecryptionFailed']).toContain(err?.type);
      expect(err?.nonRetryable).toBe(true);
    } finally {
      await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: pack.key, Body: original }));
    }
    expect(await restoreCopy(site.domain, '2026-11-02', `${site.filesPath}-copy`)).toEqual(states.second);
  });
});

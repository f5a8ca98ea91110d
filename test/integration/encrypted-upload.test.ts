/**
 * Encrypted objects in and out of the bucket.
 * - A dump that finishes before the upload reads it. Node discards a child process's unread stdout when the child
 *   exits, so a source must be read from the moment the upload is called, not after its first round trip: a small
 *   database dumped while stale uploads of a crashed attempt were being aborted came out as an empty object.
 * - A download of an object that is not there (plain, and a deduplicated point's index).
 * - A deduplicated pack fetched outside Node (drover-packs, one process for a restore's packs, no program started
 *   per pack): exact, each failure classified, the transient ones retried (against a misbehaving endpoint), the
 *   fetcher killed from outside failing its jobs at once, a full worker disk never taken for a corrupt pack, the
 *   fetcher at nice 10 (the database load beside it first).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable, Writable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { CreateMultipartUploadCommand, DeleteObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { restoreDeduplicated } from '../../activities/lib/dedup-restore';
import { decryptObjectTo } from '../../activities/lib/encrypted-download';
import { uploadEncrypted } from '../../activities/lib/encrypted-upload';
import { startPackFetcher, type PackFetcher } from '../../activities/lib/pack-fetch';
import { spoolPrefix } from '../../activities/lib/restore-spool';
import { testEnv } from '../helpers/temporal';
import { createSpacesClient } from '../../lib/clients/spaces-client';
import { freezeS3 } from '../helpers/frozen';
import { pgrep } from '../helpers/pgrep';
import { scratchDir } from '../helpers/scratch';

const deps = createActivityDeps(testEnv());
afterAll(() => closeActivityDeps(deps));

/**
 * Runs `fn` with a pack fetcher whose `programs` are wrapped (first on its PATH): each wrapper runs `record(program,
 * log)` (bash lines appending to the log file) and then the real program. Returns the log's lines.
 */
async function withWrappedFetcher(programs: string[], record: (program: string, log: string) => string, fn: (fetcher: PackFetcher, dir: string) => Promise<void>): Promise<string[]> {
  const dir = scratchDir('pack-fetch-');
  const bin = scratchDir('pack-fetch-bin-');
  const log = path.join(bin, 'log');
  for (const program of programs) {
    const real = spawnSync('bash', ['-c', `command -v ${program}`], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(path.join(bin, program), `#!/bin/bash\n${record(program, log)}\nexec ${real} "$@"\n`, { mode: 0o755 });
  }
  const pathBefore = process.env.PATH;
  process.env.PATH = `${bin}:${pathBefore}`;
  let fetcher: PackFetcher | undefined;
  try {
    fetcher = startPackFetcher({ s3: deps.s3, bucket: deps.bucket, identityFile: deps.backup.identityFile!, dir });
    process.env.PATH = pathBefore;
    await fn(fetcher, dir);
    return existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : [];
  } finally {
    process.env.PATH = pathBefore;
    await fetcher?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(bin, { recursive: true, force: true });
  }
}

describe('uploadEncrypted', () => {
  it('keeps every byte of a source process that exits before the upload starts reading', async () => {
    const key = `test/early-exit/${process.pid}-${Date.now()}/database.sql.zst.age`;
    // Orphaned multipart uploads of a crashed attempt: the upload aborts them first (a few round trips).
    for (let i = 0; i < 10; i++) await deps.s3.send(new CreateMultipartUploadCommand({ Bucket: deps.bucket, Key: key }));
    const text = Array.from({ length: 200 }, (_, i) => `INSERT INTO wp_posts VALUES (${i}, 'Grüße ${i}');`).join('\n') + '\n';
    // A tiny dump: written and exited at once, as mariadb-dump does for a small site.
    const dump = spawn('printf', ['%s', text], { stdio: ['ignore', 'pipe', 'pipe'] });
    const dumpExit = new Promise<void>((resolve, reject) => dump.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`printf exited ${code}`)))));
    const r = await uploadEncrypted({ s3: deps.s3, bucket: deps.bucket, key, source: dump.stdout, sourceExit: dumpExit, recipients: deps.backup.recipients });
    expect(r.plainBytes).toBe(Buffer.byteLength(text));
  });
});

describe('decryptObjectTo', () => {
  // A site never backed up has no manifest. The download used to start age | zstd before asking for the object, and
  // the chain, killed when the request failed, rejected where nobody waited: an unhandled rejection in the worker.
  it('fails with ObjectNotFound for a missing object, ends its sink and leaves no rejection unhandled', async () => {
    const unhandled: unknown[] = [];
    const onUnhandled = (reason: unknown) => unhandled.push(reason);
    process.on('unhandledRejection', onUnhandled);
    try {
      const key = `sites/never-backed-up-${process.pid}-${Date.now()}.example/2026-11-30/manifest.json.age`;
      // The sink's consumer (mariadb, a remote tar) ends after the request has failed: its exit is the caller's
      // to report, never an unhandled rejection.
      const sink = new PassThrough();
      const sinkExit = new Promise<void>((_, reject) => setTimeout(() => reject(new Error('consumer ended')), 1500));
      const err = await decryptObjectTo({ s3: deps.s3, bucket: deps.bucket, key, identityFile: deps.backup.identityFile!, sink, sinkExit }).catch((e: unknown) => e);
      expect((err as { type?: string }).type).toBe('ObjectNotFound');
      expect(sink.destroyed).toBe(true);
      // The same for a deduplicated point whose index is missing: the remote tar fed by the sink is not left waiting.
      const dedupSink = new PassThrough();
      const dedupExit = new Promise<void>((_, reject) => setTimeout(() => reject(new Error('consumer ended')), 1500));
      const dedupErr = await restoreDeduplicated({ s3: deps.s3, bucket: deps.bucket, indexKey: key.replace('manifest.json', 'files.index.json'), indexSha256: '0'.repeat(64), identityFile: deps.backup.identityFile!, sink: dedupSink, sinkExit: dedupExit }).catch((e: unknown) => e);
      expect((dedupErr as { type?: string }).type).toBe('ObjectNotFound');
      expect(dedupSink.destroyed).toBe(true);
      // A killed chain's exit arrives within milliseconds; give it ample time.
      await sleep(2000);
      expect(unhandled.map(String)).toEqual([]);
    } finally {
      process.off('unhandledRejection', onUnhandled);
    }
  });

  it('a store that stops answering mid-download (the S3 server SIGSTOPped after the first MiB) fails StorageUnavailable, retryable, within the client idle bound', async () => {
    // The production client with its idle bound shortened to 1 s (5 minutes in production).
    const IDLE = 1_000;
    const e = testEnv();
    const s3 = createSpacesClient({ endpoint: e.DROVER_S3_ENDPOINT, region: e.DROVER_S3_REGION, accessKeyId: e.DROVER_S3_ACCESS_KEY_ID, secretAccessKey: e.DROVER_S3_SECRET_ACCESS_KEY, bucket: e.DROVER_S3_BUCKET, forcePathStyle: true }, { idleTimeoutMs: IDLE });
    const key = `test/stalled-download/${process.pid}-${Date.now()}`;
    // Incompressible and far larger than the sockets' and pipes' buffers: the store is stopped with most of it unsent.
    await uploadEncrypted({ s3: deps.s3, bucket: deps.bucket, key, exactKey: true, source: Readable.from([randomBytes(64 << 20)]), recipients: deps.backup.recipients });
    let resume: (() => void) | undefined;
    let got = 0;
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        got += chunk.length;
        if (!resume && got > 1 << 20) resume = freezeS3();
        done();
      },
    });
    let err: { type?: string; message?: string; nonRetryable?: boolean } | 'late' | null;
    try {
      err = await Promise.race([decryptObjectTo({ s3, bucket: deps.bucket, key, identityFile: deps.backup.identityFile!, sink }).then(() => null, (x: unknown) => x as { type?: string }), sleep(IDLE + 15_000).then(() => 'late' as const)]);
    } finally {
      resume?.();
      s3.destroy();
      await deps.s3.send(new DeleteObjectCommand({ Bucket: deps.bucket, Key: key })).catch(() => undefined);
    }
    expect(resume, 'the store was never stopped: the download did not start').toBeDefined();
    expect(got).toBeLessThan(64 << 20);
    expect(err).not.toBe('late');
    expect(err).not.toBeNull();
    const f = err as { type?: string; message?: string; nonRetryable?: boolean };
    expect(f.type).toBe('StorageUnavailable');
    expect(f.nonRetryable).toBeFalsy();
    expect(f.message).toMatch(/timed out after 1000 ms of inactivity/);
  });
});

describe('startPackFetcher', () => {
  it('writes the decrypted pack, and classifies a missing pack, a SHA-256 mismatch, a wrong key and a corrupt frame', async () => {
    const dir = scratchDir('pack-fetch-');
    const base = `test/pack-fetch/${process.pid}-${Date.now()}`;
    const upload = async (key: string, plain: Buffer) => {
      const r = await uploadEncrypted({ s3: deps.s3, bucket: deps.bucket, key, exactKey: true, source: Readable.from([plain]), recipients: deps.backup.recipients });
      return r.sha256;
    };
    const typeOf = (p: Promise<unknown>) => p.then(() => 'ok', (e: { type?: string }) => e.type);
    try {
      const plain = randomBytes(3 * 1024 * 1024 + 17);
      const sha256 = await upload(`${base}/pack`, plain);
      const out = path.join(dir, '1');
      const fetcher = startPackFetcher({ s3: deps.s3, bucket: deps.bucket, identityFile: deps.backup.identityFile!, dir });
      await fetcher.fetch({ key: `${base}/pack`, sha256, name: '1' });
      expect(readFileSync(out).equals(plain)).toBe(true);
      // Beside each pack: its job's response headers, stderr and SHA-256 (the restore's folder takes them away).
      const packs = () => readdirSync(dir).filter((n) => !/\.(hdr|err|sum)$/.test(n));
      expect(packs()).toEqual(['1']);

      const fetch = (key: string, sum: string, f = fetcher) => typeOf(f.fetch({ key, sha256: sum, name: '2' }));
      expect(await fetch(`${base}/no-such-pack`, sha256)).toBe('ObjectNotFound');
      expect(await fetch(`${base}/pack`, '0'.repeat(64))).toBe('BackupCorrupted');
      expect(packs(), 'a pack whose SHA-256 is wrong leaves nothing decrypted').toEqual(['1']);
      const otherKey = path.join(dir, 'other.key');
      writeFileSync(otherKey, spawnSync('age-keygen', { encoding: 'utf8' }).stdout, { mode: 0o600 });
      const otherFetcher = startPackFetcher({ s3: deps.s3, bucket: deps.bucket, identityFile: otherKey, dir });
      expect(await fetch(`${base}/pack`, sha256, otherFetcher)).toBe('DecryptionFailed');
      await otherFetcher.close();
      // Encrypted fine, but not zstd inside: a corrupt frame.
      const notZstd = spawnSync('age', ['-r', deps.backup.recipients[0]], { input: randomBytes(4096) }).stdout;
      await deps.s3.send(new PutObjectCommand({ Bucket: deps.bucket, Key: `${base}/not-zstd`, Body: notZstd }));
      expect(await fetch(`${base}/not-zstd`, createHash('sha256').update(notZstd).digest('hex'))).toBe('BackupCorrupted');
      // Jobs at once, as a restore runs them: each its own outcome.
      const many = await Promise.all([0, 1, 2, 3, 4, 5].map((i) => typeOf(fetcher.fetch({ key: i % 2 ? `${base}/gone-${i}` : `${base}/pack`, sha256, name: String(10 + i) }))));
      expect(many).toEqual(['ok', 'ObjectNotFound', 'ok', 'ObjectNotFound', 'ok', 'ObjectNotFound']);
      for (const i of [0, 2, 4]) expect(readFileSync(path.join(dir, String(10 + i))).equals(plain)).toBe(true);
      await fetcher.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('packs are fetched, checked and decrypted in the one fetcher process: no program is started per pack', async () => {
    // The programs the shell fetcher before it started (an age and a zstd per pack, a curl and an openssl per four)
    // wrapped to record any start: each start costs a restore CPU, and a restore fetches hundreds of packs. Packs of
    // the shapes a restore fetches: a full one of incompressible uploads (8 MiB and more), one of PHP-like sources,
    // one of a single byte (the last pack of a point may hold one small file); each asked for three times, at once.
    const prefix = `test/pack-fetch/${process.pid}-${Date.now()}`;
    const shapes = [randomBytes(8 * 1024 * 1024 + 3), Buffer.from('<?php\n// ünïcode\n'.repeat(60_000)), Buffer.from('x')];
    const packs = await Promise.all(
      shapes.map(async (plain, i) => {
        const key = `${prefix}/shape-${i}`;
        const { sha256 } = await uploadEncrypted({ s3: deps.s3, bucket: deps.bucket, key, exactKey: true, source: Readable.from([plain]), recipients: deps.backup.recipients });
        return { key, sha256, plain };
      }),
    );
    const started = await withWrappedFetcher(['curl', 'openssl', 'age', 'zstd', 'tee'], (program, log) => `echo ${program} >> ${log}`, async (fetcher, dir) => {
      const jobs = [...Array(9).keys()].map((i) => ({ name: String(20 + i), pack: packs[i % packs.length] }));
      await Promise.all(jobs.map(({ name, pack }) => fetcher.fetch({ key: pack.key, sha256: pack.sha256, name })));
      for (const { name, pack } of jobs) expect(readFileSync(path.join(dir, name)).equals(pack.plain)).toBe(true);
      // Nothing but the packs is left: no ciphertext was written beside them.
      expect(readdirSync(dir).sort()).toEqual(jobs.map((j) => j.name).sort());
    });
    expect(started).toEqual([]);
  });

  it('the fetcher runs at nice 10, its session\'s autogroup too: the database load beside it comes first', async () => {
    // Where the kernel groups by session (the root cgroup, as here), a process's own nice counts only within its
    // session, the autogroup's between sessions.
    const key = `test/pack-fetch/${process.pid}-${Date.now()}/niced`;
    const plain = Buffer.from('<?php\n// ünïcode\n'.repeat(20_000));
    const { sha256 } = await uploadEncrypted({ s3: deps.s3, bucket: deps.bucket, key, exactKey: true, source: Readable.from([plain]), recipients: deps.backup.recipients });
    const dir = scratchDir('pack-fetch-niced-');
    const fetcher = startPackFetcher({ s3: deps.s3, bucket: deps.bucket, identityFile: deps.backup.identityFile!, dir });
    try {
      await fetcher.fetch({ key, sha256, name: '1' });
      expect(readFileSync(path.join(dir, '1')).equals(plain)).toBe(true);
      const [pid] = pgrep(['-P', String(process.pid)]).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').split('\0')[0].endsWith('/drover-packs'));
      expect(pid, 'the fetcher, this process\'s child').toBeGreaterThan(0);
      // The 19th field of /proc/<pid>/stat, after the command's closing parenthesis.
      const nice = () => Number(readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')[16]);
      expect(nice()).toBe(10);
      if (existsSync('/proc/self/autogroup')) {
        const group = () => readFileSync(`/proc/${pid}/autogroup`, 'utf8').trim();
        // Written in the background by the shell before it became the fetcher (retried: see cpu-yield.ts).
        for (let i = 0; i < 40 && !group().endsWith('nice 10'); i++) await sleep(50);
        expect(group()).toMatch(/ nice 10$/);
        expect(group().split(' ')[0], 'the fetcher leads a session of its own').not.toBe(readFileSync('/proc/self/autogroup', 'utf8').split(' ')[0]);
      }
    } finally {
      await fetcher.close();
    }
  });

  it('retries what may pass (a 503, a redirect, a transfer cut short) three times and never takes such a body for the pack', async () => {
    // An S3 endpoint that misbehaves on purpose: the failures a real one has on a bad day.
    const hits = new Map<string, number>();
    const server = createServer((req, res) => {
      const name = req.url!.split('?')[0].split('/').pop()!;
      hits.set(name, (hits.get(name) ?? 0) + 1);
      if (name === 'busy') return res.writeHead(503, { 'retry-after': '0' }).end('<Error><Code>SlowDown</Code></Error>');
      if (name === 'moved') return res.writeHead(301, { location: 'http://127.0.0.1:1/elsewhere' }).end('<Error><Code>PermanentRedirect</Code></Error>');
      res.writeHead(200, { 'content-length': '100000' });
      res.flushHeaders();
      res.write(Buffer.alloc(1000));
      setTimeout(() => res.destroy(), 50);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = scratchDir('pack-fetch-');
    const s3 = new S3Client({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
    const fetcher = startPackFetcher({ s3, bucket: 'b', identityFile: deps.backup.identityFile!, dir, retryDelayMs: 10 });
    try {
      const failed = (key: string) => fetcher.fetch({ key, sha256: '0'.repeat(64), name: '1' }).then(() => ({ type: 'ok', message: '' }), (e: { type?: string; message: string }) => e);
      expect((await failed('busy')).type).toBe('StorageThrottled');
      expect((await failed('moved')).type).toBe('StorageUnavailable');
      const cut = await failed('cut');
      expect(cut.type).toBe('StorageUnavailable');
      expect(cut.message, "the transfer's own words, not a status").toMatch(/fetch: (unexpected EOF|the transfer ended after 1000 of 100000 bytes)/);
      expect(Object.fromEntries(hits)).toEqual({ busy: 3, moved: 3, cut: 3 });
      expect(readdirSync(dir).filter((n) => n === '1'), 'nothing decrypted is left').toEqual([]);
    } finally {
      await fetcher.close();
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a restore worker without drover-packs fails ConfigMissing, permanent, before downloading anything or making a folder', async () => {
    const saved = { PATH: process.env.PATH, DROVER_BIN_DIR: process.env.DROVER_BIN_DIR };
    const packFolders = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith(spoolPrefix('packs')));
    const before = packFolders();
    process.env.PATH = '/usr/bin:/bin';
    process.env.DROVER_BIN_DIR = scratchDir('no-packs-');
    try {
      // An index key that does not exist: reached, it would fail ObjectNotFound instead.
      const err = await restoreDeduplicated({ s3: deps.s3, bucket: deps.bucket, indexKey: `test/no-such/${process.pid}/files.index.json`, indexSha256: '0'.repeat(64), identityFile: deps.backup.identityFile!, sink: new PassThrough() }).then(
        () => null,
        (e: { type?: string; nonRetryable?: boolean; message: string }) => e,
      );
      expect(err).toMatchObject({ type: 'ConfigMissing', nonRetryable: true });
      expect(err?.message).toMatch(/drover-packs is not installed/);
      expect(packFolders()).toEqual(before);
    } finally {
      process.env.PATH = saved.PATH;
      if (saved.DROVER_BIN_DIR === undefined) delete process.env.DROVER_BIN_DIR;
      else process.env.DROVER_BIN_DIR = saved.DROVER_BIN_DIR;
    }
  });

  it('a transfer trickling under 1 KiB a second is given up (the stall bound, shortened here to 2 s) and retried, never waited on', async () => {
    // 600 bytes a second: over 1 KiB within every 2 s (what a watchdog reset by each KiB would let run for the 29
    // minutes of this 1 MiB body), under 1 KiB a second on average (curl's --speed-limit 1024, which the fetcher keeps).
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      const trickle = setInterval(() => res.write(Buffer.alloc(60)), 100);
      res.on('close', () => clearInterval(trickle));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = scratchDir('pack-fetch-slow-');
    const s3 = new S3Client({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
    const fetcher = startPackFetcher({ s3, bucket: 'b', identityFile: deps.backup.identityFile!, dir, retryDelayMs: 10, stallSeconds: 2 });
    try {
      const started = Date.now();
      const err = await fetcher.fetch({ key: 'slow', sha256: '0'.repeat(64), name: '1' }).then(() => null, (e: { type?: string; message: string }) => e);
      expect(err?.type).toBe('StorageUnavailable');
      expect(err?.message).toMatch(/under 1024 bytes a second over 2s: transfer given up/);
      expect(hits, 'three attempts').toBe(3);
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(readdirSync(dir).filter((n) => n === '1'), 'nothing taken for the pack').toEqual([]);
    } finally {
      await fetcher.close();
      server.closeAllConnections();
      server.close();
    }
  }, 60_000);

  it('the fetcher killed from outside mid-transfer (the OOM killer) fails its jobs at once, retryable, never waited on', async () => {
    // A pack whose GET sends a little and then hangs, as a transfer does when the fetcher is killed and nothing will
    // ever report its outcome.
    let hits = 0;
    const server = createServer((_req, res) => {
      hits++;
      res.writeHead(200, { 'content-length': String(1024 * 1024) });
      res.write(Buffer.alloc(4096));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const dir = scratchDir('pack-fetch-killed-');
    const s3 = new S3Client({ endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'k', secretAccessKey: 's' } });
    const fetcher = startPackFetcher({ s3, bucket: 'b', identityFile: deps.backup.identityFile!, dir, retryDelayMs: 10 });
    try {
      const fetched = fetcher.fetch({ key: 'pack', sha256: '0'.repeat(64), name: '7' }).then(() => null, (e: { type?: string; nonRetryable?: boolean; message: string }) => e);
      while (hits < 1) await sleep(20);
      const [pid] = pgrep(['-P', String(process.pid)]).filter((p) => readFileSync(`/proc/${p}/cmdline`, 'utf8').includes('drover-packs'));
      expect(pid, 'the fetcher').toBeGreaterThan(0);
      process.kill(pid, 'SIGKILL');
      const err = await Promise.race([fetched, sleep(10_000).then(() => 'still waiting after 10 s')]);
      expect(err).toMatchObject({ type: 'WorkerProcessKilled', nonRetryable: false });
      expect((err as { message: string }).message).toMatch(/drover-packs was killed \(SIGKILL\)/);
      // Not taken for a pack, and the fetcher takes no more jobs: the restore's next attempt starts a new one.
      expect(existsSync(path.join(dir, '7'))).toBe(false);
      expect(await fetcher.fetch({ key: 'pack', sha256: '0'.repeat(64), name: '8' }).then(() => 'ok', (e: { type?: string }) => e.type)).toBe('WorkerProcessKilled');
    } finally {
      await fetcher.close();
      server.closeAllConnections();
      server.close();
    }
  }, 60_000);

  it("a full disk on the restore worker is the worker's fault (WorkerDiskFull, retried), never a corrupt pack", async () => {
    const dir = scratchDir('pack-fetch-full-');
    // A 1 MiB file system for a 3 MiB pack.
    spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', dir], { stdio: 'inherit' });
    try {
      const plain = randomBytes(3 * 1024 * 1024);
      const key = `test/pack-fetch/${process.pid}-${Date.now()}/full`;
      const r = await uploadEncrypted({ s3: deps.s3, bucket: deps.bucket, key, exactKey: true, source: Readable.from([plain]), recipients: deps.backup.recipients });
      const fetcher = startPackFetcher({ s3: deps.s3, bucket: deps.bucket, identityFile: deps.backup.identityFile!, dir });
      const err = await fetcher.fetch({ key, sha256: r.sha256, name: '1' }).then(() => null, (e: { type?: string; nonRetryable?: boolean }) => e);
      await fetcher.close();
      expect(err?.type).toBe('WorkerDiskFull');
      expect(err?.nonRetryable).toBe(false);
    } finally {
      spawnSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

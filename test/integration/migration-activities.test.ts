/**
 * The migration's steps up to a staged, rewritten database (issue 15), each activity run for real (in
 * MockActivityEnvironment, so heartbeats and cancellation are the SDK's) against a real old host (its own sshd
 * and MariaDB, a MySQL 8-looking dump), the farm's Galera and the storage node's sshd. PHP judges the values.
 */
import { createHash } from 'node:crypto';
import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { MockActivityEnvironment } from '@temporalio/testing';
import type { RowDataPacket } from 'mysql2/promise';
import { describe, expect, it, vi } from 'vitest';
import { createMigrationFilesActivities } from '../../activities/migration-files';
import { pgrep } from '../helpers/pgrep';
import { createMigrationSourceActivities } from '../../activities/migration-source';
import { createMigrationStagingActivities } from '../../activities/migration-staging';
import type { SourceRef } from '../../activities/lib/old-host';
import { DEFAULT_WAVE } from '../../lib/migration-input';
import { scratchDatabaseNames } from '../../lib/scratch-names';
import { siteNames } from '../../lib/site-names';
import { UrlRewriter } from '../../lib/url-rewrite';
import { useOldHost } from '../helpers/old-host';
import { freezeProcess } from '../helpers/frozen';
import { TEST_STATE_DIR } from '../helpers/paths';
import { phpJudge } from '../helpers/php';
import { treeHashes } from '../helpers/restore-point';

const ctx = useOldHost({ mysql8: true, name: 'old-host-activities' });
const run = <A extends unknown[], R>(fn: (...a: A) => Promise<R>, ...args: A): Promise<R> => new MockActivityEnvironment().run(fn, ...args);

async function sourceChecksums(db: string): Promise<Record<string, string>> {
  const [rows] = await ctx.host.rootPool().query<RowDataPacket[]>(`CHECKSUM TABLE ${(await ctx.host.rootPool().query<RowDataPacket[]>('SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [db]))[0].map((r) => `\`${db}\`.\`${r.t}\``).join(', ')}`);
  return Object.fromEntries(rows.map((r) => [String(r.Table), String(r.Checksum)]));
}

describe('migration activities against a real old host', () => {
  it('pre-flight, resumable file copy, MySQL 8 dump loaded with collations mapped, URLs rewritten; PHP unserializes every value; the source unchanged', async () => {
    const domain = 'migrated-shop.example.com';
    const legacy = await ctx.host.addSite({ domain: 'old-shop.example.com', posts: 12, uploadBytes: 512 * 1024 });
    const src: SourceRef = {
      domain, wave: DEFAULT_WAVE, ssh: { user: 'root', host: '127.0.0.1', port: Number(legacy.sourceSsh.split(':').pop()) }, sourcePath: legacy.sourcePath,
      sourceDb: legacy.sourceDb, sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: legacy.sourceDbUser,
      sourceDbPasswordFile: legacy.sourceDbPasswordFile, fromUrl: '', toUrl: '',
    };
    // A plugin's trigger created with its database's name, as the source's dump keeps it: on the farm that name is
    // nobody's (or another site's), so the load must create it in staging.
    const q = `\`${legacy.sourceDb}\``;
    await ctx.host.rootPool().query(`CREATE TRIGGER ${q}.migration_stamp BEFORE INSERT ON ${q}.wpx7_posts FOR EACH ROW SET NEW.post_content_filtered = 'migrated'`);
    const filesBefore = treeHashes(legacy.sourcePath);
    const dbBefore = await sourceChecksums(legacy.sourceDb);
    const source = createMigrationSourceActivities(ctx.deps);
    const files = createMigrationFilesActivities(ctx.deps);
    const staging = createMigrationStagingActivities(ctx.deps);

    const pre = await run(source.preflightMigrationSource, src);
    expect(pre).toMatchObject({ tablePrefix: 'wpx7_', wpVersion: '6.7.1', files: 8, home: 'https://old-shop.example.com', db: { tables: 12, collation: 'utf8mb4_unicode_520_ci' } });
    expect(pre.phpVersion).toMatch(/^8\./);
    expect(pre.dumpProgram).toContain('old-host-activities/bin/mysqldump');

    // Files: copied by rsync on the storage node, equal to the source byte for byte.
    const dest = path.join(TEST_STATE_DIR, 'migrate-dest', `${domain}.migrating`);
    rmSync(dest, { recursive: true, force: true });
    const copied = await run(files.copySiteFilesFromSource, { source: src, destPath: dest });
    expect(copied.copied).toEqual(copied.source);
    expect(treeHashes(dest)).toEqual(filesBefore);

    // Database: the MySQL 8 dump (utf8mb4_0900_ai_ci) loads into staging with the collation mapped.
    const stagingDb = scratchDatabaseNames(siteNames(domain).database).staging;
    const loaded = await run(source.loadSourceDatabaseIntoStaging, { source: src, stagingDb });
    expect(loaded.tables).toBe(12);
    expect(Object.keys(loaded.mapped)).toEqual(['utf8mb4_0900_ai_ci → utf8mb4_uca1400_nopad_ai_ci']);
    const node = await ctx.deps.galera.writerNode();
    const colls = await ctx.deps.galera.query<RowDataPacket[]>(node, 'SELECT DISTINCT TABLE_COLLATION AS c FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [stagingDb]);
    expect(colls.map((c) => c.c)).toEqual(['utf8mb4_uca1400_nopad_ai_ci']);
    const triggers = await ctx.deps.galera.query<RowDataPacket[]>(node, 'SELECT TRIGGER_SCHEMA AS s, EVENT_OBJECT_SCHEMA AS o, TRIGGER_NAME AS n FROM information_schema.TRIGGERS WHERE TRIGGER_NAME = ?', ['migration_stamp']);
    expect(triggers.map((t) => ({ ...t }))).toEqual([{ s: stagingDb, o: stagingDb, n: 'migration_stamp' }]);

    // URLs: rewritten with a per-table report; nothing left outside guid; PHP unserializes every value after.
    const to = `https://${domain}`;
    const rewritten = await run(staging.rewriteStagingUrls, { stagingDb, fromUrl: pre.home!, toUrl: to });
    const options = rewritten.tables.find((t) => t.table === 'wpx7_options');
    expect(options).toMatchObject({ status: 'rewritten' });
    expect(rewritten.tables.filter((t) => t.status === 'refused')).toEqual([]);
    const checked = await run(staging.checkStagedDatabase, { stagingDb, tablePrefix: 'wpx7_', fromUrl: pre.home! });
    expect(checked).toMatchObject({ oldUrlLeft: [], administrators: 1, site: { title: expect.stringContaining('a WordPress site') } });
    const values = await ctx.deps.galera.query<RowDataPacket[]>(
      node,
      `SELECT k, CAST(v AS BINARY) AS v FROM (SELECT option_name AS k, option_value AS v FROM \`${stagingDb}\`.wpx7_options UNION ALL SELECT meta_key, meta_value FROM \`${stagingDb}\`.wpx7_postmeta UNION ALL SELECT meta_key, meta_value FROM \`${stagingDb}\`.wpx7_usermeta) x`,
    );
    const byKey = new Map(values.map((r) => [String(r.k), r.v as Buffer]));
    const rewriter = new UrlRewriter(pre.home!, to);
    for (const v of legacy.values) {
      const after = byKey.get(v.key)!;
      expect(after.toString('utf8')).not.toContain('old-shop.example.com');
      if (v.key === '_elementor_data') expect(after.toString('utf8')).toContain('https:\\/\\/migrated-shop.example.com\\/kontakt\\/');
      if (v.serialized) {
        // The farm has none of the legacy classes: PHP still unserializes, re-serializes to the same bytes (every
        // length right), and for values PHP can rewrite itself the bytes are exactly what PHP would write.
        const [verdict] = phpJudge('', rewriter.needles, [{ original: v.value, rewritten: after }]);
        expect(verdict, v.key).toMatchObject({ unserializes: true, roundTrips: true });
        // (PHP's reference rewrite cannot look inside an object of a class it lacks: compared only without one.)
        if (!v.value.toString('latin1').startsWith('O:')) expect(after.equals(verdict.expected!), v.key).toBe(true);
        else expect(after.toString('utf8')).toContain('migrated-shop.example.com/wp-content/uploads/2024/01/lögö-🌿.png');
      }
    }
    const serialized = values.filter((r) => /^[aOs]:\d+:/.test((r.v as Buffer).toString('latin1')));
    expect(serialized.length).toBeGreaterThan(10);
    expect(phpJudge('', rewriter.needles, serialized.map((r) => ({ rewritten: r.v as Buffer }))).every((x) => x.unserializes)).toBe(true);
    expect(byKey.get('wpx7_capabilities')).toBeDefined();

    // The source is only ever read.
    expect(treeHashes(legacy.sourcePath)).toEqual(filesBefore);
    expect(await sourceChecksums(legacy.sourceDb)).toEqual(dbBefore);

    // Compensation leaves nothing.
    expect(await run(staging.dropMigrationStaging, { stagingDb })).toEqual({ dropped: true });
    expect(await run(files.removeMigratedFiles, { destPath: dest })).toEqual({ removed: true });
    expect(existsSync(dest)).toBe(false);
    const [left] = await ctx.deps.galera.query<RowDataPacket[]>(node, 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [stagingDb]);
    expect(Number(left.n)).toBe(0);
    expect(createHash('sha256').update(JSON.stringify(filesBefore)).digest('hex')).toHaveLength(64);
  }, 300_000);

  it('an old host whose database stops answering (its mariadbd SIGSTOPped, ssh still answering) fails the dump and load StepStalled within the stall bound; the next attempt loads', async () => {
    const domain = 'stalled-dump.example.com';
    const legacy = await ctx.host.addSite({ domain: 'old-stalled-dump.example.com', posts: 5 });
    const src: SourceRef = {
      domain, wave: DEFAULT_WAVE, ssh: { user: 'root', host: '127.0.0.1', port: Number(legacy.sourceSsh.split(':').pop()) }, sourcePath: legacy.sourcePath,
      sourceDb: legacy.sourceDb, sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: legacy.sourceDbUser,
      sourceDbPasswordFile: legacy.sourceDbPasswordFile, fromUrl: '', toUrl: '',
    };
    const stagingDb = scratchDatabaseNames(siteNames(domain).database).staging;
    // The production activities with the stall bound at 2 s (300 s in production).
    const source = createMigrationSourceActivities({ ...ctx.deps, stepStallMs: 2_000 });
    const resume = freezeProcess(['old-host-activities', 'db', 'mariadbd.pid.drover']);
    let err: { type?: string; message?: string; nonRetryable?: boolean } | null | 'late';
    try {
      // Without the watch the load waited on the silent dump for good, heartbeating all along.
      err = await Promise.race([run(source.loadSourceDatabaseIntoStaging, { source: src, stagingDb }).then(() => null, (e: unknown) => e as { type?: string }), new Promise<'late'>((r) => setTimeout(() => r('late'), 15_000))]);
    } finally {
      resume();
    }
    expect(err).not.toBe('late');
    const f = err as { type?: string; message?: string; nonRetryable?: boolean };
    expect(f?.type).toBe('StepStalled');
    expect(f?.nonRetryable).toBeFalsy();
    expect(f?.message).toMatch(new RegExp(`^dumping ${legacy.sourceDb} on 127\\.0\\.0\\.1:\\d+: no byte moved for 2 s`));
    // The old host answering again, the next attempt loads every table.
    const loaded = await run(source.loadSourceDatabaseIntoStaging, { source: src, stagingDb });
    expect(loaded.tables).toBe(12);
    const node = await ctx.deps.galera.writerNode();
    await ctx.deps.galera.query(node, `DROP DATABASE IF EXISTS \`${stagingDb}\``);
  }, 120_000);

  it("an old host whose rsync stops sending mid-copy (its sender SIGSTOPped, ssh still answering) fails the copy StepStalled within the stall bound, naming the bytes copied; the next attempt stops what was left and copies exactly", async () => {
    const domain = 'stalled-files.example.com';
    const legacy = await ctx.host.addSite({ domain: 'old-stalled-files.example.com', posts: 2, uploadBytes: 3 * 1024 * 1024 });
    const src: SourceRef = {
      domain, wave: DEFAULT_WAVE, ssh: { user: 'root', host: '127.0.0.1', port: Number(legacy.sourceSsh.split(':').pop()) }, sourcePath: legacy.sourcePath,
      sourceDb: legacy.sourceDb, sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: legacy.sourceDbUser,
      sourceDbPasswordFile: legacy.sourceDbPasswordFile, fromUrl: '', toUrl: '',
    };
    const filesBefore = treeHashes(legacy.sourcePath);
    const dest = path.join(TEST_STATE_DIR, 'migrate-dest', `${domain}.migrating`);
    rmSync(dest, { recursive: true, force: true });
    // The production activity with the stall bound at 2 s (300 s in production); the copy held to 256 KiB/s so it
    // is under way when the old host's side stops.
    const files = createMigrationFilesActivities({ ...ctx.deps, stepStallMs: 2_000 });
    const copying = run(files.copySiteFilesFromSource, { source: src, destPath: dest, bandwidthLimitKBps: 256 }).then(() => null, (e: unknown) => e as { type?: string; message?: string; nonRetryable?: boolean });
    // Processes whose command line starts so (anchored: the storage node's ssh client carries the sender's command
    // line as its arguments, and is not to be stopped).
    const pids = (pattern: string) => pgrep(['-f', pattern]);
    // The old host's rsync (the sender, under its sshd) for this site's files, and the storage node's (the receiver).
    const senders = () => pids(`^rsync --server --sender .* ${legacy.sourcePath}/$`);
    const receivers = () => pids(`^rsync -rlpt .* ${dest}/$`);
    await vi.waitFor(() => expect(senders().length).toBeGreaterThan(0), { timeout: 20_000, interval: 100 });
    await new Promise((r) => setTimeout(r, 1_000));
    const stopped: number[] = [];
    let err: Awaited<typeof copying> | 'late';
    let leftBehind: number[] = [];
    try {
      for (const pid of senders()) {
        process.kill(pid, 'SIGSTOP');
        stopped.push(pid);
      }
      expect(stopped.length).toBeGreaterThan(0);
      // Without the watch the copy waited on the silent sender for good, heartbeating all along.
      err = await Promise.race([copying, new Promise<'late'>((r) => setTimeout(() => r('late'), 15_000))]);
      // The storage node's rsync goes on (in its own session, blocked on the stopped sender) for the retry to stop.
      leftBehind = receivers();
    } finally {
      for (const pid of stopped) {
        try {
          process.kill(pid, 'SIGCONT');
        } catch {
          /* gone */
        }
      }
    }
    expect(err).not.toBe('late');
    expect(err).toMatchObject({ type: 'StepStalled', message: expect.stringMatching(new RegExp(`^copying ${legacy.sourcePath} from 127\\.0\\.0\\.1:\\d+: rsync reported nothing for 2 s \\(at [1-9]\\d* bytes copied\\)`)) });
    expect((err as { nonRetryable?: boolean }).nonRetryable).toBeFalsy();
    expect(leftBehind.length).toBeGreaterThan(0);
    try {
      // The next attempt stops the rsync the stalled one left on the storage node and copies every file exactly.
      const copied = await run(files.copySiteFilesFromSource, { source: src, destPath: dest });
      expect(copied.copied).toEqual(copied.source);
      expect(treeHashes(dest)).toEqual(filesBefore);
      expect(treeHashes(legacy.sourcePath)).toEqual(filesBefore);
      expect(leftBehind.filter((pid) => receivers().includes(pid))).toEqual([]);
    } finally {
      rmSync(dest, { recursive: true, force: true });
    }
  }, 120_000);

  it('a password file that does not exist fails the pre-flight with ConfigMissing naming it, before any SSH', async () => {
    const source = createMigrationSourceActivities(ctx.deps);
    const err = await run(source.preflightMigrationSource, {
      domain: 'x.example.com', wave: DEFAULT_WAVE, ssh: { user: 'root', host: '127.0.0.1', port: 1 }, sourcePath: '/nowhere', sourceDb: 'x',
      sourceDbHost: { host: 'localhost', port: null }, sourceDbUser: 'x', sourceDbPasswordFile: '/nonexistent/x.password', fromUrl: '', toUrl: '',
    }).catch((e: unknown) => e as { type: string; message: string });
    expect(err).toMatchObject({ type: 'ConfigMissing', message: expect.stringContaining('/nonexistent/x.password') });
  });
});

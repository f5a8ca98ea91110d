/**
 * Database restore on the real Galera and S3: a restore point loads into staging, verifies against its manifest
 * and swaps in atomically (and back out); a corrupted object or a wrong key is refused with a clear error and the
 * live database is untouched. Production shapes through the real restore workflow: 60- and 64-character database
 * names, triggers, views, routines and events, another table prefix; and a worker killed between any two
 * commands of the swap or its undo leaves the site whole.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { MockActivityEnvironment } from '@temporalio/testing';
import mysql, { type RowDataPacket } from 'mysql2/promise';
import { describe, expect, it } from 'vitest';
import { createGaleraActivities } from '../../activities/galera';
import { createGaleraRestoreActivities } from '../../activities/galera-restore';
import { devStatus } from '../../devkit/dev-env';
import { galeraCheck } from '../../workflows/lib/health-checks';
import { createSpacesActivities } from '../../activities/spaces';
import { spoolPrefix } from '../../activities/lib/restore-spool';
import { scratchDatabaseNames } from '../../lib/scratch-names';
import { requalifyFrom } from '../../lib/backup-layout';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { TEST_ENV } from '../helpers/paths';
import { objectBytes, treeHashes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';
import { crashActivityAt, spawnActivity } from '../helpers/activity-process';
import { freezeGaleraNode, galeraSettled } from '../helpers/frozen';
import { GaleraClient } from '../../lib/clients/galera-client';
import { pgrep } from '../helpers/pgrep';
import { scratchDir } from '../helpers/scratch';

const ctx = useRunningWorker('db-restore');
const env = new MockActivityEnvironment();
/** Runs an activity with a real activity context (heartbeats, cancellation), typed. */
const act = { run: <A, R>(fn: (a: A) => Promise<R>, a: A) => env.run(fn, a) as Promise<R> };
const failureOf = (p: Promise<unknown>) => p.then(() => null, (e: { type?: string; message?: string }) => e);

async function sql<T = RowDataPacket[]>(text: string, params: unknown[] = []): Promise<T> {
  return (await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), text, params)) as unknown as T;
}

/** Every trigger, view, routine and event of a database as information_schema describes it (not the code under test). */
async function programs(database: string): Promise<Record<string, unknown>[]> {
  const q = (text: string) => sql<Record<string, unknown>[]>(text, [database]);
  return [
    ...(await q('SELECT TRIGGER_NAME, EVENT_MANIPULATION, EVENT_OBJECT_TABLE, ACTION_TIMING, ACTION_ORDER, ACTION_STATEMENT, SQL_MODE, DEFINER FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME')),
    ...(await q('SELECT TABLE_NAME, VIEW_DEFINITION, CHECK_OPTION, SECURITY_TYPE, DEFINER FROM information_schema.VIEWS WHERE TABLE_SCHEMA = ? ORDER BY TABLE_NAME')),
    ...(await q('SELECT ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION, DTD_IDENTIFIER, IS_DETERMINISTIC, SQL_DATA_ACCESS, SECURITY_TYPE, SQL_MODE, DEFINER, ROUTINE_COMMENT FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ? ORDER BY ROUTINE_NAME')),
    ...(await q('SELECT EVENT_NAME, EVENT_DEFINITION, INTERVAL_VALUE, INTERVAL_FIELD, ON_COMPLETION, DEFINER FROM information_schema.EVENTS WHERE EVENT_SCHEMA = ? ORDER BY EVENT_NAME')),
  ];
}

/** What a real WordPress site with plugins carries besides tables: triggers, stacked views, routines, an event. */
async function addPrograms(db: string, prefix = 'wp_'): Promise<void> {
  const d = `\`${db}\``;
  await sql(`CREATE TRIGGER ${d}.stamp_title BEFORE INSERT ON ${d}.${prefix}posts FOR EACH ROW SET NEW.post_content_filtered = CONCAT('Café ™ ', NEW.post_title)`);
  await sql(`CREATE TRIGGER ${d}.count_comment AFTER INSERT ON ${d}.${prefix}comments FOR EACH ROW UPDATE ${prefix}posts SET comment_count = comment_count + 1 WHERE ID = NEW.comment_post_ID`);
  await sql(`CREATE VIEW ${d}.published AS SELECT ID, post_title FROM ${d}.${prefix}posts WHERE post_status = 'publish'`);
  await sql(`CREATE VIEW ${d}.zz_latest AS SELECT ID FROM ${d}.published ORDER BY ID DESC LIMIT 3`);
  await sql(`CREATE PROCEDURE ${d}.purge_revisions() MODIFIES SQL DATA DELETE FROM ${prefix}posts WHERE post_type = 'revision'`);
  await sql(`CREATE FUNCTION ${d}.post_count() RETURNS INT READS SQL DATA COMMENT 'ünïcödé' RETURN (SELECT COUNT(*) FROM ${prefix}posts)`);
  // Written over lines as a plugin's author would: the dump keeps the body as it is, so lines of it start like a
  // data INSERT, which must not count as rows of those tables (the manifest's counts, which the restore checks).
  await sql(`CREATE PROCEDURE ${d}.keep_link(u VARCHAR(255))\nMODIFIES SQL DATA\nBEGIN\nINSERT INTO \`${prefix}links\` (link_url, link_name, link_image, link_target, link_description, link_visible, link_rel, link_notes, link_rss)\n  VALUES (u, 'kept', '', '', '', 'Y', '', '', '');\nINSERT INTO \`${prefix}options\` (option_name, option_value) VALUES ('kept_link', u), ('kept_at', NOW());\nEND`);
  await sql(`CREATE EVENT ${d}.purge_transients ON SCHEDULE EVERY 1 DAY STARTS '2030-01-01 03:00:00' DO DELETE FROM ${prefix}options WHERE option_name LIKE '\\\\_transient\\\\_%'`);
}

/** Damage after the backup: rows, a table, and every kind of program changed. */
async function damage(db: string, prefix = 'wp_'): Promise<void> {
  const d = `\`${db}\``;
  await sql(`DELETE FROM ${d}.${prefix}posts WHERE ID % 2 = 0`);
  await sql(`DROP TABLE ${d}.${prefix}links`);
  await sql(`DROP TRIGGER IF EXISTS ${d}.stamp_title`);
  await sql(`DROP VIEW IF EXISTS ${d}.zz_latest`);
  await sql(`DROP PROCEDURE IF EXISTS ${d}.purge_revisions`);
  await sql(`CREATE TRIGGER ${d}.intruder AFTER DELETE ON ${d}.${prefix}options FOR EACH ROW SET @x = 1`);
  await sql(`CREATE FUNCTION ${d}.intruder_fn() RETURNS INT DETERMINISTIC RETURN 7`);
}

async function leftovers(database: string): Promise<string[]> {
  const { staging, previous } = scratchDatabaseNames(database);
  const rows = await sql('SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (?, ?)', [staging, previous]);
  return rows.map((r) => String(r.SCHEMA_NAME));
}

/** Backs up a site, damages it, restores it through restoreSiteWorkflow and checks it is the backed-up state exactly. */
async function roundTrip(site: { domain: string; database: string; filesPath: string; tablePrefix?: string }, label: string) {
  const tag = ctx.taskQueue.slice(-6);
  const date = '2026-11-10';
  await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${label}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
  const db = await tableChecksums(ctx.deps, site.database);
  const progs = await programs(site.database);
  const files = treeHashes(site.filesPath);
  await damage(site.database, site.tablePrefix);
  expect(await tableChecksums(ctx.deps, site.database)).not.toEqual(db);
  const r = await ctx.tw.client.workflow.execute(restoreSiteWorkflow, { workflowId: `restore/${site.domain}/${label}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date, skipSafetyPoint: true }] });
  expect(r.point).toBe(date);
  expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
  expect(await programs(site.database)).toEqual(progs);
  expect(treeHashes(site.filesPath)).toEqual(files);
  expect(await leftovers(site.database)).toEqual([]);
  return { progs };
}

/**
 * The one process `pgrep <args>` finds, waited for up to 10 s; never 0 or NaN (process.kill(0) would signal this
 * test's own process group).
 */
async function onePid(args: string[]): Promise<number> {
  for (let i = 0; i < 100; i++) {
    const pids = pgrep(args);
    if (pids.length === 1) return pids[0];
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`pgrep ${args.join(' ')} found no one process`);
}

describe('database restore activities', () => {
  it('stage, verify, swap in atomically, undo — and refuse a corrupted object or a wrong key', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `restore-${tag}.example.com`, { posts: 25 });
    const date = '2026-11-15';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const backedUp = await tableChecksums(ctx.deps, site.database);

    // The live site changes after the backup: a new post, a dropped table.
    const node = await ctx.deps.galera.writerNode();
    await ctx.deps.galera.query(node, `INSERT INTO \`${site.database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('after backup', '', '', '', '', '')`);
    await ctx.deps.galera.query(node, `DROP TABLE \`${site.database}\`.wp_links`);
    const changed = await tableChecksums(ctx.deps, site.database);

    const restore = createGaleraRestoreActivities(ctx.deps);
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const scratch = scratchDatabaseNames(site.database);
    const names = { liveDb: site.database, stagingDb: scratch.staging, previousDb: scratch.previous };

    await act.run(restore.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: names.stagingDb });
    const verified = await act.run(restore.verifyStagingDatabase, { stagingDb: names.stagingDb, tables: manifest.database.tables });
    expect(verified.tables).toBe(manifest.database.tables.length);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(changed); // staging does not touch live

    await act.run(restore.swapDatabase, names);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(backedUp);
    expect(await act.run(restore.swapDatabase, names)).toMatchObject({ swapped: 0 }); // idempotent retry
    await act.run(restore.checkLiveDatabaseMatchesStaged, { database: site.database, checksums: verified.checksums });

    await act.run(restore.undoDatabaseSwap, { liveDb: names.liveDb, previousDb: names.previousDb });
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(changed);
    expect(await act.run(restore.undoDatabaseSwap, { liveDb: names.liveDb, previousDb: names.previousDb })).toEqual({ restored: 0 }); // undo twice
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(changed);
    // After the undo, live no longer equals what was staged: the final check says which tables.
    const mismatch = await failureOf(act.run(restore.checkLiveDatabaseMatchesStaged, { database: site.database, checksums: verified.checksums }));
    expect(mismatch?.type).toBe('RestoreVerificationFailed');
    expect(mismatch?.message).toMatch(/wp_links missing/);
    expect(mismatch?.message).toMatch(/wp_posts differs/);

    // A wrong identity: DecryptionFailed, nothing swapped.
    const dir = scratchDir('wrong-key-');
    execFileSync('age-keygen', ['-o', path.join(dir, 'k.txt')], { stdio: 'ignore' });
    const wrong = createGaleraRestoreActivities({ ...ctx.deps, backup: { ...ctx.deps.backup, identityFile: path.join(dir, 'k.txt') } });
    const decryptErr = await failureOf(act.run(wrong.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: names.stagingDb }));
    expect(decryptErr?.type).toBe('DecryptionFailed');

    // One byte flipped in S3: BackupCorrupted before anything is loaded.
    const bytes = await objectBytes(ctx.deps, manifest.database.key);
    bytes[Math.floor(bytes.length / 2)] ^= 0x01;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: manifest.database.key, Body: bytes }));
    await act.run(restore.dropDatabase, { name: names.stagingDb });
    const corruptErr = await failureOf(act.run(restore.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: names.stagingDb }));
    expect(corruptErr?.type).toBe('BackupCorrupted');
    expect(corruptErr?.message).toMatch(/SHA-256/);
    const staging = await ctx.deps.galera.query(node, 'SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?', [names.stagingDb]);
    expect(Number((staging as unknown as { n: number }[])[0].n)).toBe(0);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(changed);
  });

  it('loads the very bytes it checked: a dump replaced in S3 after its check is never what staging gets', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `swapped-${tag}.example.com`, { posts: 12 });
    const backup = (date: string) => ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    await backup('2026-11-15');
    const checked = await tableChecksums(ctx.deps, site.database);
    // A second point of the same site with another post: a dump that decrypts and loads as well as the first.
    await sql(`INSERT INTO \`${site.database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('the other point', '', '', '', '', '')`);
    await backup('2026-11-16');
    const spaces = createSpacesActivities(ctx.deps);
    const [first, second] = [await act.run(spaces.readManifest, { site: site.domain, date: '2026-11-15' }), await act.run(spaces.readManifest, { site: site.domain, date: '2026-11-16' })];
    const original = await objectBytes(ctx.deps, first.database.key);
    const other = await objectBytes(ctx.deps, second.database.key);
    const replace = (body: Buffer) => ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: first.database.key, Body: body }));
    const stagingDb = scratchDatabaseNames(site.database).staging;

    // The object is replaced between the check and the load: when the activity creates the staging database.
    let replaced = 0;
    const galera = new Proxy(ctx.deps.galera, {
      get(target, prop, receiver) {
        if (prop !== 'query') return Reflect.get(target, prop, receiver);
        return async (...args: Parameters<typeof target.query>) => {
          if (String(args[1]).startsWith(`CREATE DATABASE \`${stagingDb}\``)) {
            await replace(other);
            replaced++;
          }
          return target.query(...args);
        };
      },
    });
    const restore = createGaleraRestoreActivities({ ...ctx.deps, galera });
    try {
      await act.run(restore.loadDatabaseIntoStaging, { key: first.database.key, sha256: first.database.sha256, stagingDb, sourceDb: site.database });
      expect(replaced).toBe(1);
      await act.run(restore.verifyStagingDatabase, { stagingDb, tables: first.database.tables });
      expect(await tableChecksums(ctx.deps, stagingDb)).toEqual(checked);

      // Without room on the worker's disk for the dump (its reserve larger than any disk), it is checked in one
      // download and loaded from a second: that one is hashed too, and the replaced object fails there.
      await replace(original);
      const spools = () => readdirSync(os.tmpdir()).filter((n) => n.startsWith(spoolPrefix('object')));
      const noRoom = createGaleraRestoreActivities({ ...ctx.deps, galera, backup: { ...ctx.deps.backup, spoolReserveBytes: Number.MAX_SAFE_INTEGER } });
      const err = await failureOf(act.run(noRoom.loadDatabaseIntoStaging, { key: first.database.key, sha256: first.database.sha256, stagingDb, sourceDb: site.database }));
      expect(replaced).toBe(2);
      expect(err?.type).toBe('BackupCorrupted');
      expect(err?.message).toMatch(/SHA-256/);
      expect(spools()).toEqual([]);
    } finally {
      await replace(original);
      await act.run(restore.dropDatabase, { name: stagingDb });
    }
  });

  it('60- and 64-character database names restore exactly through the workflow (staging, previous and live never collide)', async () => {
    const tag = ctx.taskQueue.slice(-6);
    for (const length of [60, 64]) {
      const database = `wp_long_${tag}_`.padEnd(length, 'q');
      expect(database).toHaveLength(length);
      const site = await createTestSite(ctx.deps, `len${length}-${tag}.example.com`, { posts: 12, database });
      await roundTrip(site, `len${length}`);
    }
  });

  it('triggers, views, routines and events come back exactly: the ones changed, dropped and added after the backup too', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `programs-${tag}.example.com`, { posts: 15 });
    await addPrograms(site.database);
    const { progs } = await roundTrip(site, 'programs');
    expect(progs.length).toBe(8);
    // The restored trigger fires on the restored table.
    await sql(`INSERT INTO \`${site.database}\`.wp_posts (post_title, post_content, post_excerpt, to_ping, pinged, post_content_filtered) VALUES ('fired', '', '', '', '', '')`);
    const [row] = await sql(`SELECT post_content_filtered AS f FROM \`${site.database}\`.wp_posts WHERE post_title = 'fired'`);
    expect(row.f).toBe('Café ™ fired');
  });

  it('a site with another table prefix: read from wp-config.php at registration, counted by the dump, restored and checked', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `prefix-${tag}.example.com`, { posts: 14, tablePrefix: 'shop7_' });
    expect(site.tablePrefix).toBe('shop7_');
    await addPrograms(site.database, 'shop7_');
    await roundTrip(site, 'prefix');
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date: '2026-11-10' });
    expect(manifest.wordpress.posts).toBeGreaterThan(0);
    expect(manifest.wordpress.users).toBeGreaterThan(0);

    // The check names what is missing, under the prefix it looked for.
    const check = createGaleraRestoreActivities(ctx.deps).checkWordPressDatabase;
    const err = await failureOf(act.run(check, { database: site.database, tablePrefix: 'wp_' }));
    expect(err?.type).toBe('RestoreVerificationFailed');
    expect(err?.message).toMatch(/no table wp_options, no table wp_posts/);
  });

  it('tables whose names need quoting (a reserved word, a backtick, unicode), and rows that name the database itself, back up through the real dump and restore exactly', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `quoting-${tag}.example.com`, { posts: 8, database: `order_${tag}` });
    const d = `\`${site.database}\``;
    await sql(`CREATE TABLE ${d}.\`order\` (\`select\` INT PRIMARY KEY, \`from\` VARCHAR(40)) DEFAULT CHARSET utf8mb4`);
    await sql(`INSERT INTO ${d}.\`order\` VALUES (1, 'Café ™'), (2, 'naïve')`);
    await sql(`CREATE TABLE ${d}.\`we\`\`ird tab\` (id INT PRIMARY KEY) DEFAULT CHARSET utf8mb4`);
    await sql(`INSERT INTO ${d}.\`we\`\`ird tab\` VALUES (1), (2), (3)`);
    await sql(`CREATE TABLE ${d}.\`ünïcödé_tàble\` (id INT PRIMARY KEY) DEFAULT CHARSET utf8mb4`);
    await sql(`INSERT INTO ${d}.\`ünïcödé_tàble\` VALUES (1)`);
    // Row data that reads like a qualified name of this database: the restore requalifies statements for staging,
    // and mariadb-dump writes one row per line, so each row's line must pass as data (it was rewritten once).
    await sql(`UPDATE ${d}.wp_posts SET post_content = ? ORDER BY ID LIMIT 1`, [`Moved from ${d}.wp_posts; see ${site.database}.example.org; Grüße;`]);
    await roundTrip(site, 'quoting');
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date: '2026-11-10' });
    const rows = Object.fromEntries(manifest.database.tables.map((t) => [t.name, t.rows]));
    expect(rows).toMatchObject({ order: 2, 'we`ird tab': 3, 'ünïcödé_tàble': 1 });
  });

  it('a dump whose trigger names its database is requalified for staging (the manifest says so); one that names it only in rows and comments loads through kernel pipes, as it is', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const date = '2026-11-10';
    const restore = createGaleraRestoreActivities(ctx.deps);
    const body = async (db: string) => (await sql('SELECT ACTION_STATEMENT AS a FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = ? ORDER BY TRIGGER_NAME', [db])).map((r) => String(r.a));
    /** Loads the point into staging as the restore workflow does; whether the load ran as its own bash pipeline. */
    const load = async (site: { domain: string; database: string }, requalify: { sourceDb?: string }) => {
      const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
      const stagingDb = scratchDatabaseNames(site.database).staging;
      let piped = false;
      let watching = true;
      const watcher = (async () => {
        while (watching) {
          piped ||= pgrep(['-f', `drover-load .* ${stagingDb}`]).length > 0;
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      // Held 1 s after its first 64 KiB, so the watcher (every 100 ms) surely sees how it runs.
      process.env.DROVER_FAULT_STALL_AT = 'loadDatabaseIntoStaging:1000';
      try {
        await act.run(restore.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb, liveDb: site.database, ...requalify });
      } finally {
        delete process.env.DROVER_FAULT_STALL_AT;
        watching = false;
        await watcher;
      }
      await act.run(restore.verifyStagingDatabase, { stagingDb, tables: manifest.database.tables });
      return { manifest, stagingDb, piped };
    };

    // A plugin's trigger written with its database's name, as the dump keeps it, and a URL with that name in a
    // string literal, which must come back as written.
    const named = await createTestSite(ctx.deps, `named-${tag}.example.com`, { posts: 400, database: `named_${tag}` });
    const setLastEdit = `SET option_value = CONCAT('https://${named.database}.example.com/?p=', NEW.ID) WHERE option_name = 'last_edit'`;
    await sql(`CREATE TRIGGER \`${named.database}\`.audit AFTER UPDATE ON \`${named.database}\`.wp_posts FOR EACH ROW UPDATE \`${named.database}\`.wp_options ${setLastEdit}`);
    // And one a plugin defined under NO_BACKSLASH_ESCAPES, where '\' is a whole string: the name after it must still be
    // requalified (read with `\` as an escape, the rest of the body was taken for a string).
    const writer = await ctx.deps.galera.writerNode();
    const plugin = await mysql.createConnection({ host: writer.host, port: writer.port, user: ctx.deps.galera.credentials.user, password: ctx.deps.galera.credentials.password, database: named.database });
    await plugin.query("SET SESSION sql_mode = 'STRICT_TRANS_TABLES,NO_BACKSLASH_ESCAPES'");
    const cleanAgent = (db: string) => `SET NEW.comment_agent = REPLACE(NEW.comment_agent, '\\', '/'), NEW.comment_author_url = (SELECT option_value FROM \`${db}\`.wp_options WHERE option_name = 'home')`;
    await plugin.query(`CREATE TRIGGER clean_agent BEFORE INSERT ON wp_comments FOR EACH ROW ${cleanAgent(named.database)}`);
    await plugin.end();
    // Backed up (the point loaded below) and restored exactly through the workflow.
    await roundTrip(named, 'named');
    const n = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: named.domain, date });
    expect(n.database.namesDatabase).toBe(true);
    const requalified = await load(named, requalifyFrom(n));
    expect(requalified.piped).toBe(false);
    expect(await body(requalified.stagingDb)).toEqual([`UPDATE \`${requalified.stagingDb}\`.wp_options ${setLastEdit}`, cleanAgent(requalified.stagingDb)]);
    await act.run(restore.dropDatabase, { name: requalified.stagingDb });
    // Loaded as it is, the dump would create the trigger in the live database (mariadb-dump writes the name as it
    // was created), where it exists: the load fails, and nothing was created in live.
    const liveBefore = await programs(named.database);
    const asIs = await failureOf(load(named, {}));
    expect(asIs?.message).toMatch(/Trigger '.*audit' already exists/);
    expect(await programs(named.database)).toEqual(liveBefore);
    await act.run(restore.dropDatabase, { name: requalified.stagingDb });

    // Named only in a row (both qualified forms) and in the dump's header comment: nothing to rewrite.
    const plain = await createTestSite(ctx.deps, `plain-${tag}.example.com`, { posts: 400, database: `plain_${tag}` });
    await sql(`UPDATE \`${plain.database}\`.wp_posts SET post_content = ? ORDER BY ID LIMIT 1`, [`see \`${plain.database}\`.wp_posts and ${plain.database}.wp_options`]);
    await roundTrip(plain, 'plain');
    const p = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: plain.domain, date });
    expect(p.database.namesDatabase).toBe(false);
    const piped = await load(plain, requalifyFrom(p));
    expect(piped.piped).toBe(true);
    expect(await tableChecksums(ctx.deps, piped.stagingDb)).toEqual(await tableChecksums(ctx.deps, plain.database));
    await act.run(restore.dropDatabase, { name: piped.stagingDb });

    // A trigger created unqualified (on a connection whose default database is the site's), then the database's
    // default changed: mariadb-dump writes `ALTER DATABASE` of it around the trigger, to create it under its own
    // collation and then set the default back, which loaded as it is would change the live database's default.
    const collated = await createTestSite(ctx.deps, `collated-${tag}.example.com`, { posts: 400, database: `collated_${tag}` });
    const node = await ctx.deps.galera.writerNode();
    const own = await mysql.createConnection({ host: node.host, port: node.port, user: ctx.deps.galera.credentials.user, password: ctx.deps.galera.credentials.password, database: collated.database });
    await own.query("CREATE TRIGGER stamp BEFORE INSERT ON wp_posts FOR EACH ROW SET NEW.post_content_filtered = 'collated'");
    await own.end();
    await sql(`ALTER DATABASE \`${collated.database}\` CHARACTER SET latin1 COLLATE latin1_swedish_ci`);
    await roundTrip(collated, 'collated');
    const c = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: collated.domain, date });
    expect(c.database.namesDatabase).toBe(true);
    const collation = async (db: string) => String((await sql('SELECT DEFAULT_COLLATION_NAME AS c FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [db]))[0]?.c);
    // The live default changed after the backup: the load must leave it so.
    await sql(`ALTER DATABASE \`${collated.database}\` CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_520_ci`);
    const altered = await load(collated, requalifyFrom(c));
    expect(altered.piped).toBe(false);
    expect(await collation(collated.database)).toBe('utf8mb4_unicode_520_ci');
    expect(await collation(altered.stagingDb)).toBe('latin1_swedish_ci');
    await act.run(restore.dropDatabase, { name: altered.stagingDb });
  });

  it('a requalified dump that ends inside a DELIMITER block fails BackupCorrupted naming its object, and its unfinished program never runs', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const source = `wp_cut_${tag}`;
    const stagingDb = scratchDatabaseNames(source).staging;
    // Cut off in a program whose text is valid as it stands: a client given the end of its input would create it.
    const dump = [
      'CREATE TABLE `t` (`a` int);',
      'INSERT INTO `t` VALUES (1);',
      'DELIMITER ;;',
      `CREATE PROCEDURE \`cut\`() MODIFIES SQL DATA INSERT INTO \`${source}\`.\`t\` VALUES (2)`,
      '',
    ].join('\n');
    const sealed = execFileSync('sh', ['-c', `zstd -q -c | age ${ctx.deps.backup.recipients.map((r) => `-r ${r}`).join(' ')}`], { input: dump });
    const key = `test/cut-${tag}.sql.zst.age`;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: key, Body: sealed }));
    const restore = createGaleraRestoreActivities(ctx.deps);
    try {
      const err = await failureOf(act.run(restore.loadDatabaseIntoStaging, { key, sha256: createHash('sha256').update(sealed).digest('hex'), stagingDb, sourceDb: source }));
      expect(err?.type).toBe('BackupCorrupted');
      expect(err?.message).toContain(key);
      expect(err?.message).toMatch(/ends inside a DELIMITER block/);
      expect(await sql('SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = ?', [stagingDb])).toEqual([]);
    } finally {
      await act.run(restore.dropDatabase, { name: stagingDb });
    }
  });

  it('a program of the load killed by a signal not the worker\'s (the OOM killer) fails WorkerProcessKilled, which is retried, not BackupCorrupted; the next attempt loads', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const date = '2026-11-10';
    const site = await createTestSite(ctx.deps, `oom-${tag}.example.com`, { posts: 400 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/oom/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    expect(manifest.database.namesDatabase).toBe(false);
    const restore = createGaleraRestoreActivities(ctx.deps);
    const stagingDb = scratchDatabaseNames(site.database).staging;
    const input = { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb, liveDb: site.database, ...requalifyFrom(manifest) };
    // Held after its first 64 KiB, so zstd is surely running when it is killed.
    process.env.DROVER_FAULT_STALL_AT = 'loadDatabaseIntoStaging:4000';
    let err: { type?: string; message?: string; nonRetryable?: boolean } | null;
    try {
      const loading = failureOf(act.run(restore.loadDatabaseIntoStaging, input));
      // The load's bash is this process's child (its watchdog, a child of bash, carries the same command line).
      const bash = await onePid(['-P', String(process.pid), '-f', `drover-load .* ${stagingDb}`]);
      process.kill(await onePid(['-P', String(bash), '-x', 'zstd']), 'SIGKILL');
      err = (await loading) as typeof err;
    } finally {
      delete process.env.DROVER_FAULT_STALL_AT;
    }
    expect(err?.type).toBe('WorkerProcessKilled');
    expect(err?.message).toMatch(/zstd was killed \(SIGKILL\) while loading/);
    expect(err?.nonRetryable).toBeFalsy();
    // The next attempt loads the whole dump.
    await act.run(restore.loadDatabaseIntoStaging, input);
    await act.run(restore.verifyStagingDatabase, { stagingDb, tables: manifest.database.tables });
    await act.run(restore.dropDatabase, { name: stagingDb });
  });

  it('the writer stopped mid-load (its mariadbd SIGSTOPped) fails the load DatabaseUnavailable within three status bounds, its programs stopped; the next attempt loads', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const date = '2026-11-10';
    // A 63-character label: the longest database name the site's naming gives, and its staging name beside it.
    const site = await createTestSite(ctx.deps, `${'frozen-writer-'.padEnd(57, 'x')}${tag}.example.com`, { posts: 400 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/frozen/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    // The production activities with the Galera client's status bound shortened to 1 s (5 s in production), so the
    // writer is stopped for about three seconds, under Galera's suspect timeout (5 s): it stays in the cluster.
    const BOUND = 1_000;
    const galera = new GaleraClient(ctx.deps.galera.nodes, ctx.deps.galera.credentials, { statusTimeoutMs: BOUND });
    const restore = createGaleraRestoreActivities({ ...ctx.deps, galera });
    const stagingDb = scratchDatabaseNames(site.database).staging;
    const input = { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb, liveDb: site.database, ...requalifyFrom(manifest) };
    const writer = (await galera.writerNode()).name;
    // The load held after its first chunk for longer than the test waits, its client connected to the writer.
    process.env.DROVER_FAULT_STALL_AT = 'loadDatabaseIntoStaging:20000';
    let outcome: { err: { type?: string; message?: string; nonRetryable?: boolean } | null; ms: number } | null;
    let programsLeft: number[] = [];
    try {
      const loading = failureOf(act.run(restore.loadDatabaseIntoStaging, input));
      const bash = await onePid(['-P', String(process.pid), '-f', `drover-load .* ${stagingDb}`]);
      await onePid(['-P', String(bash), '-x', 'mariadb']);
      const resume = freezeGaleraNode(writer);
      const stopped = Date.now();
      try {
        // Without the watch the load waited on the stopped writer for good (its activity heartbeating all along).
        outcome = await Promise.race([loading.then((err) => ({ err: err as typeof err & object, ms: Date.now() - stopped })), new Promise<null>((r) => setTimeout(() => r(null), 3 * BOUND + 3_000))]);
        // Its bash and programs (each names the staging database on its command line) are gone when it fails.
        programsLeft = pgrep(['-f', stagingDb]);
      } finally {
        resume();
      }
      if (!outcome) await loading; // the stopped writer resumed: the stalled load ends before the next test
    } finally {
      delete process.env.DROVER_FAULT_STALL_AT;
      await galera.close();
    }
    expect(outcome, 'the load still waiting on the stopped writer').not.toBeNull();
    expect(outcome!.err?.type).toBe('DatabaseUnavailable');
    expect(outcome!.err?.nonRetryable).toBeFalsy();
    expect(outcome!.err?.message).toMatch(new RegExp(`${writer} unavailable: it answered no status query`));
    expect(programsLeft, 'programs of the load still running after it failed').toEqual([]);
    expect(await galeraSettled(ctx.deps.galera)).toBe(true);
    // The next attempt loads the whole dump.
    const next = createGaleraRestoreActivities(ctx.deps);
    await act.run(next.loadDatabaseIntoStaging, input);
    await act.run(next.verifyStagingDatabase, { stagingDb, tables: manifest.database.tables });
    await act.run(next.dropDatabase, { name: stagingDb });
  });

  it('a worker killed between any two commands of the swap or its undo: after a restart the site is old or new, never a mix; each runs twice', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `crash-${tag}.example.com`, { posts: 10 });
    await addPrograms(site.database);
    const date = '2026-11-10';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/crash/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const newState = { tables: await tableChecksums(ctx.deps, site.database), programs: await programs(site.database) };
    await damage(site.database);
    const oldState = { tables: await tableChecksums(ctx.deps, site.database), programs: await programs(site.database) };
    const state = async () => ({ tables: await tableChecksums(ctx.deps, site.database), programs: await programs(site.database) });

    const restore = createGaleraRestoreActivities(ctx.deps);
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const scratch = scratchDatabaseNames(site.database);
    const names = { liveDb: site.database, stagingDb: scratch.staging, previousDb: scratch.previous };
    const undoNames = { liveDb: names.liveDb, previousDb: names.previousDb };
    const load = () => act.run(restore.loadDatabaseIntoStaging, { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: names.stagingDb, liveDb: names.liveDb, sourceDb: manifest.database.name });
    const cleanUp = async () => {
      await act.run(restore.dropDatabase, { name: names.stagingDb });
      expect(await leftovers(site.database)).toEqual([]);
    };
    const swapPoints = ['before-journal', 'journaled', 'live-triggers-dropped', 'staging-triggers-dropped', 'renamed', 'live-programs-dropped', 'programs-created', 'swapped'].map((p) => `swapDatabase:${p}`);
    for (const point of swapPoints) {
      // Restarted, the swap is retried: new state exactly, and again when run twice; its undo: old state.
      await load();
      await crashActivityAt(point, 'swapDatabase', names);
      await act.run(restore.swapDatabase, names);
      expect(await state(), `swap retried after a crash at ${point}`).toEqual(newState);
      await act.run(restore.swapDatabase, names);
      expect(await state(), `swap run twice after a crash at ${point}`).toEqual(newState);
      await act.run(restore.undoDatabaseSwap, undoNames);
      await act.run(restore.undoDatabaseSwap, undoNames);
      expect(await state(), `undo (twice) of a swap that crashed at ${point}`).toEqual(oldState);
      await cleanUp();
      // Restarted, the restore gives up instead (its compensation): old state exactly.
      await load();
      await crashActivityAt(point, 'swapDatabase', names);
      await act.run(restore.undoDatabaseSwap, undoNames);
      expect(await state(), `undo straight after a crash at ${point}`).toEqual(oldState);
      await cleanUp();
    }
    const undoPoints = ['journaled', 'live-triggers-dropped', 'renamed', 'live-programs-dropped', 'programs-created', 'unjournaled'].map((p) => `undoDatabaseSwap:${p}`);
    for (const point of undoPoints) {
      await load();
      await act.run(restore.swapDatabase, names);
      expect(await state()).toEqual(newState);
      await crashActivityAt(point, 'undoDatabaseSwap', undoNames);
      await act.run(restore.undoDatabaseSwap, undoNames);
      expect(await state(), `undo retried after a crash at ${point}`).toEqual(oldState);
      await act.run(restore.undoDatabaseSwap, undoNames);
      expect(await state(), `undo run twice after a crash at ${point}`).toEqual(oldState);
      await cleanUp();
    }
  }, 900_000);

  it('a WordPress-shaped site whose load takes many heartbeat timeouts restores exactly: one load attempt, never two loads at once, no DDL waiting', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `big-${tag}.example.com`, { posts: 60 });
    // 300,000 postmeta rows (a WooCommerce shop's worth of meta). How long they take to load depends on the machine
    // (a quiet one loads them within 3 s), so the load is also held for 8 s after its first statement
    // (DROVER_FAULT_STALL_AT): it then outlives its heartbeat timeout of 2 s four times over on any machine.
    for (let i = 0; i < 3; i++) {
      await sql(
        `INSERT INTO \`${site.database}\`.wp_postmeta (post_id, meta_key, meta_value) SELECT 1 + seq % 60, CONCAT('_wc_field_', seq % 97), CONCAT(REPEAT(MD5(seq), 3), ' Café ™') FROM \`${site.database}\`.seq_${i * 100_000 + 1}_to_${(i + 1) * 100_000}`,
      );
    }
    const date = '2026-11-10';
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/big/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: date }] });
    const db = await tableChecksums(ctx.deps, site.database);
    await damage(site.database);
    const { staging } = scratchDatabaseNames(site.database);

    // Watch every node while the restore runs: loads into staging at once, and DDL stuck waiting. Every DDL waits
    // a moment in Galera's total order ("Waiting to execute in isolation") behind writes being applied; stuck is
    // seconds (the stall this guards against lasted until a node was restarted).
    const STUCK_SECONDS = 5;
    let watching = true;
    let mostLoads = 0;
    const waitingDdl: string[] = [];
    const watcher = (async () => {
      while (watching) {
        let loads = 0;
        for (const node of await ctx.deps.galera.syncedNodes()) {
          const rows = await ctx.deps.galera.query<RowDataPacket[]>(node, 'SELECT USER, DB, COMMAND, TIME, STATE, INFO FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()');
          // Clients only: Galera's appliers (`system user`) show the database of the writes they apply.
          loads += rows.filter((r) => r.DB === staging && r.COMMAND !== 'Killed' && r.USER !== 'system user').length;
          for (const r of rows) if (/^\s*(DROP|CREATE|ALTER|RENAME)\b/i.test(String(r.INFO ?? '')) && /wait/i.test(String(r.STATE ?? '')) && Number(r.TIME) >= STUCK_SECONDS) waitingDdl.push(`${node.name}: ${r.STATE}: ${String(r.INFO).slice(0, 80)}`);
        }
        mostLoads = Math.max(mostLoads, loads);
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    const HEARTBEAT_TIMEOUT_MS = 2_000;
    process.env.DROVER_FAULT_STALL_AT = 'loadDatabaseIntoStaging:8000';
    const handle = await ctx.tw.client.workflow.start(restoreSiteWorkflow, {
      workflowId: `restore/${site.domain}/big/${tag}`,
      taskQueue: ctx.taskQueue,
      args: [{ site: site.domain, point: date, skipSafetyPoint: true, timeouts: { heartbeat: HEARTBEAT_TIMEOUT_MS } }],
    });
    let result: Awaited<ReturnType<typeof handle.result>>;
    try {
      result = await handle.result();
    } finally {
      delete process.env.DROVER_FAULT_STALL_AT;
      watching = false;
      await watcher;
    }
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    // The load outlived its heartbeat timeout several times over (what this test is about), as the workflow timed
    // it and as the server saw it (its attempt started and completed once, that far apart).
    const loadStep = result.steps.find((s) => s.name === 'download, verify, decrypt, load database into staging');
    expect(loadStep?.ms).toBeGreaterThanOrEqual(3 * HEARTBEAT_TIMEOUT_MS);
    const history = (await handle.fetchHistory()).events ?? [];
    const loadScheduled = history.find((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'loadDatabaseIntoStaging')!;
    const at = (e: (typeof history)[number] | undefined) => Number(e?.eventTime?.seconds ?? 0) * 1000 + Math.floor((e?.eventTime?.nanos ?? 0) / 1e6);
    const loadStarted = history.find((e) => String(e.activityTaskStartedEventAttributes?.scheduledEventId) === String(loadScheduled.eventId));
    const loadCompleted = history.find((e) => String(e.activityTaskCompletedEventAttributes?.scheduledEventId) === String(loadScheduled.eventId));
    expect(loadCompleted, 'the load attempt completed').toBeDefined();
    expect(at(loadCompleted) - at(loadStarted)).toBeGreaterThanOrEqual(3 * HEARTBEAT_TIMEOUT_MS);
    expect(mostLoads).toBe(1);
    expect(waitingDdl).toEqual([]);
    // Every activity ran once: no heartbeat timeout started a second load beside the first.
    const events = history;
    const types = new Map(events.filter((e) => e.activityTaskScheduledEventAttributes).map((e) => [String(e.eventId), e.activityTaskScheduledEventAttributes!.activityType!.name]));
    const retried = events.filter((e) => (e.activityTaskStartedEventAttributes?.attempt ?? 1) > 1).map((e) => types.get(String(e.activityTaskStartedEventAttributes!.scheduledEventId)));
    expect(retried).toEqual([]);
    expect(await leftovers(site.database)).toEqual([]);

    // An attempt its worker lost track of is still loading when the next one starts: the next one kills that
    // load (the earlier attempt fails on its lost connection) and loads alone, with no DDL waiting.
    const manifest = await act.run(createSpacesActivities(ctx.deps).readManifest, { site: site.domain, date });
    const loadInput = { key: manifest.database.key, sha256: manifest.database.sha256, stagingDb: staging, liveDb: site.database, ...requalifyFrom(manifest) };
    // The earlier attempt is held 15 s after its first statement, so it is surely still loading when the next starts.
    const earlier = spawnActivity('loadDatabaseIntoStaging', loadInput, { DROVER_FAULT_STALL_AT: 'loadDatabaseIntoStaging:15000' });
    earlier.stdin.end();
    earlier.stdout.resume();
    let earlierErr = '';
    earlier.stderr.on('data', (d) => (earlierErr += d));
    let earlierDone = false;
    const earlierExit = new Promise<number | null>((r) => earlier.once('close', (code) => ((earlierDone = true), r(code))));
    const loading = async () => (await sql("SELECT ID FROM information_schema.PROCESSLIST WHERE DB = ? AND USER <> 'system user'", [staging])).length > 0;
    while (!earlierDone && !(await loading())) await new Promise((r) => setTimeout(r, 100));
    expect(earlierDone, `the earlier load never started: ${earlierErr}`).toBe(false);
    watching = true;
    waitingDdl.length = 0;
    const watcher2 = (async () => {
      while (watching) {
        for (const node of await ctx.deps.galera.syncedNodes()) {
          const rows = await ctx.deps.galera.query<RowDataPacket[]>(node, 'SELECT TIME, STATE, INFO FROM information_schema.PROCESSLIST WHERE ID <> CONNECTION_ID()');
          for (const r of rows) if (/^\s*(DROP|CREATE|ALTER|RENAME)\b/i.test(String(r.INFO ?? '')) && /wait/i.test(String(r.STATE ?? '')) && Number(r.TIME) >= STUCK_SECONDS) waitingDdl.push(`${node.name}: ${r.STATE}: ${String(r.INFO).slice(0, 80)}`);
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    })();
    try {
      await act.run(createGaleraRestoreActivities(ctx.deps).loadDatabaseIntoStaging, loadInput);
    } finally {
      watching = false;
      await watcher2;
    }
    expect(await earlierExit).not.toBe(0);
    expect(earlierErr).toMatch(/loading .* failed/);
    expect(waitingDdl).toEqual([]);
    await act.run(createGaleraRestoreActivities(ctx.deps).verifyStagingDatabase, { stagingDb: staging, tables: manifest.database.tables });
    await act.run(createGaleraRestoreActivities(ctx.deps).dropDatabase, { name: staging });
  }, 600_000);

  it('a DDL waiting longer than the threshold makes `drover dev status` and the health check unhealthy, naming it', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const db = `wp_ddl_${tag}`;
    await sql(`CREATE DATABASE IF NOT EXISTS \`${db}\``);
    // A DDL that would run a minute (one row a second), stopped once seen; the threshold is 2 s instead of a minute.
    const slow = sql(`CREATE TABLE \`${db}\`.slow ENGINE=InnoDB AS SELECT SLEEP(1) AS s FROM \`${db}\`.seq_1_to_60`).catch((e: unknown) => e);
    const describe = () => act.run(createGaleraActivities(ctx.deps).describeGaleraCluster, { ddlWaitSeconds: 2 });
    let seen = await describe();
    const deadline = Date.now() + 40_000;
    while (!seen.stalledDdl.length && Date.now() < deadline) seen = await describe();
    expect(seen.stalledDdl[0].statement).toMatch(/^CREATE TABLE `wp_ddl_\w+`\.slow/);
    const check = galeraCheck(seen, 3);
    expect(check.ok).toBe(false);
    expect(check.detail).toMatch(/DDL waiting \d+ s on node\d .*CREATE TABLE/);
    const dev = await devStatus({ ...TEST_ENV, ddlWaitSeconds: 2 }, ['galera']);
    expect(dev.healthy).toBe(false);
    expect(dev.parts[0].error).toMatch(/DDL waiting \d+ s on node\d .*CREATE TABLE/);
    const [running] = await sql<{ ID: number }[]>('SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE ?', [`CREATE TABLE \`${db}\`.slow%`]);
    await sql(`KILL QUERY ${Number(running.ID)}`);
    await slow; // interrupted
    // Once it is done, all is well again, and a minute's threshold never saw it.
    expect(galeraCheck(await describe(), 3).ok).toBe(true);
    expect((await devStatus({ ...TEST_ENV, ddlWaitSeconds: 2 }, ['galera'])).healthy).toBe(true);
    await sql(`DROP DATABASE \`${db}\``);
  });
});

/**
 * `drover migrate check|site` end to end (issue 15) through the built CLI, on one local farm (3 nodes, the local
 * WordPress image, a drover-infra worker for the sites' entities): bad input exits 2 naming line and field before
 * anything starts; a real old host's site (wpx7_ prefix, MySQL 8 dump, serialized/multibyte/nested/foreign-class/
 * JSON-escaped values, a trigger, a view and a stored function, WordPress core) migrates onto the farm: PHP
 * unserializes every value after, its page renders through the front with its title and no old URL, the
 * migration is recorded, the source unchanged; workers killed during the copy and during the load: migrated
 * exactly once; a wave of 12 sites at concurrency 4 lands on the farm, each verified and serving its title, never more
 * than 4 in flight; a source that becomes unreachable mid-copy fails with its cause and leaves nothing on the farm.
 */
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { RowDataPacket } from 'mysql2/promise';
import { chromium } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { requestWithHost } from '../../lib/clients/http-request';
import { getSite } from '../../lib/site-registry';
import { UrlRewriter } from '../../lib/url-rewrite';
import { migrateSiteWorkflow, migrationStepQuery, type MigrateSiteResult } from '../../workflows/migrate-site';
import { siteStateQuery } from '../../workflows/site';
import { WORDPRESS_IMAGE } from '../../devkit/wordpress-image';
import { useLocalFarm } from '../helpers/local-farm';
import { phpJudge } from '../helpers/php';
import { siteNames } from '../../lib/site-names';
import { scratchDatabaseNames } from '../../lib/scratch-names';
import { drover, stopWorkerProcess } from '../helpers/cli';
import { useOldHost } from '../helpers/old-host';
import { TEST_STATE_DIR } from '../helpers/paths';
import { freePort } from '../helpers/ports';
import { treeHashes } from '../helpers/restore-point';
import { connectTestServer, deleteExecution, testEnv } from '../helpers/temporal';
import { createActivityDeps } from '../../activities';
import { DigitalOceanClient } from '../../lib/clients/digitalocean-client';
import { DigitalOceanEmulator } from '../do-emulator/server';

const ctx = useOldHost({ mysql8: true, name: 'old-host-cli', sshPort: 12242 + Number(process.env.DROVER_TEST_PORT_OFFSET ?? 100), dbPort: 13325 + Number(process.env.DROVER_TEST_PORT_OFFSET ?? 100) });
const HEADER = 'domain,source_ssh,source_path,source_db,source_db_host,source_db_user,source_db_password_file,from_url,to_url';
// The sites' entities and their creation run on drover-infra; migrate workers are started per test. Three nodes:
// each local node offers this machine's 2 CPUs and a site's service reserves 0.1 (stacks/wordpress.yml), so one
// worker holds 20 sites; the wave of 12 and the file's other sites do not all fit on one.
const farm = useLocalFarm('mc', { queues: ['infra'], subnetSecond: 234, nodes: 3 });
const dir = path.join(TEST_STATE_DIR, 'migrate-cli');
mkdirSync(dir, { recursive: true });
const env = () => ({ DROVER_MIGRATE_HOST_KEYS: ctx.host.hostKeyFingerprint });

function file(name: string, lines: string[]): string {
  const f = path.join(dir, name);
  writeFileSync(f, lines.join('\n') + '\n');
  return f;
}

async function workflowExists(id: string): Promise<boolean> {
  const tw = await connectTestServer();
  try {
    await tw.client.workflow.getHandle(id).describe();
    return true;
  } catch {
    return false;
  } finally {
    await tw.teardown();
  }
}

/** A TCP relay to the old host's sshd that can be cut: the old host "becomes unreachable". */
async function relay(to: number): Promise<{ port: number; cut: () => void }> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((c) => {
    const up = net.connect(to, '127.0.0.1');
    sockets.add(c).add(up);
    c.pipe(up).pipe(c);
    const end = () => { c.destroy(); up.destroy(); };
    c.on('error', end).on('close', end);
    up.on('error', end).on('close', end);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, '127.0.0.1', () => r()));
  return { port, cut: () => { server.close(); for (const s of sockets) s.destroy(); } };
}

const stopWorker = (w: ChildProcess): Promise<void> => stopWorkerProcess(w);

async function getSiteStatus(domain: string): Promise<string | undefined> {
  return withDeps(async (deps) => (await getSite(deps.galera, domain))?.status);
}

async function withDeps<T>(fn: (deps: ReturnType<typeof createActivityDeps>) => Promise<T>): Promise<T> {
  const deps = createActivityDeps(testEnv());
  try {
    return await fn(deps);
  } finally {
    await deps.galera.close();
    deps.s3.destroy();
  }
}

/** CHECKSUM TABLE of every table of a source database (on the old host's own server). */
async function sourceChecksums(db: string): Promise<Record<string, string>> {
  const [tables] = await ctx.host.rootPool().query<RowDataPacket[]>("SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_TYPE = 'BASE TABLE' ORDER BY 1", [db]);
  const out: Record<string, string> = {};
  for (const { t } of tables) {
    const [[c]] = await ctx.host.rootPool().query<RowDataPacket[]>(`CHECKSUM TABLE \`${db}\`.\`${String(t)}\``);
    out[String(t)] = String(c.Checksum);
  }
  return out;
}

describe('drover migrate', () => {
  it('bad input exits 2 naming line and field, before anything starts', async () => {
    const site = await ctx.host.addSite({ domain: 'badinput-old.example.com', posts: 3 });
    const good = (domain: string, pw = site.sourceDbPasswordFile) => `${domain},${site.sourceSsh},${site.sourcePath},${site.sourceDb},${site.sourceDbHost},${site.sourceDbUser},${pw},,`;
    const cases: [string, string[], RegExp][] = [
      ['dup.csv', [HEADER, good('dup-a.example.com'), good('DUP-A.example.com')], /dup\.csv:3: domain: dup-a\.example\.com is already on line 2/],
      ['invalid.csv', [HEADER, good('dup-a.example.com'), good('bad_domain!.example.com')], /invalid\.csv:3: domain:/],
      ['missing.csv', [HEADER.replace(',source_db_user', ''), 'x.example.com,root@h,/p,db,,/pw,,'], /missing\.csv:1: source_db_user: missing column/],
    ];
    for (const [name, lines, expected] of cases) {
      const r = await drover(['migrate', 'check', '--file', file(name, lines)], { env: env() });
      expect(r.code, `${name}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toMatch(expected);
      const s = await drover(['migrate', 'site', '--file', path.join(dir, name), '--domain', 'dup-a.example.com'], { env: env() });
      expect(s.code).toBe(2);
    }
    // The password file is checked where it is read: on a migration worker.
    const nopw = file('nopw.csv', [HEADER, good('nopw-a.example.com'), good('nopw-b.example.com', '/nonexistent/drover/nopw.password')]);
    const r = await drover(['migrate', 'check', '--file', nopw, '--worker'], { env: env() });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(/nopw\.csv:3: source_db_password_file: ConfigMissing: .*\/nonexistent\/drover\/nopw\.password/);
    expect(r.stderr).not.toMatch(/nopw\.csv:2/);
    for (const d of ['dup-a.example.com', 'nopw-a.example.com', 'nopw-b.example.com']) expect(await workflowExists(`migrate/single/${d}`)).toBe(false);
    // A --farm that names no cluster (a typo of the farm's name) is refused before the copy, by the farm's own lookup
    // on drover-infra (this file's infra worker polls): exit 2 naming --farm, no migration or wave started.
    const typo = file('typo.csv', [`wave,${HEADER}`, `typo,${good('typo-a.example.com')}`]);
    const wrongFarm = `${farm.farm}x`;
    for (const args of [['migrate', 'site', '--file', typo, '--domain', 'typo-a.example.com'], ['migrate', 'wave', 'start', '--file', typo]]) {
      const t = await drover([...args, '--farm', wrongFarm, '--json'], { env: env() });
      expect(t.code, `${args.join(' ')}: ${t.stdout}${t.stderr}`).toBe(2);
      expect(t.json()).toMatchObject({ ok: false, error: { field: '--farm' } });
      expect(JSON.stringify(t.json())).toContain(`no cluster named ${wrongFarm}`);
    }
    expect(await workflowExists('migrate/typo/typo-a.example.com')).toBe(false);
    expect(await workflowExists('wave/typo')).toBe(false);
  }, 300_000);

  it('migrates a wpx7_ site with tricky values, a trigger, a view and a function: PHP unserializes every value, the page renders through the front, recorded once, the source unchanged', async () => {
    const site = await ctx.host.addSite({ domain: 'cli-old.example.com', posts: 8, wordpressCore: true, programs: true });
    const domain = 'cli-migrated.example.com';
    const n = siteNames(domain);
    const before = { files: treeHashes(site.sourcePath), tables: await sourceChecksums(site.sourceDb) };
    const toUrl = `http://${domain}`;
    const f = file('good.csv', [`wave,${HEADER}`, `w1,${domain},${site.sourceSsh},${site.sourcePath},${site.sourceDb},${site.sourceDbHost},${site.sourceDbUser},${site.sourceDbPasswordFile},,${toUrl}`]);
    const check = await drover(['migrate', 'check', '--file', f, '--worker', '--json'], { env: env() });
    expect(check.code, check.stderr).toBe(0);
    expect(check.json()).toMatchObject({ sites: [{ domain, preflight: { tablePrefix: 'wpx7_', db: { tables: 12 } } }] });
    const r = await drover(['migrate', 'site', '--file', f, '--domain', domain, '--worker', '--json', '--farm', farm.farm], { env: env(), timeoutMs: 1_200_000 });
    expect(r.code, r.stdout + r.stderr + farm.output()).toBe(0);
    const out = r.json() as unknown as MigrateSiteResult;
    expect(out).toMatchObject({
      step: 'migrated',
      done: ['preflight', 'copy files', 'load database', 'rewrite urls', 'check staged database', 'create site', 'swap database', 'move files', 'flush caches', 'verify', 'record'],
      check: { oldUrlLeft: [], administrators: 1 },
      database: { tables: 12, mapped: { 'utf8mb4_0900_ai_ci → utf8mb4_uca1400_nopad_ai_ci': expect.any(Number) } },
      moved: { wpConfig: { adapted: true, removed: expect.arrayContaining(['DB_NAME', 'DB_USER', 'DB_PASSWORD', 'DB_HOST']) } },
      verified: { tables: 12, programs: 3, administrators: 1, page: { status: 200 } },
    });
    expect(r.stderr).toMatch(/migrate\/w1\/cli-migrated\.example\.com/);

    await withDeps(async (deps) => {
      const node = await deps.galera.writerNode();
      // The site on the farm: registered active with the source's prefix, its entity free again, migrated once.
      expect(await getSite(deps.galera, domain)).toMatchObject({ status: 'active', tablePrefix: 'wpx7_', database: n.database, dbUser: n.dbUser });
      const rec = await deps.galera.query<RowDataPacket[]>(node, 'SELECT * FROM drover_meta.migrations WHERE domain = ?', [domain]);
      expect(rec).toHaveLength(1);
      expect(rec[0]).toMatchObject({ workflow_id: `migrate/w1/${domain}`, wave: 'w1', table_prefix: 'wpx7_', to_url: toUrl, from_url: expect.stringContaining('cli-old.example.com') });
      expect(JSON.parse(String(rec[0].rewrite_report)).find((t: { table: string }) => t.table === 'wpx7_options')).toMatchObject({ status: 'rewritten', rowsChanged: expect.any(Number) });
      // PHP unserializes every serialized value of the live site, with the new URL and no old one.
      const values = await deps.galera.query<RowDataPacket[]>(node, `SELECT k, CAST(v AS BINARY) AS v FROM (SELECT option_name AS k, option_value AS v FROM \`${n.database}\`.wpx7_options UNION ALL SELECT meta_key, meta_value FROM \`${n.database}\`.wpx7_postmeta UNION ALL SELECT meta_key, meta_value FROM \`${n.database}\`.wpx7_usermeta) x`);
      const byKey = new Map(values.map((v) => [String(v.k), v.v as Buffer]));
      const rewriter = new UrlRewriter(site.fromUrl, toUrl);
      for (const v of site.values) {
        const after = byKey.get(v.key)!;
        expect(after.toString('utf8'), v.key).not.toContain('cli-old.example.com');
        expect(after.toString('utf8'), v.key).toContain('cli-migrated.example.com');
        if (v.serialized) expect(phpJudge('', rewriter.needles, [{ original: v.value, rewritten: after }])[0], v.key).toMatchObject({ unserializes: true, roundTrips: true });
      }
      const serialized = values.filter((v) => /^[aOs]:\d+:/.test((v.v as Buffer).toString('latin1')));
      expect(serialized.length).toBeGreaterThan(10);
      expect(phpJudge('', rewriter.needles, serialized.map((v) => ({ rewritten: v.v as Buffer }))).every((x) => x.unserializes)).toBe(true);
      expect(byKey.get('wpx7_user_roles')?.toString('utf8')).toContain('s:13:"administrator"');
      // The trigger, the view and the function came along and work on the farm.
      const [fn] = await deps.galera.query<RowDataPacket[]>(node, `SELECT \`${n.database}\`.wpx7_post_count() AS n, (SELECT COUNT(*) FROM \`${n.database}\`.wpx7_posts) AS posts, (SELECT COUNT(*) FROM \`${n.database}\`.wpx7_published_posts) AS published`);
      expect(Number(fn.n)).toBe(Number(fn.posts));
      expect(Number(fn.published)).toBeGreaterThan(0);
      await deps.galera.query(node, `INSERT INTO \`${n.database}\`.wpx7_comments (comment_post_ID, comment_author, comment_date, comment_date_gmt, comment_content, comment_agent) VALUES (1, 'x', NOW(), NOW(), 'trigger check', ?)`, ['a'.repeat(250)]);
      const [agent] = await deps.galera.query<RowDataPacket[]>(node, `SELECT LENGTH(comment_agent) AS n FROM \`${n.database}\`.wpx7_comments WHERE comment_content = 'trigger check'`);
      expect(Number(agent.n)).toBe(200);
    });
    // wp-config.php on the farm: the database from the service, not the old host's settings.
    const config = readFileSync(path.join(n.docroot, 'wp-config.php'), 'utf8');
    expect(config).toContain("getenv_docker('WORDPRESS_DB_PASSWORD'");
    expect(config).not.toContain(site.sourceDb);
    expect(config).toContain("$table_prefix = 'wpx7_';");
    expect(existsSync(`${n.docroot}.migrating`)).toBe(false);
    // The home page through the front, with its Host: the title, links to the new URL, nothing from the old host.
    const page = await requestWithHost(new URL('/', testEnv().DROVER_FRONT_URL).toString(), { method: 'GET', host: domain, unavailable: 'SiteUnavailable', maxBody: 1_048_576, timeoutMs: 60_000 });
    expect(page.status).toBe(200);
    expect(page.body).toContain('cli-old — a WordPress site');
    expect(page.body).toContain(`${toUrl}/wp-content/uploads/2024/01/photo-1.jpg`);
    expect(page.body).not.toContain('cli-old.example.com');
    // And in a browser: Chromium loads http://<domain>/, every request for the domain answered through the front
    // with its Host (the page as the front serves it; other resources of the domain get an empty answer): the title
    // renders, and nothing is requested from the old host.
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const tab = await browser.newPage();
      const requested: string[] = [];
      tab.on('request', (req) => requested.push(req.url()));
      await tab.route('**/*', async (route) => {
        const u = new URL(route.request().url());
        if (u.hostname !== domain) return route.abort();
        if (route.request().resourceType() !== 'document') return route.fulfill({ status: 204 });
        const a = await requestWithHost(new URL(u.pathname + u.search, testEnv().DROVER_FRONT_URL).toString(), { method: 'GET', host: domain, unavailable: 'SiteUnavailable', maxBody: 1_048_576, timeoutMs: 60_000 });
        return route.fulfill({ status: a.status, contentType: String(a.headers['content-type'] ?? 'text/html; charset=UTF-8'), body: a.body });
      });
      const res = await tab.goto(`http://${domain}/`, { waitUntil: 'load', timeout: 60_000 });
      expect(res?.status()).toBe(200);
      expect(await tab.title()).toBe('cli-old — a WordPress site');
      expect(await tab.locator('h1').textContent()).toBe('cli-old — a WordPress site');
      expect(requested.length).toBeGreaterThan(1);
      expect(requested.filter((x) => !x.startsWith(`http://${domain}/`))).toEqual([]);
    } finally {
      await browser.close();
    }
    // The entity let the site go: it is an ordinary created site again.
    const tw = await connectTestServer();
    try {
      expect(await tw.client.workflow.getHandle(`site/${domain}`).query(siteStateQuery)).toMatchObject({ phase: 'created', migratingBy: null, spec: { title: 'cli-old — a WordPress site' } });
    } finally {
      await tw.teardown();
    }
    // The source was only read.
    expect(treeHashes(site.sourcePath)).toEqual(before.files);
    expect(await sourceChecksums(site.sourceDb)).toEqual(before.tables);
  }, 1_500_000);

  it('migrate workers killed during the file copy and during the database load: the site ends migrated exactly once', async () => {
    const site = await ctx.host.addSite({ domain: 'crash2-old.example.com', posts: 20, uploadBytes: 3 * 1024 * 1024, wordpressCore: true });
    const domain = 'crash2-migrated.example.com';
    const n = siteNames(domain);
    const before = { files: treeHashes(site.sourcePath), tables: await sourceChecksums(site.sourceDb) };
    const workflowId = `migrate/single/${domain}`;
    const tw = await connectTestServer();
    try {
      const handle = await tw.client.workflow.start(migrateSiteWorkflow, {
        workflowId,
        taskQueue: TASK_QUEUES.migrate,
        typedSearchAttributes: siteSearchAttributes(domain, 'migrate', { wave: 'single' }),
        args: [{
          source: { domain, wave: 'single', ssh: { user: 'root', host: '127.0.0.1', port: Number(site.sourceSsh.split(':').pop()) }, sourcePath: site.sourcePath, sourceDb: site.sourceDb, sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: site.sourceDbUser, sourceDbPasswordFile: site.sourceDbPasswordFile, fromUrl: '', toUrl: `http://${domain}` },
          // ~3 s for WordPress core and the uploads: the worker dies with the copy under way.
          bandwidthLimitKBps: 20_000,
          // A dead worker's step is retried after 5 s instead of 30.
          timeouts: { heartbeat: '5 seconds' },
          target: { farm: farm.farm, provider: 'local', phpVersion: '8.2', image: WORDPRESS_IMAGE },
        }],
      });
      for (const crashAt of ['copySiteFiles:copying', 'loadSourceDatabase:loading']) {
        // Not waited for until it polls: it may pick the step up and die before anyone looks.
        const w = await farm.spawnWorker('migrate', { ...env(), DROVER_FAULT_CRASH_AT: crashAt }, { waitPolling: false });
        let err = '';
        w.stderr!.on('data', (d) => (err += d));
        await new Promise((res) => w.once('close', res));
        expect(err).toContain(`crashing at ${crashAt}`);
      }
      const w = await farm.spawnWorker('migrate', env());
      try {
        const r = await handle.result();
        expect(r).toMatchObject({ step: 'migrated', verified: { tables: 12, page: { status: 200 } } });
        expect((await handle.describe()).runId).toBe(handle.firstExecutionRunId);
      } finally {
        await stopWorker(w);
      }
      // Exactly once: one migration record, one create by the entity, the rows equal the source's.
      await withDeps(async (deps) => {
        const node = await deps.galera.writerNode();
        const [rec] = await deps.galera.query<RowDataPacket[]>(node, 'SELECT COUNT(*) AS n FROM drover_meta.migrations WHERE domain = ?', [domain]);
        expect(Number(rec.n)).toBe(1);
        const [posts] = await deps.galera.query<RowDataPacket[]>(node, `SELECT COUNT(*) AS n FROM \`${n.database}\`.wpx7_posts`);
        const [src] = (await ctx.host.rootPool().query<RowDataPacket[]>(`SELECT COUNT(*) AS n FROM \`${site.sourceDb}\`.wpx7_posts`))[0];
        expect(Number(posts.n)).toBe(Number(src.n));
      });
      const entity = await tw.client.workflow.getHandle(`site/${domain}`).query(siteStateQuery);
      expect(entity).toMatchObject({ phase: 'created', operations: 1, migratingBy: null });
      expect(treeHashes(n.docroot)['wp-content/uploads/2024/01/photo-1.jpg']).toBe(before.files['wp-content/uploads/2024/01/photo-1.jpg']);
    } finally {
      await tw.teardown();
    }
    expect(treeHashes(site.sourcePath)).toEqual(before.files);
    expect(await sourceChecksums(site.sourceDb)).toEqual(before.tables);
  }, 1_500_000);

  it('a verification that fails after the site was created (the old site written to meanwhile) removes the site from the farm', async () => {
    const site = await ctx.host.addSite({ domain: 'busy-old.example.com', posts: 5 });
    const domain = 'busy-migrated.example.com';
    const n = siteNames(domain);
    const tw = await connectTestServer();
    const w = await farm.spawnWorker('migrate', env());
    try {
      const handle = await tw.client.workflow.start(migrateSiteWorkflow, {
        workflowId: `migrate/single/${domain}`,
        taskQueue: TASK_QUEUES.migrate,
        typedSearchAttributes: siteSearchAttributes(domain, 'migrate', { wave: 'single' }),
        args: [{
          source: { domain, wave: 'single', ssh: { user: 'root', host: '127.0.0.1', port: Number(site.sourceSsh.split(':').pop()) }, sourcePath: site.sourcePath, sourceDb: site.sourceDb, sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: site.sourceDbUser, sourceDbPasswordFile: site.sourceDbPasswordFile, fromUrl: '', toUrl: `http://${domain}` },
          target: { farm: farm.farm, provider: 'local', phpVersion: '8.2', image: WORDPRESS_IMAGE },
        }],
      });
      // Once the site is being created, a visitor comments on the old site: the copy no longer equals the source.
      for (let i = 0; i < 600 && !['create site', 'swap database'].includes((await handle.query(migrationStepQuery)).step); i++) await new Promise((res) => setTimeout(res, 500));
      await ctx.host.rootPool().query(`INSERT INTO \`${site.sourceDb}\`.wpx7_comments (comment_post_ID, comment_author, comment_date, comment_date_gmt, comment_content) VALUES (1, 'late visitor', NOW(), NOW(), 'written during the migration')`);
      const err = await handle.result().then(() => null, (e: Error) => e);
      expect(err).not.toBeNull();
      const cause = (err as Error & { cause?: Error & { type?: string; message: string } }).cause!;
      expect(cause.type).toBe('MigrationVerificationFailed');
      expect(cause.message).toMatch(/failed at verify: .*table wpx7_comments has \d+ rows, the source \d+/);
      expect(cause.message).toMatch(/site busy-migrated\.example\.com \(through its entity\)/);
      // Nothing of it is left on the farm: registry, database, user, files, staging; the entity free and the site deleted.
      await withDeps(async (deps) => {
        const node = await deps.galera.writerNode();
        expect(await getSite(deps.galera, domain)).toMatchObject({ status: 'deleted' });
        const [db] = await deps.galera.query<RowDataPacket[]>(node, 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME IN (?, ?, ?)', [n.database, scratchDatabaseNames(n.database).staging, scratchDatabaseNames(n.database).previous]);
        expect(Number(db.n)).toBe(0);
        const [user] = await deps.galera.query<RowDataPacket[]>(node, 'SELECT COUNT(*) AS n FROM mysql.user WHERE User = ?', [n.dbUser]);
        expect(Number(user.n)).toBe(0);
        const [rec] = await deps.galera.query<RowDataPacket[]>(node, 'SELECT COUNT(*) AS n FROM drover_meta.migrations WHERE domain = ?', [domain]);
        expect(Number(rec.n)).toBe(0);
      });
      expect(existsSync(n.siteRoot)).toBe(false);
      expect(await tw.client.workflow.getHandle(`site/${domain}`).query(siteStateQuery)).toMatchObject({ phase: 'deleted', migratingBy: null });
    } finally {
      await stopWorker(w);
      await tw.teardown();
    }
  }, 1_500_000);

  it('--cutover: the A record\'s TTL lowered before the final copy, the source frozen during it, the record pointed at the farm after; a failure after the switch puts record and source back', async () => {
    const emu = new DigitalOceanEmulator();
    const url = await emu.start();
    const doEnv = { DROVER_DO_API_URL: url, DROVER_DO_TOKEN: 'emulator-token' };
    const dns = new DigitalOceanClient(url, 'emulator-token');
    await dns.request('POST', '/v2/domains', { name: 'example.com', ip_address: '192.0.2.1' });
    // Names of their own per run (a kept test environment keeps the earlier runs' workflows).
    const tag = Date.now().toString(36).slice(-6);
    const waveName = `cut-${tag}`;
    const okDomain = `cutover-${tag}.example.com`;
    const badDomain = `cutback-${tag}.example.com`;
    const okRec = await dns.createDomainRecord('example.com', { type: 'A', name: `cutover-${tag}`, data: '192.0.2.10', ttl: 3600 });
    const badRec = await dns.createDomainRecord('example.com', { type: 'A', name: `cutback-${tag}`, data: '192.0.2.11', ttl: 3600 });
    const record = (id: number) => ({ ...emu.domains.get('example.com')!.get(id)! });
    const ok = await ctx.host.addSite({ domain: 'cutover-old.example.com', posts: 3, wordpressCore: true });
    const bad = await ctx.host.addSite({ domain: 'cutback-old.example.com', posts: 3, wordpressCore: true });
    const farmIp = new URL(testEnv().DROVER_FRONT_URL!).hostname;
    const f = file('cutover.csv', [`wave,${HEADER}`, `${waveName},${okDomain},${ok.sourceSsh},${ok.sourcePath},${ok.sourceDb},${ok.sourceDbHost},${ok.sourceDbUser},${ok.sourceDbPasswordFile},,http://${okDomain}`]);
    // Without a DigitalOcean token, --cutover is refused (exit 2, naming the variable) before anything starts.
    const refused = await drover(['migrate', 'start', '--file', f, '--cutover', '--farm', farm.farm], { env: env() });
    expect(refused.code, refused.stderr).toBe(2);
    expect(refused.stderr).toMatch(/DROVER_DO_TOKEN/);
    expect(await workflowExists(`wave/${waveName}`)).toBe(false);
    // The second site's read-back after its switch is refused: a failure after its A record changed.
    emu.refuse('GET', `/v2/domains/example.com/records/${badRec.id}`, 1);
    const tw = await connectTestServer();
    const w = await farm.spawnWorker('migrate', { ...env(), ...doEnv });
    try {
      const started = await drover(['migrate', 'start', '--file', f, '--cutover', '--farm', farm.farm], { env: { ...env(), ...doEnv } });
      expect(started.code, started.stderr).toBe(0);
      // The wave's row in drover_meta is written as it starts.
      let row: RowDataPacket | undefined;
      for (let i = 0; i < 300 && !row; i++) {
        row = (await withDeps(async (deps) => deps.galera.query<RowDataPacket[]>(await deps.galera.writerNode(), 'SELECT * FROM drover_meta.migration_waves WHERE wave = ?', [waveName])))[0];
        if (!row) await new Promise((res) => setTimeout(res, 200));
      }
      expect(row).toMatchObject({ workflow_id: `wave/${waveName}`, state: 'running', total: 1, ended_at: null, file_digest: expect.stringMatching(/^[0-9a-f]{16}$/) });
      const badHandle = await tw.client.workflow.start(migrateSiteWorkflow, {
        workflowId: `migrate/single/${badDomain}`,
        taskQueue: TASK_QUEUES.migrate,
        typedSearchAttributes: siteSearchAttributes(badDomain, 'migrate', { wave: 'single' }),
        args: [{
          source: { domain: badDomain, wave: 'single', ssh: { user: 'root', host: '127.0.0.1', port: Number(bad.sourceSsh.split(':').pop()) }, sourcePath: bad.sourcePath, sourceDb: bad.sourceDb, sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: bad.sourceDbUser, sourceDbPasswordFile: bad.sourceDbPasswordFile, fromUrl: '', toUrl: `http://${badDomain}` },
          target: { farm: farm.farm, provider: 'local', phpVersion: '8.2', image: WORDPRESS_IMAGE },
          cutover: { ttlSeconds: 60 },
        }],
      });
      // While the last changes are copied (files again, then the database): the source frozen, the TTL already
      // lowered, the record still on the old host.
      const child = tw.client.workflow.getHandle(`migrate/${waveName}/${okDomain}`);
      const seen: { step: string; maintenance: boolean; ttl: number; data: string; at: number }[] = [];
      for (let i = 0; i < 6000; i++) {
        const st = await child.query(migrationStepQuery).catch(() => null);
        if (st && ['final sync', 'load database', 'rewrite urls', 'check staged database'].includes(st.step)) {
          const rec = record(okRec.id);
          seen.push({ step: st.step, maintenance: existsSync(path.join(ok.sourcePath, '.maintenance')), ttl: rec.ttl, data: rec.data, at: Date.now() });
        }
        if (st && ['create site', 'swap database', 'migrated', 'failed'].includes(st.step)) break;
        await new Promise((res) => setTimeout(res, 50));
      }
      expect(seen.length, farm.output()).toBeGreaterThan(0);
      for (const x of seen) expect(x).toMatchObject({ maintenance: true, ttl: 60, data: '192.0.2.10' });
      const r = (await child.result()) as MigrateSiteResult;
      expect(r).toMatchObject({ step: 'migrated', cutover: { farmIp, ttlSeconds: 60, switched: true, sourceUnfrozen: true, before: { zone: 'example.com', name: `cutover-${tag}`, ip: '192.0.2.10', ttl: 3600 } } });
      expect(r.done).toEqual(['preflight', 'lower ttl', 'copy files', 'freeze source', 'final sync', 'load database', 'rewrite urls', 'check staged database', 'create site', 'swap database', 'move files', 'flush caches', 'verify', 'switch dns', 'unfreeze source', 'record']);
      // After: the A record on the farm with the lowered TTL, the source open again, the other records untouched.
      expect(record(okRec.id)).toMatchObject({ type: 'A', name: `cutover-${tag}`, data: farmIp, ttl: 60 });
      expect(existsSync(path.join(ok.sourcePath, '.maintenance'))).toBe(false);
      expect((await dns.domainRecords('example.com', { type: 'A', name: 'example.com' })).map((x) => x.data)).toEqual(['192.0.2.1']);
      // The emulator's request log: the TTL change, then (after the frozen copy was seen) the switch.
      const patches = emu.log.filter((l) => l.method === 'PATCH' && l.path === `/v2/domains/example.com/records/${okRec.id}`);
      expect(patches.map((l) => l.status)).toEqual([200, 200]);
      expect(patches[0].at).toBeLessThanOrEqual(seen[0].at);
      expect(patches[1].at).toBeGreaterThan(seen[seen.length - 1].at);
      expect(await getSiteStatus(okDomain)).toBe('active');

      // The failed one: its record back on the old host with its old TTL, its source open again, nothing on the farm.
      const err = await badHandle.result().then(() => null, (e: Error) => e);
      const cause = (err as Error & { cause?: Error & { type?: string } }).cause!;
      expect(cause.message).toMatch(/failed at switch dns: .*GET \/v2\/domains\/example\.com\/records\/\d+: 422/);
      expect(cause.message).toMatch(new RegExp(`DNS of cutback-${tag}\\.example\\.com back to 192\\.0\\.2\\.11`));
      expect(cause.message).toMatch(/maintenance mode on 127\.0\.0\.1/);
      expect(record(badRec.id)).toMatchObject({ data: '192.0.2.11', ttl: 3600 });
      const badPatches = emu.log.filter((l) => l.method === 'PATCH' && l.path === `/v2/domains/example.com/records/${badRec.id}`);
      expect(badPatches.length).toBe(3); // lowered, switched, put back
      expect(existsSync(path.join(bad.sourcePath, '.maintenance'))).toBe(false);
      expect(await getSiteStatus(badDomain)).toBe('deleted');
      const wave = await tw.client.workflow.getHandle(`wave/${waveName}`).result();
      expect(wave).toMatchObject({ state: 'done' });
      // …and as it ends; `migrate status` shows it from there once the wave's history is gone.
      const [ended] = await withDeps(async (deps) => deps.galera.query<RowDataPacket[]>(await deps.galera.writerNode(), 'SELECT * FROM drover_meta.migration_waves WHERE wave = ?', [waveName]));
      expect(ended).toMatchObject({ state: 'done', total: 1, operator: row!.operator, file_digest: row!.file_digest });
      expect(ended.ended_at).not.toBeNull();
      expect(JSON.parse(String(ended.counts))).toMatchObject({ migrated: 1, failed: 0 });
      await deleteExecution(tw.client, `wave/${waveName}`);
      const status = await drover(['migrate', 'status', waveName, '--json']);
      expect(status.code, status.stderr).toBe(0);
      expect(status.json()).toMatchObject({ wave: waveName, state: 'done', total: 1, counts: { migrated: 1 }, recorded: { workflowId: `wave/${waveName}`, fileDigest: row!.file_digest } });
      const plain = await drover(['migrate', 'status', waveName]);
      expect(plain.stdout).toContain(`from drover_meta (wave/${waveName}'s history is gone)`);
      // Steering it then is refused as an ended wave (exit 1), not as a name that names nothing (exit 2).
      const pause = await drover(['migrate', 'wave', 'pause', waveName]);
      expect([pause.code, pause.stderr]).toEqual([1, expect.stringContaining(`wave ${waveName} is no longer in the namespace (drover_meta records it done, ended `)]);
    } finally {
      await stopWorker(w);
      await tw.teardown();
      await emu.stop();
    }
  }, 1_500_000);

  it('a wave of 12 sites at concurrency 4 into the farm (a 40-character wave name, an IDN, a 63-character label): every site created, verified and serving its title through the front, never more than 4 in flight, recorded once, the sources unchanged; 3 runs of bounded history; status --watch prints plain lines', async () => {
    const suffix = String(process.pid % 10000);
    const wave = `w12-${suffix}-`.padEnd(40, 'x');
    const sites = [];
    for (let i = 0; i < 12; i++) sites.push(await ctx.host.addSite({ domain: `w12-old-${i}.example.net`, posts: 3, uploadBytes: 16 * 1024, wordpressCore: true }));
    const given = sites.map((_, i) => (i === 3 ? `wellen-café-${suffix}.example.com` : i === 11 ? `${`w12-${suffix}-`.padEnd(63, 'x')}.example.com` : `w12-${suffix}-${i}.example.com`));
    const before = sites.map((s) => treeHashes(s.sourcePath));
    const f = file('w12.csv', [`${HEADER},wave`, ...sites.map((s, i) => [given[i], s.sourceSsh, s.sourcePath, s.sourceDb, s.sourceDbHost, s.sourceDbUser, s.sourceDbPasswordFile, '', '', wave].join(','))]);
    const run = drover(['migrate', 'wave', 'start', '--file', f, '--concurrency', '4', '--sites-per-run', '5', '--worker', '--json', '--farm', farm.farm], { env: env(), timeoutMs: 1_500_000 });
    // An operator watching from another terminal (here a pipe): plain lines until the wave ends.
    let watch = await drover(['migrate', 'wave', 'status', wave, '--watch'], { env: env(), timeoutMs: 1_500_000 });
    // (until the start command has started the wave and its in-process worker polls)
    for (let i = 0; watch.code !== 0 && /no wave|no worker polls/i.test(watch.stdout + watch.stderr) && i < 120; i++) {
      await new Promise((res) => setTimeout(res, 500));
      watch = await drover(['migrate', 'wave', 'status', wave, '--watch'], { env: env(), timeoutMs: 1_500_000 });
    }
    const r = await run;
    expect(r.code, r.stdout + r.stderr + farm.output()).toBe(0);
    expect(watch.code, watch.stdout + watch.stderr).toBe(0);
    expect(watch.stdout).toMatch(new RegExp(`wave ${wave}: running`));
    expect(watch.stdout.trim().split('\n').pop()).toMatch(/migrated 12 · in flight 0/);
    expect(r.json()).toMatchObject({ state: 'done', counts: { migrated: 12, failed: 0 } });
    const domains = given.map((d) => new URL(`http://${d}/`).hostname);
    expect(domains[3]).toMatch(/^xn--/);
    const tw = await connectTestServer();
    try {
      // Every site's own workflow: migrated onto the farm and verified there (tables, administrators, its page).
      const runs: { start: number; end: number }[] = [];
      for (const d of domains) {
        const h = tw.client.workflow.getHandle(`migrate/${wave}/${d}`);
        const out = (await h.result()) as MigrateSiteResult;
        expect(out, d).toMatchObject({ step: 'migrated', verified: { administrators: 1, page: { status: 200 } } });
        expect(out.done, d).toEqual(expect.arrayContaining(['create site', 'swap database', 'move files', 'verify', 'record']));
        const desc = await h.describe();
        runs.push({ start: desc.startTime.getTime(), end: desc.closeTime!.getTime() });
      }
      // The window held: at no child's start were more than 4 children running (this one included).
      for (const a of runs) expect(runs.filter((b) => b.start <= a.start && b.end > a.start).length).toBeLessThanOrEqual(4);
      // The wave continued as new on the way (5 starts per run): 3 runs.
      const waveRuns = [];
      for await (const w of tw.client.workflow.list({ query: `WorkflowId = "wave/${wave}"` })) waveRuns.push(w.runId);
      expect(waveRuns.length).toBe(3);
      for (const id of waveRuns) expect(Number((await tw.client.workflow.getHandle(`wave/${wave}`, id).describe()).raw.workflowExecutionInfo?.historyLength)).toBeLessThan(1500);
    } finally {
      await tw.teardown();
    }
    await withDeps(async (deps) => {
      const node = await deps.galera.writerNode();
      for (const d of domains) {
        expect(await getSite(deps.galera, d), d).toMatchObject({ status: 'active', tablePrefix: 'wpx7_' });
        const rec = await deps.galera.query<RowDataPacket[]>(node, 'SELECT wave FROM drover_meta.migrations WHERE domain = ?', [d]);
        expect(rec, d).toEqual([expect.objectContaining({ wave })]);
      }
    });
    // Each site's home page through the front, with its Host: its own title.
    for (const [i, d] of domains.entries()) {
      const page = await requestWithHost(new URL('/', testEnv().DROVER_FRONT_URL).toString(), { method: 'GET', host: d, unavailable: 'SiteUnavailable', maxBody: 1_048_576, timeoutMs: 60_000 });
      expect(page.status, d).toBe(200);
      expect(page.body, d).toContain(`<title>w12-old-${i} — a WordPress site</title>`);
    }
    // The sources were only read.
    sites.forEach((s, i) => expect(treeHashes(s.sourcePath), s.domain).toEqual(before[i]));
  }, 1_800_000);

  it('a source that becomes unreachable mid-copy fails with its cause and leaves nothing on the farm; the source unchanged', async () => {
    const site = await ctx.host.addSite({ domain: 'cut-old.example.com', posts: 3, uploadBytes: 4 * 1024 * 1024 });
    const before = treeHashes(site.sourcePath);
    const link = await relay(Number(site.sourceSsh.split(':').pop()));
    const domain = 'cut-migrated.example.com';
    const names = siteNames(domain);
    const f = file('cut.csv', [HEADER, `${domain},root@127.0.0.1:${link.port},${site.sourcePath},${site.sourceDb},${site.sourceDbHost},${site.sourceDbUser},${site.sourceDbPasswordFile},,`]);
    // A slow link (256 KiB/s) so the copy is under way when the host goes away.
    const run = drover(['migrate', 'site', '--file', f, '--domain', domain, '--worker', '--json', '--bwlimit', '256', '--farm', farm.farm], { env: env() });
    const dest = `${names.docroot}.migrating`;
    // Cut once the copy has really moved bytes (4 MiB at 256 KiB/s take 16 s: the cut lands inside it).
    const copied = () => (existsSync(dest) ? Number(execFileSync('du', ['-sb', dest], { encoding: 'utf8' }).split('\t')[0]) : 0);
    const deadline = Date.now() + 180_000;
    while (copied() < 256 * 1024 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 200));
    expect(copied(), 'the copy started').toBeGreaterThanOrEqual(256 * 1024);
    link.cut();
    const r = await run;
    expect(r.code, r.stdout + r.stderr).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/SshUnreachable|unreachable/);
    expect(r.stdout + r.stderr).toMatch(/copy files/);
    expect(existsSync(dest)).toBe(false);
    expect(existsSync(path.dirname(dest))).toBe(false);
    const deps = createActivityDeps(testEnv());
    try {
      const rows = await deps.galera.query<RowDataPacket[]>(await deps.galera.writerNode(), 'SELECT COUNT(*) AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?', [scratchDatabaseNames(names.database).staging]);
      expect(Number(rows[0].n)).toBe(0);
    } finally {
      await deps.galera.close();
      deps.s3.destroy();
    }
    expect(treeHashes(site.sourcePath)).toEqual(before);
  }, 300_000);
});

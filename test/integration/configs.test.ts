/**
 * The shipped configs, checked by the real tools from Debian's packages: promtool (config, rules and rule unit
 * tests, every dashboard query), amtool (config and routing), varnishd -C (the VCL, with the swarm's service
 * name resolved the way Docker's DNS resolves it), libconfig (ProxySQL's own format) and the environment list
 * against what the code and the stack files read.
 */
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { SECRET_FILE_VARS } from '../../lib/env';
import { ROOT } from '../helpers/paths';
import { DROVER_SEARCH_ATTRIBUTES } from '../../lib/contract/search-attributes';
import { scratchDir } from '../helpers/scratch';

const run = promisify(execFile);
const configs = path.join(ROOT, 'configs');
const tmp = scratchDir('drover-configs-');

describe('prometheus', () => {
  it('prometheus.yml passes promtool check config, rule files included', async () => {
    const { stdout } = await run('promtool', ['check', 'config', path.join(configs, 'prometheus/prometheus.yml')]);
    expect(stdout).toContain('SUCCESS: 3 rule files found');
    expect(stdout).toContain('is valid prometheus config file syntax');
  });

  it('scrapes every exporter the stacks run and remote-writes to Mimir', () => {
    const text = readFileSync(path.join(configs, 'prometheus/prometheus.yml'), 'utf8');
    for (const job of ['node', 'cadvisor', 'traefik', 'mysqld', 'proxysql', 'redis', 'varnish', 'drover', 'drover-backups', 'alertmanager', 'loki', 'tempo', 'mimir', 'crowdsec'])
      expect(text).toMatch(new RegExp(`job_name: ${job}\\n`));
    expect(text).toContain('url: http://monitoring_mimir:9009/api/v1/push');
  });

  it('farm.yml passes promtool check rules and its promtool unit tests', async () => {
    const rules = path.join(configs, 'prometheus/rules');
    expect((await run('promtool', ['check', 'rules', 'farm.yml'], { cwd: rules })).stdout).toMatch(/SUCCESS: 12 rules found/);
    expect((await run('promtool', ['test', 'rules', 'farm.test.yml'], { cwd: rules })).stdout).toMatch(/SUCCESS/);
  });

  it('a broken rule file is refused (the check can fail)', async () => {
    const bad = path.join(tmp, 'bad.yml');
    writeFileSync(bad, stringify({ groups: [{ name: 'x', rules: [{ alert: 'X', expr: 'sum(rate(up[5m])' }] }] }));
    await expect(run('promtool', ['check', 'rules', bad])).rejects.toMatchObject({ code: 1 });
  });
});

describe('grafana dashboards', () => {
  const dir = path.join(configs, 'grafana/dashboards');
  const dashboards = readdirSync(dir).filter((f) => f.endsWith('.json'));

  it('farm overview, backups and migrations, each with a unique uid and non-overlapping panels', () => {
    expect(dashboards.sort()).toEqual(['backups.json', 'farm-overview.json', 'migrations.json']);
    const uids = new Set<string>();
    for (const f of dashboards) {
      const d = JSON.parse(readFileSync(path.join(dir, f), 'utf8'));
      expect(d.uid, f).toMatch(/^drover-/);
      uids.add(d.uid);
      const cells = new Set<string>();
      for (const p of d.panels) {
        expect(p.datasource.uid, `${f} ${p.title}`).toBe('prometheus');
        for (let x = p.gridPos.x; x < p.gridPos.x + p.gridPos.w; x++)
          for (let y = p.gridPos.y; y < p.gridPos.y + p.gridPos.h; y++) {
            expect(cells.has(`${x},${y}`), `${f}: "${p.title}" overlaps another panel`).toBe(false);
            cells.add(`${x},${y}`);
          }
        expect(p.gridPos.x + p.gridPos.w, `${f} ${p.title}`).toBeLessThanOrEqual(24);
      }
    }
    expect(uids.size).toBe(dashboards.length);
  });

  it('every panel query is valid PromQL (promtool parses each as a recording rule)', async () => {
    const rules = dashboards.flatMap((f) =>
      JSON.parse(readFileSync(path.join(dir, f), 'utf8')).panels.flatMap((p: { targets: { expr: string }[] }, i: number) => p.targets.map((t, j) => ({ record: `dashboard:${path.basename(f, '.json').replace(/-/g, '_')}:${i}_${j}`, expr: t.expr }))),
    );
    const file = path.join(tmp, 'dashboards.rules.yml');
    writeFileSync(file, stringify({ groups: [{ name: 'dashboards', rules }] }));
    const { stdout } = await run('promtool', ['check', 'rules', file]);
    expect(stdout).toContain(`SUCCESS: ${rules.length} rules found`);
    expect(rules.length).toBeGreaterThanOrEqual(30);
  });
});

describe('alertmanager', () => {
  const file = path.join(configs, 'alertmanager/alertmanager.yml');
  const routes = async (...labels: string[]) => (await run('amtool', ['config', 'routes', 'test', `--config.file=${file}`, ...labels])).stdout.trim();

  it('passes amtool check-config', async () => {
    const { stdout } = await run('amtool', ['check-config', file]);
    expect(stdout).toContain('SUCCESS');
    expect(stdout).toContain('3 receivers');
  });

  it('routes every alert to Slack, warning and up to email, critical to SMS', async () => {
    expect(await routes('alertname=X', 'severity=info')).toBe('slack');
    expect(await routes('alertname=BackupFailed', 'severity=warning')).toBe('slack,email');
    expect(await routes('alertname=NodeDown', 'severity=critical')).toBe('slack,email,sms');
  });

  it('holds no credential in plain text (they are Docker secrets read from files)', () => {
    const text = readFileSync(file, 'utf8');
    expect(text).toContain('slack_api_url_file: /run/secrets/');
    expect(text).toContain('smtp_auth_password_file: /run/secrets/');
    expect(text).not.toMatch(/hooks\.slack\.com|smtp_auth_password:/);
  });
});

describe('varnish', () => {
  it('varnishd -C compiles default.vcl with the backend resolved as Docker DNS resolves it in the swarm', async () => {
    // In the swarm `traefik` is a service name; here a private mount namespace gives it an /etc/hosts entry.
    const hosts = path.join(tmp, 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n127.0.0.1 traefik\n');
    const vcl = path.join(configs, 'varnish/default.vcl');
    // varnishd -C prints the generated C on stderr and exits 0.
    const { stderr } = await run('unshare', ['-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && exec varnishd -C -n ${path.join(tmp, 'vc')} -f ${vcl}`], { maxBuffer: 64 << 20 });
    expect(stderr).toContain('VGC_function_vcl_recv');
    // The same file with a syntax error is refused: the check can fail.
    const broken = path.join(tmp, 'broken.vcl');
    writeFileSync(broken, readFileSync(vcl, 'utf8').replace('sub vcl_recv {', 'sub vcl_recv {{'));
    await expect(run('unshare', ['-m', 'sh', '-c', `mount --bind ${hosts} /etc/hosts && exec varnishd -C -n ${path.join(tmp, 'vc')} -f ${broken}`])).rejects.toMatchObject({ code: 2 });
  });
});

describe('proxysql', () => {
  interface Rule { rule_id: number; active: number; match_digest: string; destination_hostgroup: number; apply: number }
  const parse = async () => JSON.parse((await run('/usr/bin/python3', ['-c', 'import json,sys,libconf; print(json.dumps(libconf.load(open(sys.argv[1]))))', path.join(configs, 'proxysql/proxysql.cnf')])).stdout);

  it('parses as libconfig (ProxySQL\'s format) with Galera host groups, the three nodes and ~200 backend connections', async () => {
    const c = await parse();
    expect(c.mysql_galera_hostgroups).toEqual([expect.objectContaining({ writer_hostgroup: 10, backup_writer_hostgroup: 20, reader_hostgroup: 30, offline_hostgroup: 9999, max_writers: 1, active: 1 })]);
    expect(c.mysql_servers.map((s: { address: string }) => s.address)).toEqual(['galera-1', 'galera-2', 'galera-3']);
    const backend = c.mysql_servers.reduce((a: number, s: { max_connections: number }) => a + s.max_connections, 0);
    expect(backend).toBeGreaterThanOrEqual(180);
    expect(backend).toBeLessThanOrEqual(220);
    expect(c.mysql_variables.max_connections).toBeGreaterThanOrEqual(5000);
    // No shared site user: each site's own is added through the admin interface by site creation (documented here).
    expect(c.mysql_users ?? []).toEqual([]);
    const text = readFileSync(path.join(configs, 'proxysql/proxysql.cnf'), 'utf8');
    for (const step of ['INSERT INTO mysql_users', 'LOAD MYSQL USERS TO RUNTIME', 'SAVE MYSQL USERS TO DISK']) expect(text).toContain(step);
    // Passwords are placeholders the stack's entrypoint fills from Docker secrets.
    expect(c.mysql_variables.monitor_password).toBe('@MONITOR_PASSWORD@');
    expect(text).not.toContain('@WORDPRESS_PASSWORD@');
  });

  it('sends plain reads to the readers and writes, locking reads and session reads to the writer', async () => {
    const rules: Rule[] = (await parse()).mysql_query_rules.filter((r: Rule) => r.active).sort((a: Rule, b: Rule) => a.rule_id - b.rule_id);
    // ProxySQL's default: PCRE, case-insensitive (mysql-query_processor_regex=1, re_modifiers CASELESS).
    const route = (q: string) => rules.find((r) => r.apply && new RegExp(r.match_digest, 'i').test(q))?.destination_hostgroup ?? 10;
    const readers = 30;
    const writer = 10;
    const expected: [string, number][] = [
      ['SELECT option_value FROM wp_options WHERE option_name = ?', readers],
      ['select * from wp_posts where ID = ?', readers],
      ['SELECT * FROM wp_posts WHERE ID = ? FOR UPDATE', writer],
      ['SELECT * FROM wp_posts WHERE ID = ? LOCK IN SHARE MODE', writer],
      ['SELECT LAST_INSERT_ID()', writer],
      ['SELECT FOUND_ROWS()', writer],
      ['SELECT GET_LOCK(?,?)', writer],
      ['SELECT @@session.sql_mode', writer],
      ['INSERT INTO wp_posts VALUES (?)', writer],
      ['UPDATE wp_options SET option_value = ?', writer],
      ['DELETE FROM wp_postmeta WHERE post_id = ?', writer],
      ['START TRANSACTION', writer],
    ];
    for (const [query, hostgroup] of expected) expect(route(query), query).toBe(hostgroup);
  });
});

describe('env.example', () => {
  const listed = new Set(
    readFileSync(path.join(configs, 'env.example'), 'utf8')
      .split('\n')
      .map((l) => /^([A-Z][A-Z0-9_]*)=/.exec(l)?.[1])
      .filter((v): v is string => !!v),
  );
  const sources = (dir: string): string[] =>
    readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
      e.isDirectory() ? sources(path.join(dir, e.name)) : /\.(ts|ya?ml)$/.test(e.name) ? [path.join(ROOT, dir, e.name)] : [],
    );
  // Set on local nodes by Drover's own sshd for its sessions, or by crash and stall tests (the fault-injection switches of
  // activities/lib/fault-points.ts): not something an operator sets.
  const internal = new Set(['DROVER_NODE_DIR', 'DROVER_NODE_NAME', 'DROVER_FAULT_CRASH_AT', 'DROVER_FAULT_STALL_AT']);

  it('lists every variable the code reads', () => {
    const read = new Set<string>();
    for (const f of ['activities', 'workflows', 'workers', 'client', 'lib'].flatMap(sources)) {
      const text = readFileSync(f, 'utf8');
      // process.env.X, env.X, the zod schemas' keys (X: z…), and env['X'].
      for (const m of text.matchAll(/\b(?:process\.env|env)\.((?:DROVER|TEMPORAL)_[A-Z0-9_]+)|\b((?:DROVER|TEMPORAL)_[A-Z0-9_]+): (?:z\.|bool|port)|env\[['"]((?:DROVER|TEMPORAL)_[A-Z0-9_]+)['"]\]/g))
        read.add(m[1] ?? m[2] ?? m[3]);
    }
    // Secrets may come from files: X_FILE (lib/env.ts SECRET_FILE_VARS).
    for (const v of SECRET_FILE_VARS) read.add(`${v}_FILE`);
    expect(read.size).toBeGreaterThan(30);
    const missing = [...read].filter((v) => !listed.has(v) && !internal.has(v));
    expect(missing, `read by the code but not in configs/env.example: ${missing.join(', ')}`).toEqual([]);
  });

  it('lists every variable the stack and compose files interpolate', () => {
    const files = [...sources('stacks'), path.join(ROOT, 'docker-compose.temporal.yml')];
    const read = new Set<string>();
    for (const f of files) for (const m of readFileSync(f, 'utf8').matchAll(/\$\{([A-Z][A-Z0-9_]*)(?::?[-?][^}]*)?\}/g)) read.add(m[1]);
    const missing = [...read].filter((v) => !listed.has(v));
    expect(missing, `interpolated by stacks/compose but not in configs/env.example: ${missing.join(', ')}`).toEqual([]);
  });
});

describe('stacks/drover.yml', () => {
  it('the age identity (private key) goes to the restore worker only; the dedup key to the backup and restore workers', () => {
    type Svc = { environment?: Record<string, string>; secrets?: (string | { source: string })[] };
    const { services } = parse(readFileSync(path.join(ROOT, 'stacks/drover.yml'), 'utf8'), { merge: true }) as { services: Record<string, Svc> };
    const names = (svc: Svc) => (svc.secrets ?? []).map((x) => (typeof x === 'string' ? x : x.source));
    for (const [name, svc] of Object.entries(services)) {
      expect(names(svc).includes('drover_backup_age_identity'), name).toBe(name === 'restore-worker');
      expect(Object.keys(svc.environment ?? {}).includes('DROVER_BACKUP_AGE_IDENTITY_FILE'), name).toBe(name === 'restore-worker');
      expect(names(svc).includes('drover_backup_dedup_key'), name).toBe(['backup-worker', 'restore-worker'].includes(name));
    }
    expect(services['backup-worker'].environment?.DROVER_BACKUP_DEDUP_KEY_FILE).toBe('/run/secrets/drover_backup_dedup_key');
  });

  it("the backup worker's command gives node a heap growing factor it takes, and its heap then stays nearer what is live", async () => {
    const { services } = parse(readFileSync(path.join(ROOT, 'stacks/drover.yml'), 'utf8'), { merge: true }) as { services: Record<string, { command?: string[]; environment?: Record<string, string> }> };
    const command = services['backup-worker'].command ?? [];
    expect(command.at(-1)).toBe('dist/workers/backup.js');
    const flags = command.slice(0, -1);
    expect(flags).toHaveLength(1);
    expect(flags[0]).toMatch(/^--heap-growing-percent=[1-9][0-9]*$/);
    // No Node options in the environment: the young generation keeps V8's default size (docs/backups.md).
    expect(Object.keys(services['backup-worker'].environment ?? {})).not.toContain('NODE_OPTIONS');
    // A program that keeps the last 15 batches of small objects live while it makes 200 (each batch lives long
    // enough to reach the old generation, then dies): node refuses an unknown flag (exit 9), and with the factor its
    // largest heap is smaller than with V8's own (about 98 against 184 MiB here, with 50 % or 20 % alike).
    const churn = "const live = []; let max = 0; for (let r = 0; r < 200; r++) { const j = []; for (let i = 0; i < 20000; i++) j.push({ i, s: 'x' + i }); live[r % 15] = j; max = Math.max(max, process.memoryUsage().heapTotal); } console.log(max)";
    const heap = async (nodeFlags: string[]) => Number((await run(process.execPath, [...nodeFlags, '-e', churn], { env: { PATH: process.env.PATH } })).stdout) / 2 ** 20;
    const [own, grown] = [await heap(flags), await heap([])];
    expect(own).toBeLessThan(grown * 0.85);
  });

  it("the backup worker's growing factor leaves room for a young generation's worth of promotions: far fewer full collections than with 20 %", async () => {
    const { services } = parse(readFileSync(path.join(ROOT, 'stacks/drover.yml'), 'utf8'), { merge: true }) as { services: Record<string, { command?: string[] }> };
    const flags = (services['backup-worker'].command ?? []).slice(0, -1);
    // About 50 MiB live (the worker's main thread held about 48 MiB through a night), then a churn of short-lived objects that moves almost
    // nothing into the old generation (one object in a thousand is kept a while): full (mark-compact) collections
    // counted. V8 starts marking once the room left under the old generation's limit is no more than the young
    // generation's; with too small a factor that is so right after each collection, and marking never stops: the
    // backup worker ran about 4.6 full collections a second through a production-shaped night with 20 %, most
    // freeing a few MiB or less (docs/backups.md). Here 20 % gives 27–38, 50 % 5–6, V8's own factor 3.
    const churn =
      "const { PerformanceObserver, constants } = require('node:perf_hooks'); let majors = 0; " +
      "new PerformanceObserver((l) => { for (const e of l.getEntries()) if (e.detail.kind === constants.NODE_PERFORMANCE_GC_MAJOR) majors++; }).observe({ entryTypes: ['gc'] }); " +
      "const live = []; for (let i = 0; i < 700000; i++) live.push({ i, s: 'live' + i }); const ring = new Array(20000); let r = 0, rounds = 0; " +
      "(function tick() { for (let k = 0; k < 2000; k++) { const o = { k, s: 'x' + k, b: Buffer.allocUnsafe(256) }; if (k % 1000 === 0) ring[r++ % ring.length] = o; } " +
      "if (++rounds < 4000) setImmediate(tick); else setTimeout(() => console.log(majors, live.length), 20); })()";
    const fullCollections = async (nodeFlags: string[]) => {
      const [majors, live] = (await run(process.execPath, [...nodeFlags, '-e', churn], { env: { PATH: process.env.PATH } })).stdout.trim().split(' ').map(Number);
      expect(live).toBe(700000);
      return majors;
    };
    const [own, fifth] = [await fullCollections(flags), await fullCollections(['--heap-growing-percent=20'])];
    expect(fifth).toBeGreaterThan(15);
    expect(own).toBeLessThan(fifth / 3);
  });

  it("glibc takes the backup worker's fixed mmap threshold: a 4 MiB block, freed and asked for again, is mapped again", async () => {
    const { services } = parse(readFileSync(path.join(ROOT, 'stacks/drover.yml'), 'utf8'), { merge: true }) as { services: Record<string, { environment?: Record<string, string> }> };
    const threshold = services['backup-worker'].environment?.MALLOC_MMAP_THRESHOLD_ ?? '';
    expect(threshold).toMatch(/^[1-9][0-9]*$/);
    // glibc's own counters (mallinfo2), read through ctypes: whether each of two 4 MiB allocations (a piece's size:
    // above any threshold that could be set, far above the heap's spare top) was a new mapping. With adjustment
    // left dynamic, freeing the first raises the threshold past 4 MiB and the second comes from the heap.
    const probe = [
      'import ctypes',
      "class MI(ctypes.Structure): _fields_ = [(n, ctypes.c_size_t) for n in ('arena','ordblks','smblks','hblks','hblkhd','usmblks','fsmblks','uordblks','fordblks','keepcost')]",
      "c = ctypes.CDLL('libc.so.6'); c.mallinfo2.restype = MI; c.malloc.restype = ctypes.c_void_p; c.malloc.argtypes = [ctypes.c_size_t]; c.free.argtypes = [ctypes.c_void_p]",
      'def mapped():',
      '  before = c.mallinfo2().hblks; p = c.malloc(4 << 20); n = c.mallinfo2().hblks - before; c.free(p); return n',
      'print(mapped(), mapped())',
    ].join('\n');
    const mapped = async (extra: NodeJS.ProcessEnv) => (await run('python3', ['-c', probe], { env: { PATH: process.env.PATH, HOME: process.env.HOME, ...extra } })).stdout.trim();
    expect(await mapped({})).toBe('1 0');
    expect(await mapped({ MALLOC_MMAP_THRESHOLD_: threshold })).toBe('1 1');
  });
});

describe('docker-compose.temporal.yml', () => {
  interface Service { image?: string; build?: unknown; command?: string[]; environment?: Record<string, string>; secrets?: (string | { source: string })[]; depends_on?: Record<string, { condition: string }> }
  // Compose reads .env beside the file: a copy of the file next to configs/env.example's values.
  const config = async (): Promise<{ services: Record<string, Service> }> => {
    const dir = mkdtempSync(path.join(tmp, 'compose-'));
    copyFileSync(path.join(ROOT, 'docker-compose.temporal.yml'), path.join(dir, 'docker-compose.yml'));
    copyFileSync(path.join(configs, 'env.example'), path.join(dir, '.env'));
    const { stdout } = await run('docker-compose', ['-f', path.join(dir, 'docker-compose.yml'), 'config'], { cwd: dir, env: { PATH: process.env.PATH ?? '/usr/bin:/bin' } });
    return parse(stdout);
  };

  it('passes docker-compose config: PostgreSQL, the schema job, the server after it, the search attributes job, the UI, the codec server and three workers', async () => {
    const c = await config();
    expect(Object.keys(c.services).sort()).toEqual(['drover-codec-server', 'drover-worker-backup', 'drover-worker-infra', 'drover-worker-restore', 'postgresql', 'temporal', 'temporal-schema', 'temporal-search-attributes', 'temporal-ui']);
    // Every attribute lib/contract defines is created before a worker starts (a start with an unknown one is refused).
    const job = (c.services['temporal-search-attributes'] as { command?: string[] }).command?.join('\n') ?? '';
    for (const a of DROVER_SEARCH_ATTRIBUTES) expect(job).toContain(a.name);
    for (const w of ['infra', 'backup', 'restore']) expect(c.services[`drover-worker-${w}`].depends_on?.['temporal-search-attributes'].condition, w).toBe('service_completed_successfully');
    expect(c.services.temporal.depends_on?.['temporal-schema'].condition).toBe('service_completed_successfully');
    expect(c.services['temporal-schema'].depends_on?.postgresql.condition).toBe('service_healthy');
    expect(c.services.temporal.environment).toMatchObject({ DB: 'postgres12', VISIBILITY_DBNAME: 'temporal_visibility' });
    for (const w of ['infra', 'backup', 'restore']) expect(c.services[`drover-worker-${w}`].build, w).toBeDefined();
  });

  it('keeps passwords out of the environment; only the restore worker gets the backup key; backup and restore workers the dedup key', async () => {
    const c = await config();
    const names = (s: Service) => (s.secrets ?? []).map((x) => (typeof x === 'string' ? x : x.source));
    for (const [name, svc] of Object.entries(c.services)) {
      for (const [k, v] of Object.entries(svc.environment ?? {})) expect(`${name} ${k}=${v}`).not.toMatch(/(PASSWORD|PWD|SECRET_ACCESS_KEY|TOKEN|API_KEY)=(?!\/run\/secrets\/).+/);
      expect(names(svc).includes('drover_backup_age_identity'), name).toBe(name === 'drover-worker-restore');
      // The dedup key (a MAC key, it decrypts nothing) to the workers that write site files: backups and safety points.
      expect(names(svc).includes('drover_backup_dedup_key'), name).toBe(['drover-worker-backup', 'drover-worker-restore'].includes(name));
    }
    for (const w of ['backup', 'restore']) expect(c.services[`drover-worker-${w}`].environment?.DROVER_BACKUP_DEDUP_KEY_FILE, w).toBe('/run/secrets/drover_backup_dedup_key');
  });

  it("runs the backup worker with the stack's memory settings", async () => {
    const c = await config();
    const { services } = parse(readFileSync(path.join(ROOT, 'stacks/drover.yml'), 'utf8'), { merge: true }) as { services: Record<string, Service> };
    const memory = (e: Record<string, string> = {}) => Object.fromEntries(Object.entries(e).filter(([k]) => k === 'NODE_OPTIONS' || k.startsWith('MALLOC_')));
    expect(memory(services['backup-worker'].environment)).toEqual({ MALLOC_ARENA_MAX: '2', MALLOC_MMAP_THRESHOLD_: '131072' });
    expect(memory(c.services['drover-worker-backup'].environment)).toEqual(memory(services['backup-worker'].environment));
    expect(c.services['drover-worker-backup'].command).toEqual(services['backup-worker'].command);
  });

  it('a broken file is refused (the check can fail)', async () => {
    const dir = mkdtempSync(path.join(tmp, 'compose-bad-'));
    writeFileSync(path.join(dir, 'docker-compose.yml'), readFileSync(path.join(ROOT, 'docker-compose.temporal.yml'), 'utf8').replace('      retries: 20', '      retries: twenty'));
    copyFileSync(path.join(configs, 'env.example'), path.join(dir, '.env'));
    await expect(run('docker-compose', ['-f', path.join(dir, 'docker-compose.yml'), 'config'], { cwd: dir })).rejects.toMatchObject({ code: 1, stderr: expect.stringContaining('retries') });
  });
});

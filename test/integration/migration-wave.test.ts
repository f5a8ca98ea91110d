/**
 * Migration waves (issue 16) against a real old host (its own sshd and mariadbd, small WordPress sites) and a real
 * drover-migrate worker process (the built CLI's `worker migrate`, killed with SIGKILL in one test): the wave's
 * logic drives real migrateSiteWorkflow children that stage each site on the farm.
 * - pause by two operators at once: one accepted, one refused; from the acknowledgement on no child starts
 *   (proved from the run's history), the sites in flight wait after their step; setConcurrency holds from the
 *   next start; resume finishes the wave across several continue-as-new runs, every site migrated once; every
 *   run's history replays.
 * - a site that cannot be read fails alone with its cause; retry succeeds once it is fixed; skip leaves one out;
 *   the Web UI (a real headless chromium) lists the wave's sites by DroverWave and filters the failed ones.
 * - cancel rolls the sites in flight back (nothing of theirs left on the farm) and keeps the migrated ones;
 *   starting the wave again resumes it: migrated sites reported, not redone.
 * - the worker killed mid-wave: after a restart every site ends migrated exactly once, sources unchanged.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivityDeps } from '../../activities';
import type { LegacySite } from '../../devkit/old-host';
import { devLayout } from '../../devkit/dev-env';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { normalizeDomain } from '../../lib/domain-input';
import { siteSearchAttributes } from '../../lib/contract/search-attributes';
import { scratchDatabaseNames } from '../../lib/scratch-names';
import { siteNames } from '../../lib/site-names';
import { migrationWaveWorkflow, pauseWaveUpdate, setWaveConcurrencyUpdate, waveProgressQuery, type WaveProgress } from '../../workflows/migration-wave';
import { CLI, drover } from '../helpers/cli';
import { useOldHost } from '../helpers/old-host';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { treeHashes } from '../helpers/restore-point';
import { connectTestServer, replayOptions, testEnv } from '../helpers/temporal';
import { waitForListed } from '../helpers/web-ui';

const ctx = useOldHost({ name: 'old-host-wave', sshPort: 12272 + TEST_PORT_OFFSET, dbPort: 13355 + TEST_PORT_OFFSET });
const HEADER = 'domain,source_ssh,source_path,source_db,source_db_host,source_db_user,source_db_password_file,from_url,to_url,wave';
const dir = path.join(TEST_STATE_DIR, 'migration-wave');
const tag = randomBytes(3).toString('hex');
const env = () => ({ DROVER_MIGRATE_HOST_KEYS: ctx.host.hostKeyFingerprint });
const migrated: string[] = [];
let tw: TestWorkflowEnvironment;
let worker: { proc: ChildProcess; exited: Promise<void> } | undefined;

function startWorker(): { proc: ChildProcess; exited: Promise<void> } {
  const proc = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, '--port-offset', String(TEST_PORT_OFFSET), 'worker', 'migrate'], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, ...env(), DROVER_METRICS_PORT: '0' },
  });
  return { proc, exited: new Promise((r) => proc.once('close', () => r())) };
}

async function stopWorker(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (!worker) return;
  worker.proc.kill(signal);
  await worker.exited;
  worker = undefined;
}

beforeAll(async () => {
  mkdirSync(dir, { recursive: true });
  tw = await connectTestServer();
  worker = startWorker();
}, 60_000);

afterAll(async () => {
  await stopWorker();
  // What the waves staged on the farm (the staged copies; the site's creation is the one-site workflow's next step).
  const deps = createActivityDeps(testEnv());
  try {
    const node = await deps.galera.writerNode();
    for (const d of migrated) {
      await deps.galera.query(node, `DROP DATABASE IF EXISTS \`${scratchDatabaseNames(siteNames(d).database).staging}\``);
      rmSync(`/srv/drover/sites/${d}`, { recursive: true, force: true });
    }
  } finally {
    await deps.galera.close();
    deps.s3.destroy();
  }
  await tw?.teardown();
}, 120_000);

/** `n` small sites on the old host, and the wave file migrating them to `<wave>-<i>.example.com` (or `names`). */
async function waveFile(wave: string, n: number, names?: (i: number) => string): Promise<{ file: string; domains: string[]; sites: LegacySite[]; rows: string[] }> {
  const sites: LegacySite[] = [];
  for (let i = 0; i < n; i++) sites.push(await ctx.host.addSite({ domain: `old-${wave.slice(0, 12)}-${i}.example.net`, posts: 3, uploadBytes: 16 * 1024 }));
  const domains = sites.map((_, i) => names?.(i) ?? `${wave}-${i}.example.com`);
  migrated.push(...domains.map((d) => { const n = normalizeDomain(d); return n.ok ? n.domain : d; }));
  const rows = sites.map((s, i) => [domains[i], s.sourceSsh, s.sourcePath, s.sourceDb, s.sourceDbHost, s.sourceDbUser, s.sourceDbPasswordFile, s.fromUrl, '', wave].join(','));
  const file = path.join(dir, `${wave}.csv`);
  writeFileSync(file, [HEADER, ...rows].join('\n') + '\n');
  return { file, domains, sites, rows };
}

const handleOf = (wave: string) => tw.client.workflow.getHandle<typeof migrationWaveWorkflow>(`wave/${wave}`);
const progressOf = (wave: string): Promise<WaveProgress> => handleOf(wave).query(waveProgressQuery);

async function waitFor<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 240_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined && ok(v)) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(v)?.slice(0, 2000)}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** Every run of a workflow ID (visibility), once `count` of them are listed. */
async function runsOf(query: string, count: number): Promise<{ workflowId: string; runId: string; status: string; startTime: number }[]> {
  return waitFor(`${count} executions for ${query}`, async () => {
    const out: { workflowId: string; runId: string; status: string; startTime: number }[] = [];
    for await (const w of tw.client.workflow.list({ query })) out.push({ workflowId: w.workflowId, runId: w.runId, status: w.status.name, startTime: w.startTime.getTime() });
    return out;
  }, (l) => l.length >= count, 60_000);
}

type Event = { eventType?: unknown; workflowExecutionUpdateAcceptedEventAttributes?: { acceptedRequest?: { input?: { name?: string | null } | null } | null } | null };
const typeOf = (e: Event) => String(e.eventType);

describe('migration waves', () => {
  it('two operators pause at once: one refused; no child starts after the acknowledgement; setConcurrency and resume finish the wave over continue-as-new, each site once', async () => {
    const wave = `wa-${tag}`;
    const { file, domains } = await waveFile(wave, 14);
    const start = await drover(['--json', 'migrate', 'wave', 'start', '--stage-only', '--file', file, '--concurrency', '4', '--sites-per-run', '5'], { env: env() });
    expect(start.code, start.stderr).toBe(0);
    expect(start.json()).toMatchObject({ workflowId: `wave/${wave}`, attached: false, sites: 14 });

    await waitFor('a site migrated, two in flight', () => progressOf(wave), (p) => p.counts.migrated >= 1 && p.counts.running >= 2);
    const h = handleOf(wave);
    const [a, b] = await Promise.allSettled([h.executeUpdate(pauseWaveUpdate), h.executeUpdate(pauseWaveUpdate)]);
    const accepted = [a, b].filter((r) => r.status === 'fulfilled');
    const refused = [a, b].filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(accepted).toHaveLength(1);
    expect(String((refused[0].reason as Error).cause ?? refused[0].reason)).toMatch(/already paused/);
    // In flight: each finishes its step and waits before the next.
    const paused = await waitFor('the sites in flight paused', () => progressOf(wave), (p) => p.state === 'paused' && p.inFlight.every((s) => s.paused));
    await new Promise((r) => setTimeout(r, 3000));
    const still = await progressOf(wave);
    expect(still.counts.migrated + still.counts.running).toBe(paused.counts.migrated + paused.counts.running);

    // Refusals change nothing and say why (exit 1); bad input exits 2 naming the field.
    const done = still.sites!.find((s) => s.state === 'migrated')!.domain;
    const retry = await drover(['migrate', 'wave', 'retry', wave, done], { env: env() });
    expect(retry.code).toBe(1);
    expect(retry.stderr).toMatch(new RegExp(`refused: ${done.replace(/\./g, '\\.')} is migrated`));
    const bad = await drover(['migrate', 'wave', 'concurrency', wave, '0'], { env: env() });
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringMatching(/<n>: expected a whole number from 1 to 50/)]);
    // A site the wave does not hold, a wave that does not exist (typos): exit 2 naming them.
    const stranger = await drover(['migrate', 'wave', 'retry', wave, `x${done}`], { env: env() });
    expect([stranger.code, stranger.stderr]).toEqual([2, expect.stringContaining(`<site>: no site x${done} in wave ${wave}`)]);
    for (const args of [['pause', `${wave}x`], ['skip', `${wave}x`, done], ['status', `${wave}x`]]) {
      const typo = await drover(['--json', 'migrate', 'wave', ...args], { env: env() });
      expect([typo.code, typo.json()], args.join(' ')).toEqual([2, { ok: false, error: expect.objectContaining({ field: '<wave>', message: expect.stringContaining(`no wave ${wave}x`) }) }]);
    }
    expect((await progressOf(wave)).counts).toEqual(still.counts);

    const conc = await drover(['migrate', 'wave', 'concurrency', wave, '2'], { env: env() });
    expect([conc.code, conc.stdout]).toEqual([0, expect.stringContaining('concurrency 4 → 2')]);
    const status = await drover(['migrate', 'wave', 'status', wave], { env: env() });
    expect(status.stdout).toMatch(/paused/);
    if (still.inFlight.length) expect(status.stdout).toMatch(/⇢ .*paused before/);
    const resume = await drover(['migrate', 'wave', 'resume', wave], { env: env() });
    expect(resume.code, resume.stderr).toBe(0);

    // Two operators keep steering through the continue-as-new points: every update is answered, none lost.
    let ended = false;
    const operator = async () => {
      let answered = 0;
      while (!ended) {
        try {
          await h.executeUpdate(setWaveConcurrencyUpdate, { args: [{ concurrency: 2 }] });
        } catch (err) {
          // Only the wave's end may stop an update (its last run completed), never a continue-as-new.
          if ((await h.describe()).status.name === 'COMPLETED') break;
          throw err;
        }
        answered++;
        await new Promise((r) => setTimeout(r, 150));
      }
      return answered;
    };
    const operators = [operator(), operator()];
    const result = await h.result().finally(() => (ended = true));
    expect((await Promise.all(operators)).every((n) => n > 0)).toBe(true);
    expect(result).toMatchObject({ state: 'done', total: 14, counts: { migrated: 14, failed: 0, queued: 0, running: 0 } });
    expect(result.run).toBeGreaterThanOrEqual(3);
    // The last run started under concurrency 2: never more than 2 children open at once.
    const last = ((await h.fetchHistory()).events ?? []) as Event[];
    let open = 0;
    let most = 0;
    for (const e of last) {
      if (typeOf(e).includes('CHILD_WORKFLOW_EXECUTION_STARTED')) most = Math.max(most, ++open);
      if (/CHILD_WORKFLOW_EXECUTION_(COMPLETED|FAILED|CANCELED|TERMINATED)/.test(typeOf(e))) open--;
    }
    expect(most).toBeLessThanOrEqual(2);
    // Each site migrated once: one run per child ID, completed.
    const children = await runsOf(`WorkflowId STARTS_WITH "migrate/${wave}/"`, 14);
    expect(children.map((c) => c.workflowId).sort()).toEqual(domains.map((d) => `migrate/${wave}/${d}`).sort());
    expect(children.every((c) => c.status === 'COMPLETED')).toBe(true);
    // Every run of the wave replays (continue-as-new, updates, signals from children).
    const runs = (await runsOf(`WorkflowId = "wave/${wave}"`, result.run)).sort((x, y) => x.startTime - y.startTime);
    const events: Event[] = [];
    for (const r of runs) {
      const history = await tw.client.workflow.getHandle(r.workflowId, r.runId).fetchHistory();
      await Worker.runReplayHistory(replayOptions(), history, r.runId);
      events.push(...((history.events ?? []) as Event[]));
    }
    // No run continued as new with an update accepted but not completed (allHandlersFinished).
    for (const r of runs) {
      const evs = ((await tw.client.workflow.getHandle(r.workflowId, r.runId).fetchHistory()).events ?? []) as Event[];
      expect(evs.filter((e) => typeOf(e).includes('UPDATE_ACCEPTED')).length).toBe(evs.filter((e) => typeOf(e).includes('UPDATE_COMPLETED')).length);
    }
    // From the histories (across continue-as-new): no child started between the pause's acceptance and the resume's.
    const updateAt = (name: string) => events.findIndex((e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === name);
    expect(updateAt('pauseWave')).toBeGreaterThan(0);
    expect(updateAt('resumeWave')).toBeGreaterThan(updateAt('pauseWave'));
    expect(events.slice(updateAt('pauseWave'), updateAt('resumeWave')).filter((e) => typeOf(e).includes('START_CHILD_WORKFLOW_EXECUTION_INITIATED'))).toEqual([]);
  }, 600_000);

  it('a site that cannot be read fails alone with its cause; retry once fixed, skip; the Web UI lists the wave\'s sites and filters the failed ones', async () => {
    const wave = `wf-${tag}`;
    const { file, domains, sites } = await waveFile(wave, 5);
    const pw = sites[1].sourceDbPasswordFile;
    renameSync(pw, `${pw}.away`);
    rmSync(sites[3].sourceDbPasswordFile);
    const start = await drover(['migrate', 'wave', 'start', '--stage-only', '--file', file, '--concurrency', '5'], { env: env() });
    expect(start.code, start.stderr).toBe(0);
    const waiting = await waitFor('the wave waiting on its failures', () => progressOf(wave), (p) => p.state === 'waiting');
    expect(waiting.counts).toMatchObject({ migrated: 3, failed: 2 });
    expect(waiting.failed.map((s) => s.domain).sort()).toEqual([domains[1], domains[3]].sort());
    expect(waiting.failed[0].error).toMatch(/source_db_password_file .* cannot be read on the migration worker/);
    const status = await drover(['migrate', 'wave', 'status', wave], { env: env() });
    expect(status.code).toBe(1);
    expect(status.stdout).toMatch(new RegExp(`✗ ${domains[1].replace(/\./g, '\\.')}: .*cannot be read`));
    // `start --wait` on the same wave attaches and returns while it waits on its failures (nothing more happens
    // without an operator): exit 1, the failures listed, instead of waiting on.
    const attached = await drover(['migrate', 'wave', 'start', '--stage-only', '--file', file, '--concurrency', '5', '--wait'], { env: env(), timeoutMs: 120_000 });
    expect(attached.code, attached.stdout + attached.stderr).toBe(1);
    expect(attached.stderr).toMatch(/attached to the running/);
    expect(attached.stdout).toMatch(new RegExp(`✗ ${domains[3].replace(/\./g, '\\.')}: .*cannot be read`));

    // The Web UI: the wave's sites by DroverWave, and the failed ones by status (their DroverStep says where).
    const uiPort = devLayout(TEST_STATE_DIR, TEST_PORT_OFFSET).temporal.ui;
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      const page = await browser.newPage();
      await waitForListed(page, uiPort, `DroverWave="${wave}"`, [...domains.map((d) => `migrate/${wave}/${d}`), `wave/${wave}`]);
      await waitForListed(page, uiPort, `DroverWave="${wave}" AND ExecutionStatus="Failed"`, [domains[1], domains[3]].map((d) => `migrate/${wave}/${d}`));
      for (const d of [domains[0], domains[2], domains[4]]) expect(await page.getByText(`migrate/${wave}/${d}`).count()).toBe(0);
      await waitForListed(page, uiPort, `DroverWave="${wave}" AND DroverStep="failed"`, [`migrate/${wave}/${domains[1]}`]);
    } finally {
      await browser.close();
    }

    renameSync(`${pw}.away`, pw);
    const retry = await drover(['migrate', 'wave', 'retry', wave, domains[1]], { env: env() });
    expect([retry.code, retry.stdout]).toEqual([0, expect.stringContaining(`${domains[1]} queued again`)]);
    const skip = await drover(['migrate', 'wave', 'skip', wave, domains[3]], { env: env() });
    expect(skip.code, skip.stderr).toBe(0);
    const result = await handleOf(wave).result();
    expect(result).toMatchObject({ state: 'done', counts: { migrated: 4, skipped: 1, failed: 0 } });
    expect(result.sites!.find((s) => s.domain === domains[1])).toMatchObject({ state: 'migrated', attempts: 2 });
  }, 600_000);

  it('cancel rolls the sites in flight back and keeps the migrated ones; starting the wave again resumes it', async () => {
    const wave = `wc-${tag}`;
    const { file, domains } = await waveFile(wave, 6);
    expect((await drover(['migrate', 'wave', 'start', '--stage-only', '--file', file, '--concurrency', '2'], { env: env() })).code).toBe(0);
    await waitFor('one migrated', () => progressOf(wave), (p) => p.counts.migrated >= 1 && p.counts.running >= 1);
    expect((await drover(['migrate', 'wave', 'pause', wave], { env: env() })).code).toBe(0);
    const before = await waitFor('in flight paused', () => progressOf(wave), (p) => p.inFlight.length > 0 && p.inFlight.every((s) => s.paused));
    const cancel = await drover(['--json', 'migrate', 'wave', 'cancel', wave], { env: env() });
    expect(cancel.code, cancel.stderr).toBe(0);
    const c = cancel.json() as { rolledBack: string[]; migrated: string[] };
    expect(c.rolledBack.sort()).toEqual(before.inFlight.map((s) => s.domain).sort());
    const r1 = await handleOf(wave).result();
    expect(r1.state).toBe('cancelled');
    expect(r1.counts.migrated).toBe(c.migrated.length);
    // Rolled back: nothing of theirs left on the farm.
    for (const d of c.rolledBack) expect(existsSync(`/srv/drover/sites/${d}/htdocs.migrating`), d).toBe(false);
    for (const d of c.migrated) expect(existsSync(`/srv/drover/sites/${d}/htdocs.migrating`), d).toBe(true);

    const again = await drover(['--json', 'migrate', 'wave', 'start', '--stage-only', '--file', file, '--concurrency', '3', '--wait'], { env: env() });
    expect(again.code, again.stderr).toBe(0);
    const r2 = again.json() as unknown as WaveProgress;
    expect(r2.counts.migrated).toBe(6);
    expect(r2.sites!.filter((s) => s.earlierRun).map((s) => s.domain).sort()).toEqual([...c.migrated].sort());
    // Not redone: one completed run per site that the first run migrated.
    for (const d of c.migrated) expect((await runsOf(`WorkflowId = "migrate/${wave}/${d}"`, 1)).length).toBe(1);
    expect(domains).toHaveLength(6);
  }, 600_000);

  it('the worker killed mid-wave: after a restart every site ends migrated exactly once, sources unchanged', async () => {
    const wave = `wk-${tag}`;
    const { domains, sites } = await waveFile(wave, 6);
    const hashes = sites.map((s) => treeHashes(s.sourcePath));
    const h = await tw.client.workflow.start(migrationWaveWorkflow, {
      workflowId: `wave/${wave}`,
      taskQueue: TASK_QUEUES.migrate,
      typedSearchAttributes: siteSearchAttributes(null, 'migrate', { wave }),
      args: [{
        wave,
        concurrency: 3,
        sitesPerRun: 4,
        // A dead worker's steps are retried after 5 s instead of 30.
        timeouts: { heartbeat: '5 seconds' },
        sources: sites.map((s, i) => ({
          domain: domains[i], wave, ssh: { user: 'root', host: '127.0.0.1', port: Number(s.sourceSsh.split(':').pop()) }, sourcePath: s.sourcePath, sourceDb: s.sourceDb,
          sourceDbHost: { host: '127.0.0.1', port: ctx.host.dbPort }, sourceDbUser: s.sourceDbUser, sourceDbPasswordFile: s.sourceDbPasswordFile, fromUrl: s.fromUrl, toUrl: '',
        })),
      }],
    });
    await waitFor('sites in flight', () => h.query(waveProgressQuery), (p) => p.inFlight.some((s) => s.step && s.step !== 'starting' && s.step !== 'preflight'));
    await stopWorker('SIGKILL');
    worker = startWorker();
    const r = await h.result();
    expect(r).toMatchObject({ state: 'done', counts: { migrated: 6, failed: 0 } });
    const children = await runsOf(`WorkflowId STARTS_WITH "migrate/${wave}/"`, 6);
    expect(children).toHaveLength(6);
    expect(children.every((c) => c.status === 'COMPLETED')).toBe(true);
    sites.forEach((s, i) => expect(treeHashes(s.sourcePath)).toEqual(hashes[i]));
  }, 600_000);
});

/**
 * `drover restore site` end to end through the built CLI: --dry-run names the point and changes nothing, a real
 * restore with an in-process restore worker prints the steps and the RTO, and bad input (unknown site, a time
 * before the first backup, a malformed date, a new name that is a registered site) exits 2 naming the field and
 * changes nothing.
 */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { acquireRestoreLock, restoreLocks } from '../../lib/restore-locks';
import { markSiteDeleted } from '../../lib/site-registry';
import { workflowIds } from '../../lib/contract/ids';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { drover } from '../helpers/cli';
import { objectBytes, pointObjectKey, treeHashes } from '../helpers/restore-point';
import { createTestSite, tableChecksums } from '../helpers/sites';
import { freshNamespace, testDataConverter, useRunningWorker } from '../helpers/temporal';
import { Client } from '@temporalio/client';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { beginRestoreUpdate, siteStateQuery, siteWorkflow } from '../../workflows/site';
import { scratchDir } from '../helpers/scratch';

const ctx = useRunningWorker('restore-cli');

async function backedUpSite(name: string) {
  const tag = ctx.taskQueue.slice(-6);
  const site = await createTestSite(ctx.deps, `${name}-${tag}.example.com`, { posts: 8, uploadBytes: 16 * 1024 });
  await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
  return site;
}

/** A sites file naming one site. */
function sitesFile(site: string): string {
  const f = path.join(scratchDir('farm-'), 'sites.txt');
  writeFileSync(f, `${site}\n`);
  return f;
}

describe('drover restore site', () => {
  it('--dry-run names the point and changes nothing; a restore puts the backed-up state back and prints the RTO', async () => {
    const site = await backedUpSite('cli');
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // defaced');
    const damaged = treeHashes(site.filesPath);

    // A time after the point was taken (in the time zone the operator types), so it is chosen by its snapshot time.
    const later = new Date(Date.now() + 3_600_000).toISOString().replace(/Z$/, '+00:00');
    const dry = await drover(['restore', 'site', site.domain, '--at', later, '--dry-run', '--json']);
    expect(dry.code, dry.stderr).toBe(0);
    expect(dry.json()).toMatchObject({ dryRun: true, plan: { point: '2026-11-10', database: site.database, filesPath: site.filesPath, safetyPoint: true } });
    expect(treeHashes(site.filesPath)).toEqual(damaged);

    // Without --wait a restore is only started: where no restore worker polls (a namespace of its own), it says so.
    const namespace = await freshNamespace();
    const copy = `later-${site.domain}`;
    const started = await drover(['restore', 'site', site.domain, '--at', '2026-11-10', '--to', copy, '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
    expect(started.code, started.stderr).toBe(0);
    expect(started.stderr).toContain('no worker polls drover-restore yet: the workflow starts when one does (`drover worker restore`)');
    const unpolled = new Client({ connection: ctx.tw.client.connection, namespace, dataConverter: testDataConverter() });
    await unpolled.workflow.getHandle((started.json() as { workflowId: string }).workflowId).terminate('test over');

    const r = await drover(['restore', 'site', site.domain, '--at', '2026-11-10', '--worker']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/restored .* to 2026-11-10/);
    expect(r.stdout).toMatch(/swap database in/);
    expect(r.stdout).toMatch(/RTO \d+\.\d s/);
    expect(treeHashes(site.filesPath)).toEqual(files);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);

    // The safety point the restore took is listed, and `--at safety/<id>` chooses it.
    const safety = /safety point of the replaced state: (safety\/\d{8}T\d{6}Z)/.exec(r.stdout)?.[1];
    expect(safety).toBeDefined();
    const list = await drover(['backup', 'list', '--site', site.domain]);
    expect(list.stdout).toMatch(new RegExp(`^${safety!.replace('/', '\\/')}\\s+complete`, 'm'));
    const back = await drover(['restore', 'site', site.domain, '--at', safety!, '--dry-run', '--json']);
    expect(back.code, back.stderr).toBe(0);
    expect(back.json()).toMatchObject({ dryRun: true, plan: { point: safety } });
  });

  it('drill and farm recovery through the CLI, with the drill Schedule and farm-status', async () => {
    const site = await backedUpSite('clidr');
    const drill = await drover(['restore', 'drill', '--site', site.domain, '--date', '2026-11-15', '--worker', '--json']);
    expect(drill.code, drill.stdout + drill.stderr).toBe(0);
    expect((drill.json() as { result: { passed: boolean; results: { site: string }[] } }).result).toMatchObject({ passed: true, results: [{ site: site.domain }] });

    await drover(['restore', 'drill', 'schedule', 'delete']);
    expect((await drover(['restore', 'drill', 'schedule', 'create', '--sample', '5'])).code).toBe(0);
    const d = (await drover(['restore', 'drill', 'schedule', 'describe', '--json'])).json() as { cron: string[]; paused: boolean };
    expect(d).toMatchObject({ cron: ['0 5 * * 0'], paused: false });
    expect((await drover(['restore', 'drill', 'schedule', 'delete'])).code).toBe(0);

    // The site is lost (database and files gone, unregistered); a farm recovery from a sites file brings it back.
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    await ctx.deps.galera.query(await ctx.deps.galera.writerNode(), `DROP DATABASE \`${site.database}\``);
    rmSync(site.filesPath, { recursive: true, force: true });
    await markSiteDeleted(ctx.deps.galera, site.domain);
    const list = path.join(scratchDir('farm-'), 'sites.txt');
    writeFileSync(list, `# lost in the outage\n${site.domain}\n`);
    const label = `cli-${ctx.taskQueue.slice(-6)}`;
    const farm = await drover(['restore', 'farm', '--sites-file', list, '--label', label, '--concurrency', '2', '--yes', '--worker', '--json']);
    expect(farm.code, farm.stdout + farm.stderr).toBe(0);
    expect((farm.json() as { result: { done: { site: string }[]; failed: unknown[] } }).result).toMatchObject({ done: [{ site: site.domain }], failed: [] });
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    const status = await drover(['restore', 'farm-status', '--label', label, '--json']);
    expect(status.json()).toMatchObject({ status: 'COMPLETED', progress: { total: 1, done: 1, remaining: 0 } });
    expect((await drover(['restore', 'farm-status', '--label', 'never-ran', '--json'])).code).toBe(2);
  });

  it('a restore that fails inside a step reports the step and the root cause, in text and in --json', async () => {
    const site = await backedUpSite('fail');
    const key = await pointObjectKey(ctx.deps, site.domain, '2026-11-10', 'files');
    const bytes = await objectBytes(ctx.deps, key);
    bytes[200] ^= 0xff;
    await ctx.deps.s3.send(new PutObjectCommand({ Bucket: ctx.deps.bucket, Key: key, Body: bytes }));
    const files = treeHashes(site.filesPath);

    const json = await drover(['restore', 'site', site.domain, '--at', '2026-11-10', '--worker', '--json']);
    expect(json.code, json.stderr).toBe(1);
    const e = (json.json() as { workflowId: string; error: { kind: string; message: string; step: string; cause: { kind: string; type: string; message: string }; chain: { kind: string }[] } }).error;
    expect(e.kind).toBe('WorkflowFailedError');
    expect(e.step).toBe('download, verify, decrypt, extract files into staging');
    expect(e.cause).toMatchObject({ kind: 'ApplicationFailure', type: 'BackupCorrupted', message: expect.stringContaining('rolled back') });
    expect(e.chain.map((l) => l.kind)).toEqual(['WorkflowFailedError', 'ApplicationFailure']);
    expect(e.message).toMatch(/at step "download, verify, decrypt, extract files into staging": BackupCorrupted: /);

    const text = await drover(['restore', 'site', site.domain, '--at', '2026-11-10', '--worker']);
    expect(text.code).toBe(1);
    expect(text.stdout).toMatch(/failed at step "download, verify, decrypt, extract files into staging": BackupCorrupted: restore of .* rolled back/);
    expect(treeHashes(site.filesPath)).toEqual(files);
  });

  it('a lock left by a terminated restore refuses the next restore; restore unlock removes it', async () => {
    const site = await backedUpSite('unl');
    // A restore terminated by hand never reaches its finally: its lock row stays behind.
    await acquireRestoreLock(ctx.deps.galera, site.domain, `restore/${site.domain}/2026-11-10/terminated`);
    const refused = await drover(['restore', 'site', site.domain, '--at', '2026-11-10', '--worker', '--json']);
    expect(refused.code).not.toBe(0);
    expect(refused.stdout + refused.stderr).toMatch(/RestoreInProgress.*terminated/s);

    // A typo of the site: exit 2, the lock kept.
    const typo = await drover(['restore', 'unlock', `x${site.domain}`, '--json']);
    expect([typo.code, typo.json()]).toEqual([2, { ok: false, error: expect.objectContaining({ field: 'site', message: expect.stringContaining(`no restore lock for it (locks held now: `) }) }]);
    expect((typo.json() as { error: { message: string } }).error.message).toMatch(new RegExp(`locks held now: (.+, )?${site.domain.replace(/\./g, '\\.')}(, .+)?\\)$`));
    expect((await restoreLocks(ctx.deps.galera)).filter((l) => l.site === site.domain)).toHaveLength(1);

    const r = await drover(['restore', 'unlock', site.domain, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ unlocked: true, holderStatus: 'NOT_FOUND' });
    expect((await restoreLocks(ctx.deps.galera)).filter((l) => l.site === site.domain)).toEqual([]);
    expect((await drover(['restore', 'unlock', site.domain, '--json'])).json()).toMatchObject({ unlocked: false });
  });

  it("a restore terminated while it held the site's entity: restore unlock lets the entity go too, and the next restore goes through", async () => {
    const site = await backedUpSite('ent');
    // What a restore over the live site had taken when it was terminated: its lock row and the entity's hold.
    const holder = `restore/${site.domain}/2026-11-10/terminated`;
    await acquireRestoreLock(ctx.deps.galera, site.domain, holder);
    const entity = await ctx.tw.client.workflow.start(siteWorkflow, { workflowId: workflowIds.site(site.domain), taskQueue: ctx.taskQueue, args: [{ domain: site.domain }], workflowIdConflictPolicy: 'USE_EXISTING' });
    await entity.executeUpdate(beginRestoreUpdate, { args: [{ holder }] });
    expect((await entity.query(siteStateQuery)).restoreHolder).toBe(holder);

    const r = await drover(['restore', 'unlock', site.domain, '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.json()).toMatchObject({ unlocked: true, holder, holderStatus: 'NOT_FOUND', entityReleased: true });
    const state = await entity.query(siteStateQuery);
    expect(state.restoreHolder).toBeNull();
    expect(state.last).toMatchObject({ name: 'restore', workflowId: holder, outcome: 'failed', error: expect.stringContaining('released by drover restore unlock') });
    expect((await restoreLocks(ctx.deps.galera)).filter((l) => l.site === site.domain)).toEqual([]);

    // Before, only the lock row went: the entity then refused this restore (RestoreInProgress, naming the dead holder).
    const again = await drover(['restore', 'site', site.domain, '--at', '2026-11-10', '--worker', '--json'], { timeoutMs: 120_000 });
    expect(again.code, again.stdout + again.stderr).toBe(0);
    expect((await entity.query(siteStateQuery)).last).toMatchObject({ name: 'restore', outcome: 'ok' });
  });

  it.each([
    ['unknown site', () => ['restore', 'site', 'nowhere.example.com'], 'site'],
    ['a time before the first backup', (d: string) => ['restore', 'site', d, '--at', '2020-01-01'], '--at'],
    ['a malformed date', (d: string) => ['restore', 'site', d, '--at', 'last tuesday'], '--at'],
    ['an impossible date', (d: string) => ['restore', 'site', d, '--at', '2026-02-30'], '--at'],
    ['--to naming a registered site', (d: string) => ['restore', 'site', d, '--to', d.replace(/^bad-/, 'other-')], '--to'],
    ['--to not a domain', (d: string) => ['restore', 'site', d, '--to', 'Bad Name'], '--to'],
    ['drill of an unknown site', () => ['restore', 'drill', '--site', 'nowhere.example.com'], '--site'],
    ['a drill on an impossible date', () => ['restore', 'drill', '--date', '2026-02-30'], '--date'],
    ['a missing sites file', () => ['restore', 'farm', '--sites-file', '/nonexistent/sites.txt'], '--sites-file'],
    ['farm concurrency 0', () => ['restore', 'farm', '--concurrency', '0'], '--concurrency'],
    ['farm without --yes', (d: string) => ['restore', 'farm', '--sites-file', sitesFile(d), '--label', `no-yes-${d}`.slice(0, 90)], '--yes'],
  ])('%s exits 2 naming the field and changes nothing', async (_label, args, field) => {
    const site = await backedUpSite('bad');
    await createTestSite(ctx.deps, site.domain.replace(/^bad-/, 'other-'), { posts: 2, uploadBytes: 1024 });
    const db = await tableChecksums(ctx.deps, site.database);
    const files = treeHashes(site.filesPath);
    const r = await drover([...args(site.domain), '--json']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect((r.json() as { error: { field: string } }).error.field).toBe(field);
    expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
    expect(treeHashes(site.filesPath)).toEqual(files);
    // No safety point was taken, no restore workflow started.
    const keys = await ctx.deps.s3.send(new ListObjectsV2Command({ Bucket: ctx.deps.bucket, Prefix: `sites/${site.domain}/` }));
    expect((keys.Contents ?? []).map((o) => o.Key!).filter((k) => !k.includes('/2026-11-10/'))).toEqual([]);
    await expect(ctx.tw.client.workflow.getHandle(workflowIds.restore(site.domain, '2026-11-10')).describe()).rejects.toThrow(/not found/i);
  });

  it("a restore over a site whose entity no worker polls (drover-infra for a created site) is refused before it starts, naming that worker; without --wait it starts and says so", async () => {
    const site = await backedUpSite('unpolled');
    const namespace = await freshNamespace();
    const client = new Client({ connection: ctx.tw.client.connection, namespace, dataConverter: testDataConverter() });
    await client.workflow.start(siteWorkflow, { workflowId: workflowIds.site(site.domain), taskQueue: TASK_QUEUES.infra, args: [{ domain: site.domain }] });
    try {
      const db = await tableChecksums(ctx.deps, site.database);
      const r = await drover(['restore', 'site', site.domain, '--at', '2026-11-10', '--worker', '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const err = (r.json() as { error: { kind: string; message: string } }).error;
      expect(err).toMatchObject({ kind: 'NoWorker', message: expect.stringMatching(/drover-infra, which the site's entity runs on .*drover worker infra/) });
      const listed = await client.workflowService.listWorkflowExecutions({ namespace, query: '' });
      expect(listed.executions.map((e) => e.execution?.workflowId)).toEqual([workflowIds.site(site.domain)]);
      expect(await tableChecksums(ctx.deps, site.database)).toEqual(db);
      // Not waiting: started, with the notice on stderr (the restore waits for that worker).
      const started = await drover(['restore', 'site', site.domain, '--at', '2026-11-10'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(started.code, started.stderr).toBe(0);
      expect(started.stderr).toMatch(/no worker polls drover-infra, the site's entity runs on/);
    } finally {
      for (const id of [workflowIds.site(site.domain), workflowIds.restore(site.domain, '2026-11-10')]) await client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    }
  });

  it('a farm recovery of sites whose entities no worker polls is refused before it starts when it would wait, naming the worker and the sites; without --wait it starts and says so', async () => {
    const site = await backedUpSite('farm-unpolled');
    const namespace = await freshNamespace();
    const client = new Client({ connection: ctx.tw.client.connection, namespace, dataConverter: testDataConverter() });
    await client.workflow.start(siteWorkflow, { workflowId: workflowIds.site(site.domain), taskQueue: TASK_QUEUES.infra, args: [{ domain: site.domain }] });
    const label = `unpolled-${ctx.taskQueue.slice(-6)}`;
    const args = ['restore', 'farm', '--sites-file', sitesFile(site.domain), '--label', label, '--at', '2026-11-10', '--yes', '--force'];
    try {
      const r = await drover([...args, '--worker', '--json'], { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(r.code, r.stdout + r.stderr).toBe(1);
      const err = (r.json() as { error: { kind: string; message: string } }).error;
      expect(err).toMatchObject({ kind: 'NoWorker', message: expect.stringContaining(`drover-infra, which the entities of 1 of these sites run on (each restore holds its site's entity first: ${site.domain})`) });
      const listed = await client.workflowService.listWorkflowExecutions({ namespace, query: '' });
      expect(listed.executions.map((e) => e.execution?.workflowId)).toEqual([workflowIds.site(site.domain)]);
      const started = await drover(args, { env: { TEMPORAL_NAMESPACE: namespace }, timeoutMs: 60_000 });
      expect(started.code, started.stderr).toBe(0);
      expect(started.stderr).toMatch(/no worker polls drover-infra, which the entities of 1 of these sites run on/);
    } finally {
      for (const id of [workflowIds.site(site.domain), workflowIds.restoreFarm(label)]) await client.workflow.getHandle(id).terminate('test over').catch(() => undefined);
    }
  });
});

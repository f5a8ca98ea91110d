/**
 * The site's entity workflow and `drover site create|delete` input checks, on the real Temporal server, Galera,
 * S3 and storage host:
 * - bad input (shell and SQL metacharacters, over-long names, reserved names, a bad PHP version or e-mail, an
 *   existing site with other parameters) exits 2 naming the field, and nothing is created: no entity workflow,
 *   no registry row;
 * - a restore holds the site's entity: a delete and a second restore are refused while it runs (the refused
 *   updates leave nothing in the entity's history), and the real restore releases the entity when it ends;
 * - the entity continues as new carrying its state, and its history replays.
 */
import { WorkflowFailedError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import { randomBytes } from 'node:crypto';
import { Worker } from '@temporalio/worker';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createTemporalActivities } from '../../activities/temporal';
import { describe, expect, it } from 'vitest';
import { getSite, recordSiteCreating } from '../../lib/site-registry';
import { siteNames } from '../../lib/site-names';
import { workflowIds } from '../../lib/contract/ids';
import { beginRestoreUpdate, createSiteUpdate, deleteSiteUpdate, endRestoreUpdate, siteStateQuery, siteWorkflow } from '../../workflows/site';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { nightlyBackupWorkflow } from '../../workflows/nightly-backup';
import { drover } from '../helpers/cli';
import { createTestSite } from '../helpers/sites';
import { replayOptions, useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('site-entity');

async function entityExists(domain: string): Promise<boolean> {
  try {
    await ctx.tw.client.workflow.getHandle(workflowIds.site(domain)).describe();
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

function startEntity(domain: string) {
  return ctx.tw.client.workflow.start(siteWorkflow, { workflowId: workflowIds.site(domain), taskQueue: ctx.taskQueue, args: [{ domain }], workflowIdConflictPolicy: 'USE_EXISTING' });
}

async function refusedWith(p: Promise<unknown>): Promise<{ type?: string; message: string }> {
  const err = await p.then(() => null, (e: unknown) => e);
  expect(err).toBeInstanceOf(WorkflowUpdateFailedError);
  const cause = (err as WorkflowUpdateFailedError).cause as { type?: string; message: string };
  return { type: cause.type, message: cause.message };
}

describe('drover site create: bad input exits 2 naming the field, nothing created', () => {
  const tag = () => ctx.taskQueue.slice(-6);
  it.each([
    [['site', 'create', "x.com'; DROP DATABASE mysql; --"], /domain: .*characters a domain cannot/],
    [['site', 'create', '$(touch /tmp/pwned).com'], /domain: .*characters a domain cannot/],
    [['site', 'create', `${'a'.repeat(64)}.example.com`], /domain: .*at most 63/],
    [['site', 'create', `${'abcdefghi.'.repeat(26)}com`], /domain: .*at most 253/],
    [['site', 'create', 'printer.local'], /domain: .*reserved/],
    [['site', 'create', 'localhost'], /domain: /],
    [['site', 'create', 'ok-php.example.com', '--php', '5.6'], /--php: /],
    [['site', 'create', 'ok-mail.example.com', '--admin-email', 'not an email'], /--admin-email: /],
    [['site', 'delete', 'ok-yes.example.com'], /domain: unknown site/],
  ])('%j', async (args, why) => {
    const r = await drover(args);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(why);
    const domain = args[2];
    if (/^[a-z0-9.-]+$/.test(domain) && domain.length <= 253) {
      expect(await entityExists(domain)).toBe(false);
      expect(await getSite(ctx.deps.galera, domain)).toBeNull();
    }
    void tag;
  });

  it('a --farm in which no cluster is found: exit 2 naming --farm as typed, no site recorded, the entity as before (a corrected create is not refused)', async () => {
    const domain = `nofarm-${ctx.taskQueue.slice(-6)}.example.com`;
    try {
      const r = await drover(['site', 'create', domain, '--farm', 'nosuch', '--worker', '--json']);
      expect(r.code, r.stdout + r.stderr).toBe(2);
      expect(r.json()).toMatchObject({ ok: false, error: { field: '--farm', message: expect.stringContaining('no cluster named nosuch') } });
      expect(await getSite(ctx.deps.galera, domain)).toBeNull();
      // The refused create left nothing behind in the entity either: kept, its typo would refuse every create with
      // another farm as "domain: … already exists with other parameters: farm".
      const again = await drover(['site', 'create', domain, '--farm', 'nosuch2', '--worker']);
      expect(again.code, again.stderr).toBe(2);
      expect(again.stderr).toMatch(/--farm: no cluster named nosuch2/);
    } finally {
      // The entity the create started (it stays, as every entity does): not left running after the test.
      await ctx.tw.client.workflow.getHandle(workflowIds.site(domain)).terminate('test over').catch(() => undefined);
    }
  });

  it('an existing site with other parameters: exit 2 naming the difference; its record unchanged, no entity started', async () => {
    const domain = `other-${ctx.taskQueue.slice(-6)}.example.com`;
    const n = siteNames(domain);
    const before = await recordSiteCreating(ctx.deps.galera, { domain, database: n.database, dbUser: n.dbUser, filesPath: n.docroot, storageHost: null, phpVersion: '8.1', farm: 'local', title: 'Old title', adminEmail: `admin@${domain}` });
    const r = await drover(['site', 'create', domain, '--php', '8.2', '--title', 'Old title']);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toMatch(/domain: .*already exists with other parameters: --php \(it has "8.1"\)/);
    expect(await getSite(ctx.deps.galera, domain)).toEqual(before);
    expect(await entityExists(domain)).toBe(false);
  });
});

describe('siteWorkflow', () => {
  // The SDK ties the calls an activity makes with its context's client to the activity's cancellation: a stopping
  // worker's hold (a long-polled update) ends with the cancel instead of waiting for the entity; the step says it was
  // cancelled (it failed with the aborted call's WorkflowUpdateRPCTimeoutOrCancelledError, logged as a failure).
  it("a restore's hold on an entity no worker runs stops waiting when the step is cancelled, and reports the cancellation (not the aborted update call)", async () => {
    const domain = `hold-cancel-${randomBytes(3).toString('hex')}.example.com`;
    const idle = `nobody-polls-${randomBytes(4).toString('hex')}`;
    const mock = new MockActivityEnvironment({}, { client: ctx.tw.client });
    try {
      const hold = mock.run(createTemporalActivities().holdSiteForRestore, { site: domain, holder: 'restore/test', taskQueue: idle });
      const outcome = hold.then(() => 'held', (e: Error) => e);
      // The entity exists (started by the step on the idle queue), its update waits for a worker that never comes.
      for (let i = 0; i < 50; i++) {
        if (await ctx.tw.client.workflow.getHandle(workflowIds.site(domain)).describe().then(() => true, () => false)) break;
        await new Promise((r) => setTimeout(r, 200));
      }
      await new Promise((r) => setTimeout(r, 1_000));
      mock.cancel();
      const ended = await Promise.race([outcome, new Promise((r) => setTimeout(() => r('still waiting'), 10_000))]);
      expect(ended).toBeInstanceOf(CancelledFailure);
    } finally {
      await ctx.tw.client.workflow.getHandle(workflowIds.site(domain)).terminate('test over').catch(() => undefined);
    }
  });

  it('a restore holds the site: a delete and a second restore are refused meanwhile and leave no trace; a real restore holds and releases it', async () => {
    const tag = ctx.taskQueue.slice(-6);
    const site = await createTestSite(ctx.deps, `entity-${tag}.example.com`, { posts: 5, uploadBytes: 8 * 1024 });
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const entity = await startEntity(site.domain);

    // An operator's restore holds the entity (as restoreSiteWorkflow's first steps do).
    await entity.executeUpdate(beginRestoreUpdate, { args: [{ holder: 'restore/by-hand' }] });
    const eventsBefore = (await entity.fetchHistory()).events?.length ?? 0;
    const del = await refusedWith(entity.executeUpdate(deleteSiteUpdate, { args: [{ domain: site.domain, provider: 'local' }] }));
    expect(del).toMatchObject({ type: 'RestoreInProgress' });
    expect(del.message).toMatch(/being restored by restore\/by-hand/);
    const second = await refusedWith(entity.executeUpdate(beginRestoreUpdate, { args: [{ holder: 'restore/other' }] }));
    expect(second).toMatchObject({ type: 'RestoreInProgress' });
    const create = await refusedWith(entity.executeUpdate(createSiteUpdate, { args: [{ domain: site.domain, phpVersion: '8.2', title: 't', adminEmail: 'a@b.example.com', provider: 'local', farm: 'local', storageHost: null }] }));
    expect(create).toMatchObject({ type: 'RestoreInProgress' });
    // Validators reject before anything is written: the entity's history did not grow by an accepted update.
    const events = (await entity.fetchHistory()).events ?? [];
    expect(events.slice(eventsBefore).filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes)).toEqual([]);

    // The real restore workflow of the same site asks the entity and is refused too, naming the holder.
    const refusedRestore = await ctx.tw.client.workflow
      .execute(restoreSiteWorkflow, { workflowId: `restore/${site.domain}/2026-11-10/${tag}-refused`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] })
      .then(() => null, (e: Error) => e);
    expect(refusedRestore).not.toBeNull();
    expect(String((refusedRestore as Error & { cause?: Error }).cause?.message)).toMatch(/already being restored by restore\/by-hand/);

    await entity.executeUpdate(endRestoreUpdate, { args: [{ holder: 'restore/by-hand', ok: true }] });
    const restoreId = `restore/${site.domain}/2026-11-10/${tag}`;
    const restore = await ctx.tw.client.workflow.start(restoreSiteWorkflow, { workflowId: restoreId, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    // While it runs, the entity names it as the holder (looked at until the restore ends).
    let sawHolder = false;
    for (let i = 0; i < 600 && !sawHolder; i++) {
      const s = await entity.query(siteStateQuery);
      if (s.restoreHolder === restoreId) sawHolder = true;
      else if ((await restore.describe()).status.name !== 'RUNNING') break;
      else await new Promise((r) => setTimeout(r, 100));
    }
    const r = await restore.result();
    expect(r.steps.map((s) => s.name)).toContain("hold the site's entity");
    expect(sawHolder).toBe(true);
    const after = await entity.query(siteStateQuery);
    expect(after).toMatchObject({ restoreHolder: null, running: null, last: { name: 'restore', workflowId: restoreId, outcome: 'ok' } });
    expect(after.operations).toBe(2);

    // The entity's history replays with the workflow code as it is.
    await Worker.runReplayHistory(replayOptions(), await entity.fetchHistory(), entity.workflowId);
  }, 300_000);

  it("step timeouts other than durations from 1 s to 24 h: the entity's create refused by its validator; a restore and a night fail at once naming the field, having done nothing", async () => {
    const tag = ctx.taskQueue.slice(-6);
    const domain = `timeouts-${tag}.example.com`;
    const entity = await startEntity(domain);
    const create = await refusedWith(entity.executeUpdate(createSiteUpdate, { args: [{ domain, phpVersion: '8.2', title: 't', adminEmail: 'a@b.example.com', provider: 'local', farm: 'local', storageHost: null, timeouts: { heartbeat: 'soon' } }] }));
    expect(create).toMatchObject({ type: 'InvalidInput' });
    expect(create.message).toMatch(/^timeouts\.heartbeat: "soon" is not a duration/);
    expect(await entity.query(siteStateQuery)).toMatchObject({ phase: 'unknown', running: null, operations: 0 });

    // Started with a bound on the run, so that a workflow stuck on a step it cannot schedule (what such input did
    // before) fails the test with a timeout instead of hanging it. Each outcome is taken as it settles (the night
    // fails while the restore's is awaited: never an unhandled rejection).
    const settled = (p: Promise<unknown>) => p.then(() => null, (e: unknown) => e);
    const cases: [string, Promise<unknown>, RegExp][] = [
      [
        'restore',
        settled(ctx.tw.client.workflow.execute(restoreSiteWorkflow, { workflowId: `restore/${domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, workflowExecutionTimeout: '30 seconds', args: [{ site: domain, point: '2026-11-10', timeouts: { startToClose: 0 } }] })),
        /^timeouts\.startToClose: 0 is outside 1 second to 24 hours$/,
      ],
      [
        'night',
        settled(ctx.tw.client.workflow.execute(nightlyBackupWorkflow, { workflowId: `nightly-backup/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, workflowExecutionTimeout: '30 seconds', args: [{ date: '2026-11-10', sites: [domain], timeouts: { heartbeat: '25h' } }] })),
        /^timeouts\.heartbeat: "25h" is outside 1 second to 24 hours$/,
      ],
    ];
    for (const [what, outcome, message] of cases) {
      const err = await outcome;
      expect(err, what).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause, what).toMatchObject({ type: 'InvalidInput', message: expect.stringMatching(message) });
    }
    // Nothing ran: no step scheduled, no child started, the entity never held.
    for (const id of [`restore/${domain}/2026-11-10/${tag}`, `nightly-backup/2026-11-10/${tag}`]) {
      const events = (await ctx.tw.client.workflow.getHandle(id).fetchHistory()).events ?? [];
      expect(events.filter((e) => e.activityTaskScheduledEventAttributes || e.startChildWorkflowExecutionInitiatedEventAttributes), id).toEqual([]);
    }
    expect(await entity.query(siteStateQuery)).toMatchObject({ restoreHolder: null, operations: 0 });
  }, 120_000);

  it('a delete naming another provider than the site was created on is refused at acceptance (field provider), nothing started', async () => {
    const domain = `prov-${ctx.taskQueue.slice(-6)}.example.com`;
    const spec = { phpVersion: '8.2', title: 't', adminEmail: 'a@b.example.com', provider: 'digitalocean' as const, farm: 'prod', storageHost: null };
    const h = await ctx.tw.client.workflow.start(siteWorkflow, { workflowId: workflowIds.site(domain), taskQueue: ctx.taskQueue, args: [{ domain, state: { domain, phase: 'created', spec, running: null, queued: [], restoreHolder: null, last: null, operations: 1 } }] });
    try {
      const refused = await refusedWith(h.executeUpdate(deleteSiteUpdate, { args: [{ domain, provider: 'local' }] }));
      expect(refused).toMatchObject({ type: 'InvalidInput', message: `provider: ${domain} was created on a digitalocean cluster, not local` });
      expect(await h.query(siteStateQuery)).toMatchObject({ phase: 'created', running: null, queued: [], operations: 1 });
      const history = await h.fetchHistory();
      expect(history.events?.filter((e) => e.startChildWorkflowExecutionInitiatedEventAttributes || e.workflowExecutionUpdateAcceptedEventAttributes)).toEqual([]);
    } finally {
      await h.terminate('test over').catch(() => undefined);
    }
  });

  it('continues as new after its bound, carrying its state; updates and queries reach the new run', async () => {
    const domain = `can-${ctx.taskQueue.slice(-6)}.example.com`;
    const h = await ctx.tw.client.workflow.start(siteWorkflow, { workflowId: workflowIds.site(domain), taskQueue: ctx.taskQueue, args: [{ domain, maxOperationsPerRun: 2 }] });
    const firstRun = (await h.describe()).runId;
    for (let i = 1; i <= 5; i++) {
      await h.executeUpdate(beginRestoreUpdate, { args: [{ holder: `restore/${i}` }] });
      await h.executeUpdate(endRestoreUpdate, { args: [{ holder: `restore/${i}`, ok: true }] });
    }
    const s = await h.query(siteStateQuery);
    expect(s).toMatchObject({ operations: 5, restoreHolder: null, last: { name: 'restore', workflowId: 'restore/5', outcome: 'ok' } });
    expect((await h.describe()).runId).not.toBe(firstRun);
    const runs = [];
    for await (const w of ctx.tw.client.workflow.list({ query: `WorkflowId = '${workflowIds.site(domain)}'` })) runs.push(w.status.name);
    expect(runs.filter((r) => r === 'CONTINUED_AS_NEW').length).toBeGreaterThanOrEqual(2);
  }, 120_000);
});

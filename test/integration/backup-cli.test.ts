/** The backup and site commands end to end through the built CLI, and their bad-input contract. */
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { temporal } from '@temporalio/proto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { drover } from '../helpers/cli';
import { TEST_STATE_DIR } from '../helpers/paths';
import { connectTestServer, testWorker } from '../helpers/temporal';
import { TASK_QUEUES, workflowIds } from '../../lib/contract/ids';
import type { NightlyBackupResult } from '../../workflows/nightly-backup';

const tag = `${process.pid}`;

describe('drover site and backup commands', () => {
  it('generates and registers sites, backs one up, lists and prunes its restore points', async () => {
    const gen = await drover(['dev', 'sites', '--count', '1', '--prefix', `cli${tag}`, '--posts', '5', '--json']);
    expect(gen.code, gen.stderr).toBe(0);
    const generated = (gen.json() as { sites: { domain: string; database: string; filesPath: string }[] }).sites[0];
    expect(generated.filesPath.startsWith(TEST_STATE_DIR)).toBe(true);
    const domain = generated.domain;

    // Registering goes through a workflow (audit trail) and is idempotent.
    const add = await drover(['site', 'add', domain, '--db', generated.database, '--files', generated.filesPath, '--worker', '--json']);
    expect(add.code, add.stderr).toBe(0);
    expect((add.json() as { site: { domain: string; status: string } }).site).toMatchObject({ domain, status: 'active' });
    const list = (await drover(['site', 'list', '--json'])).json() as { sites: { domain: string }[] };
    expect(list.sites.filter((s) => s.domain === domain)).toHaveLength(1);

    // A second site cannot claim a database another site owns.
    const clash = await drover(['site', 'add', `other-${tag}.example.com`, '--db', generated.database, '--files', '/srv/other', '--worker']);
    expect(clash.code).toBe(1);
    expect(clash.stderr).toMatch(/already belongs to site/);
    // The root cause and the step it failed at, as JSON too (not just "Workflow execution failed").
    const clashJson = await drover(['site', 'add', `other-${tag}.example.com`, '--db', generated.database, '--files', '/srv/other', '--worker', '--json']);
    expect(clashJson.code).toBe(1);
    expect((clashJson.json() as { error: unknown }).error).toMatchObject({
      kind: 'WorkflowFailedError',
      step: 'registerSite',
      cause: { type: 'InvalidInput', message: expect.stringMatching(/already belongs to site/) },
      message: expect.stringMatching(/activity registerSite: InvalidInput: database .* already belongs to site/),
    });

    // A wp-config.php that computes its $table_prefix: the prefix is the operator's to give (exit 2, nothing recorded).
    const computed = path.join(TEST_STATE_DIR, `computed-${tag}`, 'htdocs');
    mkdirSync(computed, { recursive: true });
    writeFileSync(path.join(computed, 'wp-config.php'), "<?php\n$table_prefix = getenv('WP_PREFIX') . '_';\n");
    const computedDomain = `computed-${tag}.example.com`;
    const noPrefix = await drover(['site', 'add', computedDomain, '--db', `wp_computed_${tag}`, '--files', computed, '--worker', '--json']);
    expect(noPrefix.code, noPrefix.stdout).toBe(2);
    expect(noPrefix.json()).toMatchObject({ ok: false, error: { field: '--table-prefix', message: expect.stringContaining('does not set $table_prefix to a plain literal') } });
    // Not registered: `site show` reads the registry alone (`site list` also waits up to 20 s on each farm's node
    // lookup that no worker answers, as earlier test files leave them).
    const unregistered = await drover(['site', 'show', computedDomain, '--json']);
    expect(unregistered.code, unregistered.stdout).toBe(2);
    expect((unregistered.json() as { error: { message: string } }).error.message).toMatch(/unknown site computed-/);

    const run = await drover(['backup', 'run', '--site', domain, '--date', '2026-11-16', '--worker', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((run.json() as { result: { created: number } }).result.created).toBe(1);

    const points = (await drover(['backup', 'list', '--site', domain, '--json'])).json() as { points: { date: string; complete: boolean }[] };
    expect(points.points).toEqual([expect.objectContaining({ date: '2026-11-16', complete: true })]);
    // The site as an operator may type it (capitals, a trailing dot): the same site.
    const typed = (await drover(['backup', 'list', '--site', `${domain.toUpperCase()}.`, '--json'])).json() as { site: string; points: unknown[] };
    expect([typed.site, typed.points]).toEqual([domain, points.points]);

    const plan = await drover(['backup', 'prune', '--dry-run', '--site', domain, '--now', '2027-11-16', '--json']);
    expect(plan.code).toBe(0);
    const p = plan.json() as { dryRun: boolean; plans: { site: string; plan: { decisions: { date: string; action: string; reasons: string[] }[] } }[] };
    // A year later the point is past every tier but is still one of the newest three: kept.
    expect(p.plans[0].plan.decisions).toEqual([expect.objectContaining({ date: '2026-11-16', action: 'keep', reasons: ['newest'] })]);
    // Dry run changed nothing.
    expect(((await drover(['backup', 'list', '--site', domain, '--json'])).json() as { points: unknown[] }).points).toHaveLength(1);
  });

  it('a manual backup run and the Schedule\'s run of the same night are one workflow: no site is backed up twice at once', async () => {
    const gen = await drover(['dev', 'sites', '--count', '1', '--prefix', `night${tag}`, '--posts', '3', '--json']);
    expect(gen.code, gen.stderr).toBe(0);
    const site = (gen.json() as { sites: { domain: string; database: string; filesPath: string }[] }).sites[0];
    expect((await drover(['site', 'add', site.domain, '--db', site.database, '--files', site.filesPath, '--worker'])).code).toBe(0);
    // A night no other run of the suite used (runs of the same night accumulate under its one ID).
    const date = `2024-${String(1 + (process.pid % 12)).padStart(2, '0')}-${String(1 + ((process.pid >> 4) % 28)).padStart(2, '0')}`;
    const nightId = workflowIds.nightlyBackup(date);

    // An operator starts the night by hand (no worker yet), under the night's one ID…
    const manual = await drover(['backup', 'run', '--site', site.domain, '--date', date, '--json']);
    expect(manual.code, manual.stderr).toBe(0);
    expect((manual.json() as { workflowId: string }).workflowId).toBe(nightId);
    // …and the Schedule fires for the same night meanwhile. Its input is the real Schedule's, as `drover backup
    // schedule create` writes it: no date, so the night is the one its scheduled time falls in.
    const tw = await connectTestServer();
    await drover(['backup', 'schedule', 'delete']);
    expect((await drover(['backup', 'schedule', 'create', '--concurrency', '4'])).code).toBe(0);
    let realArgs: Record<string, unknown>;
    try {
      const action = (await tw.client.schedule.getHandle(workflowIds.backupSchedule).describe()).action as { workflowType: string; args: Record<string, unknown>[] };
      expect(action.workflowType).toBe('nightlyBackupWorkflow');
      realArgs = action.args[0];
    } finally {
      expect((await drover(['backup', 'schedule', 'delete'])).code).toBe(0);
    }
    expect(realArgs).toEqual({ concurrency: 4 });
    // The same input on a Schedule of the test's own, limited to this site (the real one backs up every site of
    // the environment), fired for the night's 02:00 by a backfill: it names its run `nightly-backup-<time>`.
    const scheduleId = `nightly-backup-test-${tag}`;
    const schedule = await tw.client.schedule.create({
      scheduleId,
      spec: { cronExpressions: ['0 2 * * *'] },
      action: { type: 'startWorkflow', workflowType: 'nightlyBackupWorkflow', workflowId: workflowIds.backupSchedule, taskQueue: TASK_QUEUES.backup, args: [{ ...realArgs, sites: [site.domain] }] },
    });
    try {
      await schedule.backfill({ start: new Date(`${date}T01:00:00Z`), end: new Date(`${date}T03:00:00Z`), overlap: ScheduleOverlapPolicy.ALLOW_ALL });
      let scheduledId: string | undefined;
      for (let i = 0; i < 100 && !scheduledId; i++) {
        scheduledId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
        if (!scheduledId) await new Promise((r) => setTimeout(r, 200));
      }
      expect(scheduledId).toBe(`${workflowIds.backupSchedule}-${date}T02:00:00Z`);
      const { worker, close } = await testWorker(tw, { taskQueue: TASK_QUEUES.backup });
      let r: NightlyBackupResult;
      try {
        r = await worker.runUntil(tw.client.workflow.getHandle(scheduledId!).result() as Promise<NightlyBackupResult>);
      } finally {
        await close();
      }
      // The scheduled run waited for the operator's night and ran it again: the site was already complete.
      expect(r.failed).toEqual([]);
      expect(r.outcomes).toEqual([expect.objectContaining({ site: site.domain, status: 'already-complete' })]);
      // Every run of the night went through the one ID and completed; the site's backup never failed on a collision.
      const runs = async (id: string) => (await tw.client.workflowService.listWorkflowExecutions({ namespace: 'default', query: `WorkflowId = '${id}'` })).executions.map((e) => e.status);
      const completed = temporal.api.enums.v1.WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_COMPLETED;
      expect(await runs(nightId)).toEqual([completed, completed]);
      expect((await runs(workflowIds.siteBackup(site.domain, date))).every((s) => s === completed)).toBe(true);
    } finally {
      await schedule.delete();
      await tw.teardown();
    }
    const points = (await drover(['backup', 'list', '--site', site.domain, '--json'])).json() as { points: { date: string; complete: boolean }[] };
    expect(points.points).toEqual([expect.objectContaining({ date, complete: true })]);
  });

  it('manages the nightly schedule: create, describe, pause, unpause, delete', async () => {
    await drover(['backup', 'schedule', 'delete']);
    expect((await drover(['backup', 'schedule', 'create', '--cron', '30 3 * * *', '--concurrency', '8'])).code).toBe(0);
    const d = (await drover(['backup', 'schedule', 'describe', '--json'])).json() as { paused: boolean; cron: string[]; nextActionTimes: string[] };
    expect(d.cron).toEqual(['30 3 * * *']);
    expect(d.paused).toBe(false);
    expect(d.nextActionTimes[0]).toMatch(/T03:30:00/);
    expect((await drover(['backup', 'schedule', 'pause', '--note', 'maintenance window'])).code).toBe(0);
    expect(((await drover(['backup', 'schedule', 'describe', '--json'])).json() as { paused: boolean; note: string })).toMatchObject({ paused: true, note: 'maintenance window' });
    expect((await drover(['backup', 'schedule', 'unpause'])).code).toBe(0);
    expect((await drover(['backup', 'schedule', 'create'])).code).toBe(2); // already exists
    expect((await drover(['backup', 'schedule', 'delete'])).code).toBe(0);
    expect((await drover(['backup', 'schedule', 'describe'])).code).toBe(1);
  });

  it.each([
    [['backup', 'run', '--site', 'unknown.example.com'], '--site'],
    [['backup', 'run', '--date', '2026-13-01'], '--date'],
    [['backup', 'list', '--site', 'unknown.example.com'], '--site'],
    [['backup', 'list', '--site', 'not a domain!'], '--site'],
    [['backup', 'run', '--site', 'café.example.com', '--site', 'a b'], '--site'],
    [['backup', 'prune', '--dry-run', '--now', 'yesterday'], '--now'],
    // Dated after today: a point that would outlive retention; a prune that would age every point out (a dry run may look ahead).
    [['backup', 'run', '--date', '2999-01-01'], '--date'],
    [['backup', 'prune', '--now', '2999-01-01'], '--now'],
    [['backup', 'schedule', 'create', '--cron', '61 2 * * *'], '--cron'],
    [['backup', 'schedule', 'create', '--cron', 'nightly'], '--cron'],
    [['site', 'add', 'Not A Domain', '--db', 'wp_x', '--files', '/srv/x'], 'domain'],
    [['site', 'add', 'ok.example.com', '--db', 'bad-name!', '--files', '/srv/x'], '--db'],
    [['site', 'add', 'ok.example.com', '--db', 'wp_x', '--files', 'relative'], '--files'],
  ])('%j exits 2 naming %s and changes nothing', async (args, field) => {
    const r = await drover([...args, '--json']);
    expect(r.code).toBe(2);
    expect((r.json() as { error: { field: string } }).error.field).toBe(field);
    if (args[1] === 'schedule') expect((await drover(['backup', 'schedule', 'describe'])).code).toBe(1);
    // Not registered (`site show` reads the registry; `site list` may also wait up to 20 s on each farm's node lookup).
    if (args[0] === 'site') {
      const show = await drover(['site', 'show', 'ok.example.com', '--json']);
      expect(show.code, show.stdout).toBe(2);
      expect((show.json() as { error: { message: string } }).error.message).toMatch(/unknown site ok\.example\.com/);
    }
  });
});

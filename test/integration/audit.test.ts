/**
 * The audit record (issue 17, item 4) through the CLI on the real services: a backup run by one operator
 * (DROVER_OPERATOR) is recorded for the site under that operator, the nightly run's child included (the header is
 * passed on); a restore by another operator too; a failed run started without the CLI's header is recorded as
 * failed with its failure type and operator `unknown`. `drover audit` filters by site, operation and time; the
 * record survives the workflow's deletion from Temporal (as it will survive history retention). Bad filters exit 2.
 */
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { AuditEvent } from '../../lib/audit';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { drover } from '../helpers/cli';
import { createTestSite } from '../helpers/sites';
import { deleteExecution, useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('audit');

const audit = async (args: string[]) => {
  const r = await drover(['audit', ...args, '--json']);
  expect(r.code, r.stderr).toBe(0);
  return (r.json() as { events: (Omit<AuditEvent, 'at'> & { at: string })[] }).events;
};

describe('drover audit', () => {
  it('records who backed up and restored which site, and when; keeps it after the workflow is gone from Temporal', async () => {
    const tag = randomBytes(3).toString('hex');
    const site = await createTestSite(ctx.deps, `audit-${tag}.example.com`, { posts: 5, uploadBytes: 8 * 1024 });
    const start = new Date(Date.now() - 1_000);
    const backup = await drover(['backup', 'run', '--site', site.domain, '--date', '2026-11-18', '--worker', '--json'], { env: { DROVER_OPERATOR: 'alice@example.com' } });
    expect(backup.code, backup.stderr).toBe(0);
    const restore = await drover(['restore', 'site', site.domain, '--at', '2026-11-18', '--worker', '--json'], { env: { DROVER_OPERATOR: 'bob' } });
    expect(restore.code, restore.stderr).toBe(0);
    const gone = `audit-gone-${tag}.example.com`;
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${gone}/2026-11-18/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: gone, point: '2026-11-18' }] }).catch(() => undefined);

    const events = await audit(['--site', site.domain]);
    expect(events.map((e) => [e.operator, e.operation, e.outcome])).toEqual([
      ['alice@example.com', 'siteBackup', 'completed'],
      // The restore's safety point is a backup, by the restore's operator (the header reached the child).
      ['bob', 'siteBackup', 'completed'],
      ['bob', 'restoreSite', 'completed'],
    ]);
    for (const e of events) expect(new Date(e.at).getTime()).toBeGreaterThanOrEqual(start.getTime());
    const restored = events[2];
    expect(restored.workflowId).toBe((restore.json() as { workflowId: string }).workflowId);
    // The nightly run itself is recorded too, farm-wide (no single site), under the same operator.
    const nightly = (await audit(['--operation', 'nightlyBackup', '--since', start.toISOString()])).filter((e) => e.operator === 'alice@example.com');
    expect(nightly.length).toBeGreaterThanOrEqual(1);
    expect(nightly[0]).toMatchObject({ site: null, outcome: 'completed' });

    expect(await audit(['--site', gone])).toEqual([expect.objectContaining({ operator: 'unknown', operation: 'siteBackup', outcome: 'failed', failureType: 'InvalidInput' })]);
    expect((await audit(['--site', site.domain, '--operation', 'restoreSite'])).map((e) => e.operator)).toEqual(['bob']);
    expect(await audit(['--site', site.domain, '--since', '2099-01-01'])).toEqual([]);

    // Deleted from Temporal (what retention does a day later on the dev server): the record stays.
    await deleteExecution(ctx.tw.client, restored.workflowId, restored.runId);
    expect((await audit(['--site', site.domain])).map((e) => e.runId)).toEqual(events.map((e) => e.runId));

    const text = await drover(['audit', '--site', site.domain]);
    expect(text.stdout).toMatch(/alice@example\.com\s+siteBackup\s+audit-.*completed/);
  }, 420_000);

  it.each([
    [['--since', 'yesterday'], '--since'],
    [['--since', '2026-02-31'], '--since'],
    [['--site', "x'; DROP TABLE drover_meta.audit_events; --"], '--site'],
    [['--operation', 'restore site'], '--operation'],
  ])('refuses %j (exit 2, naming the flag)', async (args, flag) => {
    const r = await drover(['audit', ...args, '--json']);
    expect(r.code).toBe(2);
    expect((r.json() as { error: { field: string } }).error.field).toBe(flag);
  });
});

/** The backup and site commands end to end through the built CLI, and their bad-input contract. */
import { describe, expect, it } from 'vitest';
import { drover } from '../helpers/cli';
import { TEST_STATE_DIR } from '../helpers/paths';

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

    const run = await drover(['backup', 'run', '--site', domain, '--date', '2026-11-16', '--worker', '--json']);
    expect(run.code, run.stdout + run.stderr).toBe(0);
    expect((run.json() as { result: { created: number } }).result.created).toBe(1);

    const points = (await drover(['backup', 'list', '--site', domain, '--json'])).json() as { points: { date: string; complete: boolean }[] };
    expect(points.points).toEqual([expect.objectContaining({ date: '2026-11-16', complete: true })]);

    const plan = await drover(['backup', 'prune', '--dry-run', '--site', domain, '--now', '2027-11-16', '--json']);
    expect(plan.code).toBe(0);
    const p = plan.json() as { dryRun: boolean; plans: { site: string; plan: { decisions: { date: string; action: string; reasons: string[] }[] } }[] };
    // A year later the point is past every tier but is still one of the newest three: kept.
    expect(p.plans[0].plan.decisions).toEqual([expect.objectContaining({ date: '2026-11-16', action: 'keep', reasons: ['newest'] })]);
    // Dry run changed nothing.
    expect(((await drover(['backup', 'list', '--site', domain, '--json'])).json() as { points: unknown[] }).points).toHaveLength(1);
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
    [['backup', 'prune', '--dry-run', '--now', 'yesterday'], '--now'],
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
    if (args[0] === 'site') expect(((await drover(['site', 'list', '--json'])).json() as { sites: { domain: string }[] }).sites.map((s) => s.domain)).not.toContain('ok.example.com');
  });
});

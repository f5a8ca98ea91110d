/**
 * Drover's search attributes, as the Web UI uses them: after a site's backup and restore through the CLI, the
 * visibility query `DroverSite="<domain>"` (what the Web UI's filter box sends) lists the night's backup of the
 * site, the restore, and the safety point the restore took, and nothing of another site; `DroverOperation`
 * tells them apart. A server running without the attributes (an environment started before they existed) gets
 * them from `dev up`.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { WorkflowExecutionInfo } from '@temporalio/client';
import { devUp } from '../../devkit/dev-env';
import { resolveGoTool } from '../../devkit/dev-env/binaries';
import { DROVER_OPERATION, DROVER_SEARCH_ATTRIBUTES, DROVER_SITE } from '../../lib/contract/search-attributes';
import { drover } from '../helpers/cli';
import { TEST_ENV } from '../helpers/paths';
import { createTestSite } from '../helpers/sites';
import { testEnv, useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('search-attrs');

async function list(query: string): Promise<WorkflowExecutionInfo[]> {
  const out: WorkflowExecutionInfo[] = [];
  for await (const w of ctx.tw.client.workflow.list({ query })) out.push(w);
  return out;
}

/** Visibility is updated just after a workflow's events: wait until the query sees `n` workflows. */
async function listAtLeast(query: string, n: number): Promise<WorkflowExecutionInfo[]> {
  for (let i = 0; ; i++) {
    const found = await list(query);
    if (found.length >= n || i >= 30) return found;
    await new Promise((r) => setTimeout(r, 500));
  }
}

describe('search attributes', () => {
  it('DroverSite lists a site\'s backup, its restore and the restore\'s safety point; DroverOperation tells them apart', async () => {
    const tag = ctx.taskQueue.slice(-6);
    // A site backed up in the same night as another: the other's workflows must not match.
    const site = await createTestSite(ctx.deps, `sa-${tag}.example.com`, { posts: 3, uploadBytes: 4096 });
    const other = await createTestSite(ctx.deps, `other-${tag}.example.com`, { posts: 3, uploadBytes: 4096 });
    const date = '2026-11-12';
    const backup = await drover(['backup', 'run', '--site', site.domain, '--site', other.domain, '--date', date, '--worker']);
    expect(backup.code, backup.stdout + backup.stderr).toBe(0);
    const restore = await drover(['restore', 'site', site.domain, '--at', date, '--worker']);
    expect(restore.code, restore.stdout + restore.stderr).toBe(0);

    const found = await listAtLeast(`DroverSite="${site.domain}"`, 3);
    const ids = found.map((w) => w.workflowId).sort();
    expect(ids).toEqual(expect.arrayContaining([`backup/${site.domain}/${date}`, `restore/${site.domain}/${date}`]));
    expect(ids.filter((id) => id.startsWith(`backup/${site.domain}/safety/`))).toHaveLength(1);
    expect(ids.some((id) => id.includes(other.domain))).toBe(false);
    for (const w of found) expect(w.typedSearchAttributes.get(DROVER_SITE)).toBe(site.domain);
    const byOperation = Object.fromEntries(found.map((w) => [w.workflowId, w.typedSearchAttributes.get(DROVER_OPERATION)]));
    expect(byOperation[`restore/${site.domain}/${date}`]).toBe('restore');
    expect(byOperation[`backup/${site.domain}/${date}`]).toBe('backup');

    // The night itself concerns many sites: no DroverSite, but its operation.
    const night = await listAtLeast(`WorkflowId="nightly-backup/${date}" AND DroverOperation="backup"`, 1);
    // (An environment kept from an earlier run holds that night's earlier runs too: same ID, same attributes.)
    expect([...new Set(night.map((w) => w.workflowId))]).toEqual([`nightly-backup/${date}`]);
    for (const w of night) expect(w.typedSearchAttributes.get(DROVER_SITE)).toBeUndefined();
    expect(await list(`DroverSite="${other.domain}" AND DroverOperation="restore"`)).toEqual([]);
    expect((await listAtLeast(`DroverSite="${other.domain}"`, 1)).map((w) => w.workflowId)).toEqual([`backup/${other.domain}/${date}`]);
  }, 300_000);

  it('dev up adds an attribute a running server lacks (an environment started before the attributes existed)', async () => {
    const bin = await resolveGoTool('temporal');
    const address = testEnv().TEMPORAL_ADDRESS;
    const names = () => Object.keys((JSON.parse(execFileSync(bin, ['operator', 'search-attribute', 'list', '--address', address, '-o', 'json'], { encoding: 'utf8' })) as { customAttributes?: Record<string, string> }).customAttributes ?? {});
    // DroverStep: only migrations and waves set it (test files run one at a time), so removing it for a moment disturbs no other test.
    execFileSync(bin, ['operator', 'search-attribute', 'remove', '--address', address, '--name', 'DroverStep', '--yes'], { stdio: 'ignore' });
    expect(names()).not.toContain('DroverStep');
    const logs: string[] = [];
    const r = await devUp({ ...TEST_ENV, log: (m) => logs.push(m) }, ['temporal']);
    expect(r.healthy).toBe(true);
    expect(names()).toEqual(expect.arrayContaining(DROVER_SEARCH_ATTRIBUTES.map((a) => a.name)));
    expect(logs).toContain('temporal: added search attributes DroverStep');
  }, 120_000);
});

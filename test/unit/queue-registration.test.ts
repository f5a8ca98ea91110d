/**
 * Per-queue registration (activities/index.ts, workflows/queues/): each queue's worker registers only its own
 * workflows and activities, and every activity its workflows (and their children) call. The restore activities
 * are on the restore queue alone. The real-worker check is test/integration/queue-registration.test.ts.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createActivities, loadQueueActivities, QUEUE_ACTIVITIES, type ActivityDeps } from '../../activities';
import { createGaleraRestoreActivities } from '../../activities/galera-restore';
import { createStorageRestoreActivities } from '../../activities/storage-restore';
import { createGaleraDumpActivities } from '../../activities/galera-dump';
import { createStorageArchiveActivities } from '../../activities/storage-archive';
import { createDigitalOceanActivities } from '../../activities/digitalocean';
import { createLocalNodeActivities } from '../../activities/local-nodes';
import { createSwarmNodeActivities } from '../../activities/swarm-nodes';
import type { TaskQueueName } from '../../lib/contract/ids';
import * as infra from '../../workflows/queues/infra';
import * as backup from '../../workflows/queues/backup';
import * as restore from '../../workflows/queues/restore';
import * as migrate from '../../workflows/queues/migrate';
import * as all from '../../workflows';

// The factories only close over their dependencies: nothing is connected to build them.
const deps = {} as ActivityDeps;
const names = (o: object) => Object.keys(o).sort();
const registered = Object.fromEntries((Object.keys(QUEUE_ACTIVITIES) as TaskQueueName[]).map((q) => [q, names(QUEUE_ACTIVITIES[q](deps))])) as Record<TaskQueueName, string[]>;
const workflowsOf: Record<TaskQueueName, string[]> = { infra: names(infra), backup: names(backup), restore: names(restore), migrate: names(migrate) };
const restoreOnly = names({ ...createGaleraRestoreActivities(deps), ...createStorageRestoreActivities(deps) });
const backupSteps = names({ ...createGaleraDumpActivities(deps), ...createStorageArchiveActivities(deps) });
// A restore that recreates a created site finds the farm's manager (read-only lookups) and waits for the site's
// service like site creation does; everything else that touches nodes or the cloud is the infra worker's.
const restoreLookups = ['waitForStack', 'describeLocalFarm', 'farmNodes', 'nodeDockerSocket'];
const infraOnly = names({ ...createDigitalOceanActivities(deps), ...createLocalNodeActivities(deps), ...createSwarmNodeActivities(deps) }).filter((n) => !restoreLookups.includes(n));

/** What each workflow file calls: every known activity name written as a call (`.name(`) in it. */
const activityNames = new Set(names(createActivities(deps)));
const dir = path.join(__dirname, '..', '..', 'workflows');
const sources = readdirSync(dir).filter((f) => f.endsWith('.ts') && f !== 'index.ts').map((f) => readFileSync(path.join(dir, f), 'utf8'));
const fileOf = (workflow: string) => {
  const s = sources.find((src) => new RegExp(`export async function ${workflow}\\b`).test(src));
  if (!s) throw new Error(`no source defines ${workflow}`);
  return s;
};
// Helpers a workflow calls (exported functions of workflows/ and workflows/lib/, e.g. findManager) count as its
// own code: their activity calls are the workflow's too.
const libDir = path.join(dir, 'lib');
const helperSources = [...sources, ...readdirSync(libDir).filter((f) => f.endsWith('.ts')).map((f) => readFileSync(path.join(libDir, f), 'utf8'))];
const helpers = new Map<string, string>();
for (const src of helperSources) {
  for (const m of src.matchAll(/export (?:async )?function (\w+)[\s\S]*?\n}\n/g)) if (!m[1].endsWith('Workflow')) helpers.set(m[1], m[0]);
}
const callsIn = (body: string, seen: Set<string>): string[] => {
  const direct = [...body.matchAll(/\.(\w+)\(/g)].map((m) => m[1]).filter((n) => activityNames.has(n));
  const viaHelpers = [...body.matchAll(/\b(\w+)\(/g)]
    .map((m) => m[1])
    .filter((h) => helpers.has(h) && !seen.has(h))
    .flatMap((h) => (seen.add(h), callsIn(helpers.get(h)!, seen)));
  return [...direct, ...viaHelpers];
};
const calls = (workflow: string) => [...new Set(callsIn(fileOf(workflow), new Set()))].sort();
// Children started on their own queue (`executeChild(w, { taskQueue: … })`, e.g. a deleted site's final point on
// the backup queue) are that queue's work, not this one's.
const children = (workflow: string) => [...new Set([...fileOf(workflow).matchAll(/executeChild\((\w+),\s*\{(?!\s*(?:\/\/[^\n]*\n\s*)*taskQueue:)/g)].map((m) => m[1]))];

describe('per-queue registration', () => {
  it('every workflow is registered on exactly one queue, except the site backup (backup queue, and the restore queue for its safety point)', () => {
    const workflows = Object.keys(all).filter((k) => k.endsWith('Workflow')).sort();
    for (const w of workflows) {
      const queues = (Object.keys(workflowsOf) as TaskQueueName[]).filter((q) => workflowsOf[q].includes(w));
      expect([w, queues]).toEqual([w, w === 'siteBackupWorkflow' ? ['backup', 'restore'] : w === 'siteWorkflow' ? ['infra', 'restore'] : [expect.any(String)]]);
    }
    expect(workflowsOf.restore).toEqual(['restoreDrillWorkflow', 'restoreFarmWorkflow', 'restoreSiteWorkflow', 'siteBackupWorkflow', 'siteWorkflow']);
    expect(workflowsOf.backup).toEqual(['nightlyBackupWorkflow', 'pruneRestorePointsWorkflow', 'siteBackupWorkflow']);
  });

  it('a production worker loads the same factory the checks here read (loadQueueActivities against QUEUE_ACTIVITIES)', async () => {
    for (const q of Object.keys(QUEUE_ACTIVITIES) as TaskQueueName[]) expect(await loadQueueActivities(q), q).toBe(QUEUE_ACTIVITIES[q]);
  });

  it('the restore activities are registered on the restore queue alone', () => {
    expect(restoreOnly.length).toBeGreaterThan(5);
    expect(registered.restore).toEqual(expect.arrayContaining(restoreOnly));
    expect(registered.backup.filter((n) => restoreOnly.includes(n))).toEqual([]);
    expect(registered.infra.filter((n) => restoreOnly.includes(n))).toEqual([]);
    // Nor may another queue decrypt or read a manifest, hold retention or take a restore lock.
    for (const n of ['readManifest', 'listRestorePoints', 'acquireRestoreLock', 'placeRetentionHold']) {
      expect(registered.backup).not.toContain(n);
      expect(registered.infra).not.toContain(n);
    }
  });

  it('the infra worker has no backup step, and only it has the cloud and node activities', () => {
    expect(registered.infra.filter((n) => backupSteps.includes(n))).toEqual([]);
    expect(registered.backup.filter((n) => infraOnly.includes(n))).toEqual([]);
    expect(registered.restore.filter((n) => infraOnly.includes(n))).toEqual([]);
    expect(registered.infra).toEqual(expect.arrayContaining(infraOnly));
  });

  it.each(['infra', 'backup', 'restore', 'migrate'] as const)('%s: every activity its workflows call is registered, and every child workflow runs on the same queue', (q) => {
    for (const w of workflowsOf[q]) {
      expect([w, calls(w).filter((a) => !registered[q].includes(a))]).toEqual([w, []]);
      for (const c of children(w)) expect([w, c, workflowsOf[q].includes(c)]).toEqual([w, c, true]);
    }
    // The scan finds calls at all (a regex that matched nothing would pass the loop above).
    expect(workflowsOf[q].flatMap(calls).length).toBeGreaterThan(3);
  });

  it('every registered activity is called by a workflow of its queue (nothing registered without a use)', () => {
    // listFarmDroplets comes with the DigitalOcean factory, registered whole; no workflow calls it yet.
    const unused: Record<TaskQueueName, string[]> = { infra: ['listFarmDroplets'], backup: [], restore: [], migrate: [] };
    for (const q of Object.keys(registered) as TaskQueueName[]) {
      const used = new Set(workflowsOf[q].flatMap(calls));
      expect([q, registered[q].filter((a) => !used.has(a))]).toEqual([q, unused[q]]);
    }
  });
});

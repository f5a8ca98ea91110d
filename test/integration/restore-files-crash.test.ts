/**
 * Crash safety of the files swap and its undo: a restore worker started with DROVER_FAULT_CRASH_AT dies (SIGKILL)
 * between two commands of swapFiles or undoFilesSwap; at that moment nothing of the site is lost, and after a
 * fresh worker takes over the docroot is whole: the restored state when the swap was interrupted, the original
 * when the undo was, never a mix, never missing, no leftovers.
 */
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { WorkflowFailedError, type ApplicationFailure } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { PREVIOUS_SUFFIX, STAGING_SUFFIX, UNDO_SUFFIX } from '../../activities/storage-restore';
import { TASK_QUEUES } from '../../lib/contract/ids';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { spawnDroverWorker } from '../helpers/cli';
import { treeHashes } from '../helpers/restore-point';
import { createTestSite } from '../helpers/sites';
import { useRunningWorker } from '../helpers/temporal';

const ctx = useRunningWorker('files-crash');

/** Every file of the docroot, wherever it is at the moment of the crash (live, previous, staging, undo). */
function copies(livePath: string): Record<string, Record<string, string>> {
  const out: Record<string, Record<string, string>> = {};
  for (const suffix of ['', PREVIOUS_SUFFIX, STAGING_SUFFIX, UNDO_SUFFIX]) if (existsSync(livePath + suffix)) out[suffix || 'live'] = treeHashes(livePath + suffix);
  return out;
}

describe('files swap crash safety', () => {
  it.each([
    ['swapFiles:live-moved-aside', 'restored'],
    ['swapFiles:staging-moved-in', 'restored'],
    ['undoFilesSwap:restored-moved-aside', 'original'],
    ['undoFilesSwap:previous-moved-back', 'original'],
  ] as const)('worker killed at %s: after restart the docroot is the %s, whole', async (crashAt, expected) => {
    const tag = `${ctx.taskQueue.slice(-6)}-${crashAt.split(':')[1]}`;
    const undoing = crashAt.startsWith('undo');
    const site = await createTestSite(ctx.deps, `fcrash-${tag}-${expected}.example.com`, { posts: 5, uploadBytes: 64 * 1024 });
    // For the undo cases the point lacks wp-includes/version.php: the post-swap check fails and the swap is undone.
    if (undoing) rmSync(path.join(site.filesPath, 'wp-includes/version.php'));
    await ctx.tw.client.workflow.execute(siteBackupWorkflow, { workflowId: `backup/${site.domain}/2026-11-10/${tag}`, taskQueue: ctx.taskQueue, args: [{ site: site.domain, point: '2026-11-10' }] });
    const restored = treeHashes(site.filesPath);
    if (undoing) writeFileSync(path.join(site.filesPath, 'wp-includes/version.php'), "<?php\n$wp_version = '6.4.2';\n");
    writeFileSync(path.join(site.filesPath, 'wp-config.php'), '<?php // changed after the backup');
    const original = treeHashes(site.filesPath);

    let w = spawnDroverWorker('restore', { DROVER_FAULT_CRASH_AT: crashAt });
    try {
      const handle = await ctx.tw.client.workflow.start(restoreSiteWorkflow, {
        workflowId: `restore/${site.domain}/crash/${tag}`,
        taskQueue: TASK_QUEUES.restore,
        // The killed worker's step is noticed after its startToClose: shortened from a minute (the default).
        args: [{ site: site.domain, point: '2026-11-10', skipSafetyPoint: true, timeouts: { startToClose: '10 seconds' } }],
      });
      await w.exited;
      expect(w.stderr()).toContain(`crashing at ${crashAt}`);
      // At the crash: both states are still there in full, under the live path or a suffix.
      const atCrash = Object.values(copies(site.filesPath));
      expect(atCrash).toContainEqual(original);
      expect(atCrash).toContainEqual(restored);

      w = spawnDroverWorker('restore');
      const outcome = await handle.result().then(
        () => 'completed',
        (e: unknown) => ((e as WorkflowFailedError).cause as ApplicationFailure).type,
      );
      expect(outcome).toBe(undoing ? 'RestoreVerificationFailed' : 'completed');
    } finally {
      await w.stop();
    }
    expect(copies(site.filesPath)).toEqual({ live: expected === 'restored' ? restored : original });
  });
});

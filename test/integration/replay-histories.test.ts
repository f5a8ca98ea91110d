/**
 * Replays every recorded history in test/histories/ against the current workflow code, so a change that alters
 * a released workflow's command sequence (without `patched()`) fails CI. File names: <workflowType>.<label>.json,
 * recorded with `temporal workflow show --workflow-id <id> --output json` (see docs/testing.md). Workflows that
 * derive child IDs from their own ID replay under the original one, listed in workflow-ids.json.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { TEST_BUNDLE } from '../helpers/paths';

const dir = path.join(__dirname, '..', 'histories');
const ids = JSON.parse(readFileSync(path.join(dir, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json');

describe('recorded workflow histories replay deterministically', () => {
  it('has recorded histories to replay', () => {
    expect(files.length).toBeGreaterThan(0);
  });
  it.each(files)('%s', async (file) => {
    const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    await Worker.runReplayHistory({ workflowBundle: { codePath: TEST_BUNDLE } }, history, ids[file] ?? file);
  });
});

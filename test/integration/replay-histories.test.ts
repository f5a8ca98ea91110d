/**
 * Replays every recorded history in test/histories/ against the current workflow code, so a change that alters
 * a released workflow's command sequence (without `patched()`) fails CI. File names: <workflowType>.<label>.json,
 * recorded with `temporal workflow show --workflow-id <id> --output json` (see docs/testing.md). Workflows that
 * derive child IDs from their own ID replay under the original one, listed in workflow-ids.json. Every workflow
 * type the worker registers has at least one.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import * as workflows from '../../workflows';
import { secretsInHistory, type Secret } from '../helpers/history-secrets';
import { replayOptions } from '../helpers/temporal';

const dir = path.join(__dirname, '..', 'histories');
const ids = JSON.parse(readFileSync(path.join(dir, 'workflow-ids.json'), 'utf8')) as Record<string, string>;
// What a secret looks like in any environment (each recording's own passwords and keys are checked when recorded).
const SECRET_SHAPES: Secret[] = [
  { name: 'a private key', value: /PRIVATE KEY/ },
  { name: 'a swarm join token', value: /SWMTKN-1-/ },
  { name: 'an age identity', value: /AGE-SECRET-KEY-1/ },
];
const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'workflow-ids.json');

describe('recorded workflow histories replay deterministically', () => {
  it('has a recorded history of every workflow type workflows/index.ts exports', () => {
    const types = Object.keys(workflows).filter((name) => name.endsWith('Workflow') && typeof (workflows as Record<string, unknown>)[name] === 'function');
    expect(types.length).toBeGreaterThan(10);
    const recorded = new Set(files.map((f) => f.slice(0, f.indexOf('.'))));
    expect(types.filter((t) => !recorded.has(t))).toEqual([]);
  });
  it('the secret check finds a private key planted in a recorded history (payloads are base64 JSON)', () => {
    const history = JSON.parse(readFileSync(path.join(dir, 'smokeWorkflow.v1.json'), 'utf8'));
    const payload = history.events[0].workflowExecutionStartedEventAttributes.input.payloads[0];
    payload.data = Buffer.from(JSON.stringify({ key: '-----BEGIN OPENSSH PRIVATE KEY-----\nb3Blbn\n' })).toString('base64');
    expect(secretsInHistory(history, SECRET_SHAPES)).toEqual(['a private key in event 1 (WorkflowExecutionStarted)']);
  });
  it.each(files)('%s', async (file) => {
    const history = JSON.parse(readFileSync(path.join(dir, file), 'utf8'));
    expect(secretsInHistory(history, SECRET_SHAPES)).toEqual([]);
    await Worker.runReplayHistory(replayOptions(), history, ids[file] ?? file);
  });
});

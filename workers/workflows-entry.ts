import { existsSync } from 'node:fs';
import path from 'node:path';

/** workflows/index.ts when running from sources (tests), dist/workflows/index.js when built. */
export function workflowsEntry(): string {
  const dir = path.resolve(__dirname, '..', 'workflows');
  const ts = path.join(dir, 'index.ts');
  return existsSync(ts) ? ts : path.join(dir, 'index.js');
}

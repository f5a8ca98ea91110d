/**
 * The layers' lint rule (eslint.config.mjs, `drover/layers`) catches an import that points up, and lets the
 * allowed ones through: run on source text placed, by file name, in each folder.
 */
import path from 'node:path';
import { Linter } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';
import { ROOT as repoRoot } from '../helpers/paths';

async function lint(file: string, code: string): Promise<string[]> {
  // eslint.config.mjs is ESM; vitest loads it as such.
  const { layersRule } = (await import(path.join(repoRoot, 'eslint.config.mjs'))) as { layersRule: unknown };
  const linter = new Linter({ configType: 'flat', cwd: repoRoot });
  const messages = linter.verify(
    code,
    [{ files: ['**/*.ts'], languageOptions: { parser: tseslint.parser as Linter.Parser }, plugins: { drover: { rules: { layers: layersRule } } } as never, rules: { 'drover/layers': 'error' } }],
    path.join(repoRoot, file),
  );
  return messages.map((m) => m.message);
}

describe('the layers lint rule', () => {
  it.each([
    ['lib/clients/x.ts', "import { createActivities } from '../../activities';", 'lib/ may not import activities/'],
    ['lib/x.ts', "import { foo } from '../workflows/lib/proxies';", 'lib/ may not import workflows/'],
    ['lib/x.ts', "import { devUp } from '../devkit/dev-env';", 'lib/ may not import devkit/'],
    ['activities/x.ts', "import { restoreSiteWorkflow } from '../workflows';", 'activities/ may not import workflows/'],
    ['workflows/x.ts', "import { createSpacesActivities } from '../activities/spaces';", 'use `import type`'],
    ['workflows/x.ts', "export { createSpacesActivities } from '../activities/spaces';", 'use `import type`'],
    ['client/x.ts', "import { createActivities } from '../activities';", 'client/ may not import activities/'],
    ['devkit/x.ts', "const c = require('../client/output');", 'devkit/ may not import client/'],
    ['activities/x.ts', "const w = import('../client/cli');", 'activities/ may not import client/'],
  ])('%s: %s is refused', async (file, code, message) => {
    const found = await lint(file, code);
    expect(found).toHaveLength(1);
    expect(found[0]).toContain(message);
  });

  it.each([
    ['workflows/x.ts', "import type { Activities } from '../activities';"],
    ['workflows/x.ts', "import { type Activities } from '../activities';"],
    ['workflows/x.ts', "import { workflowIds } from '../lib/contract/ids';"],
    ['activities/x.ts', "import { failure } from '../lib/clients/errors';"],
    ['client/x.ts', "import { restoreSiteWorkflow } from '../workflows';"],
    ['client/commands/x.ts', "import { devUp } from '../../devkit/dev-env';"],
    ['workers/x.ts', "import { createActivities } from '../activities';"],
    ['test/x.ts', "import { createActivities } from '../activities';"],
    ['lib/x.ts', "import { z } from 'zod';"],
  ])('%s: %s is allowed', async (file, code) => {
    expect(await lint(file, code)).toEqual([]);
  });
});

// Lint rules the style guide asks for: no floating promises anywhere, no Node built-ins in workflow code
// (workflows run in Temporal's deterministic sandbox, where I/O and wall-clock access are not allowed), and the
// layers' direction: every relative import must point to the same floor or below (docs/architecture.md).
import tseslint from 'typescript-eslint';
import { builtinModules } from 'node:module';
import path from 'node:path';

const nodeBuiltins = [...builtinModules, ...builtinModules.map((m) => `node:${m}`)];
const root = import.meta.dirname;

/**
 * What each top-level folder may import (relative imports only; packages are not layers). `type` means
 * type-only imports: workflows see activities' signatures, never their code. test/, bench/ and scripts may use
 * every floor.
 */
export const LAYERS = {
  lib: { lib: 'all' },
  activities: { activities: 'all', lib: 'all' },
  workflows: { workflows: 'all', lib: 'all', activities: 'type' },
  workers: { workers: 'all', workflows: 'all', activities: 'all', lib: 'all' },
  client: { client: 'all', workers: 'all', workflows: 'all', lib: 'all', devkit: 'all' },
  devkit: { devkit: 'all', lib: 'all' },
};

const topFolder = (file) => path.relative(root, file).split(path.sep)[0];

export const layersRule = {
  meta: { type: 'problem', schema: [], messages: { up: "{{from}}/ may not import {{to}}/ ({{why}}): the layers' arrows point down only (docs/architecture.md)" } },
  create(context) {
    const from = topFolder(context.filename);
    const allowed = LAYERS[from];
    if (!allowed) return {};
    const check = (node, source, typeOnly) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = topFolder(path.resolve(path.dirname(context.filename), source));
      const may = allowed[to];
      if (may === 'all' || (may === 'type' && typeOnly)) return;
      const why = may === 'type' ? 'type-only imports are allowed: use `import type`' : `${from}/ may import ${Object.keys(allowed).join(', ')}`;
      context.report({ node, messageId: 'up', data: { from, to, why } });
    };
    const typeOnlyDecl = (n) => n.importKind === 'type' || (n.specifiers?.length > 0 && n.specifiers.every((s) => s.importKind === 'type'));
    return {
      ImportDeclaration: (n) => check(n, n.source.value, typeOnlyDecl(n)),
      ExportNamedDeclaration: (n) => n.source && check(n, n.source.value, n.exportKind === 'type'),
      ExportAllDeclaration: (n) => check(n, n.source.value, n.exportKind === 'type'),
      ImportExpression: (n) => check(n, n.source.value, false),
      TSImportType: (n) => check(n, n.argument?.literal?.value ?? n.argument?.value, true),
      CallExpression: (n) => n.callee.type === 'Identifier' && n.callee.name === 'require' && check(n, n.arguments[0]?.value, false),
    };
  },
};

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.drover*/**', 'coverage/**', '**/*.mjs', '**/*.js'] },
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: { parserOptions: { project: './tsconfig.json', tsconfigRootDir: import.meta.dirname } },
    plugins: { drover: { rules: { layers: layersRule } } },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      'drover/layers': 'error',
    },
  },
  {
    files: ['workflows/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: nodeBuiltins.map((name) => ({ name, message: 'Workflows are deterministic: no Node built-ins; do I/O in an activity.' })) }],
    },
  },
);

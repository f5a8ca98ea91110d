import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadStackBundle, StackBundleError, stackVariables } from '../../lib/stack-bundle';
import { stackDeployScript } from '../../activities/swarm-nodes';

function repo(stack: string, files: Record<string, string> = {}): string {
  const root = mkdtempSync(path.join(tmpdir(), 'bundle-'));
  mkdirSync(path.join(root, 'stacks'));
  writeFileSync(path.join(root, 'stacks/s.yml'), stack);
  for (const [rel, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(root, rel)), { recursive: true });
    writeFileSync(path.join(root, rel), content);
  }
  return path.join(root, 'stacks/s.yml');
}

describe('stack bundles', () => {
  it('finds the variables a stack interpolates and which are required', () => {
    expect(stackVariables('a: ${A}\nb: ${B:-x}\nc: ${C:?set C}\nd: ${D?set D}\ne: $$notavar\nf: ${A}')).toEqual({ all: ['A', 'B', 'C', 'D'], required: ['C', 'D'] });
  });

  it('carries the config files by their path relative to the stack, and only the variables that are set', () => {
    const file = repo('services: {}\nconfigs:\n  vcl:\n    file: ../configs/v/default.vcl\n  x:\n    external: true\nx: ${FARM_DOMAIN:?}/${UNSET:-d}\n', { 'configs/v/default.vcl': 'vcl 4.1;' });
    const b = loadStackBundle(file, 'cache', ['db'], { FARM_DOMAIN: 'farm.example', OTHER: 'no' }, 'stacks[1].file');
    expect(b).toMatchObject({ name: 'cache', dependsOn: ['db'], files: { '../configs/v/default.vcl': 'vcl 4.1;' }, env: { FARM_DOMAIN: 'farm.example' } });
    expect(b.env).not.toHaveProperty('OTHER');
    expect(b.env).not.toHaveProperty('UNSET');
  });

  it('refuses, naming the field: a missing required variable, a missing config file, a file outside the repository, a secret as a variable', () => {
    const cases: [string, Record<string, string>, Record<string, string>, RegExp][] = [
      ['x: ${FARM_DOMAIN:?}\n', {}, {}, /needs FARM_DOMAIN/],
      ['configs:\n  c:\n    file: ../configs/missing.conf\n', {}, {}, /configs\.c\.file .*ENOENT/],
      ['configs:\n  c:\n    file: ../../etc/passwd\n', {}, {}, /must be inside the repository/],
      ['x: ${DB_PASSWORD}\n', {}, { DB_PASSWORD: 'p' }, /DB_PASSWORD: pass secrets as Docker secrets/],
    ];
    for (const [stack, files, env, message] of cases) {
      const file = repo(stack, files);
      let err: unknown;
      try {
        loadStackBundle(file, 's', [], env, 'stacks[3].file');
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(StackBundleError);
      expect((err as StackBundleError).field).toBe('stacks[3].file');
      expect((err as Error).message).toMatch(message);
    }
  });

  it('the deploy script lays the files out beside stacks/ and quotes every value', () => {
    const script = stackDeployScript({ name: 'cache', compose: 'services: {}\n', files: { '../configs/v/default.vcl': 'vcl' }, env: { FARM_DOMAIN: "it's; rm -rf /" } });
    expect(script).toContain(`"$d"/'configs/v/default.vcl'`);
    expect(script).toContain(`FARM_DOMAIN='it'\\''s; rm -rf /'`);
    expect(script).toContain(`docker stack deploy --prune --resolve-image always -c 'cache.yml' 'cache'`);
    expect(stackDeployScript({ name: 'x', compose: '', resolveImage: 'never' })).toContain('--resolve-image never');
    expect(() => stackDeployScript({ name: 'x', compose: '', files: { '../../etc/x': '' } })).toThrow(/outside/);
    expect(() => stackDeployScript({ name: 'x', compose: '', env: { 'A;B': '1' } })).toThrow(/variable name/);
  });
});

import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { loadStackBundle, StackBundleError, stackVariables } from '../../lib/stack-bundle';
import { stackDeployScript } from '../../activities/swarm-nodes';
import { siteStackOverrides } from '../../activities/site-service';
import { LOCAL_SITE_SERVICE } from '../../lib/local-services';
import { scratchDir } from '../helpers/scratch';

function repo(stack: string, files: Record<string, string> = {}): string {
  const root = scratchDir('bundle-');
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
    // The deploy runs under `timeout`: 10 minutes unless given; a bound `timeout` would not take as one is refused.
    expect(script).toContain(`timeout -k 10 600 docker stack deploy`);
    expect(stackDeployScript({ name: 'x', compose: '', boundSeconds: 3 })).toContain('timeout -k 10 3 docker stack deploy');
    for (const bad of [0, 0.5, -1, Number.NaN, 86_401]) expect(() => stackDeployScript({ name: 'x', compose: '', boundSeconds: bad }), String(bad)).toThrow(/boundSeconds: a whole number of seconds from 1 to 86400/);
  });

  it("a site's deploy on a local cluster merges a second compose file that maps its domain to its container; on a farm none", () => {
    // The script run for real, with a `docker` that prints its arguments and the compose files it is given.
    const dir = scratchDir('stack-override-');
    mkdirSync(path.join(dir, 'bin'));
    writeFileSync(path.join(dir, 'bin', 'docker'), '#!/bin/sh\necho "$*"\nfor f in "$@"; do case $f in *.yml) echo "== $f"; cat "$f";; esac; done\n', { mode: 0o755 });
    const overrides = siteStackOverrides({ domain: 'xn--bcher-kva.example', ...LOCAL_SITE_SERVICE });
    const out = execFileSync('bash', ['-c', stackDeployScript({ name: 'site-x', compose: 'version: "3.8"\n', overrides })], { env: { ...process.env, PATH: `${path.join(dir, 'bin')}:${process.env.PATH}` } }).toString();
    expect(out).toContain('stack deploy --prune --resolve-image always -c site-x.yml -c site-x.override-1.yml site-x');
    expect(parse(out.split('== site-x.override-1.yml\n')[1])).toEqual({ version: '3.8', services: { wordpress: { extra_hosts: ['xn--bcher-kva.example:127.0.0.1'] } } });
    expect(siteStackOverrides({ domain: 'example.com' })).toEqual([]);
    expect(stackDeployScript({ name: 'site-y', compose: '' })).toContain("-c 'site-y.yml' 'site-y'");
  });
});

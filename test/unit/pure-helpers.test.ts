/**
 * The small pure helpers that workflows, activities and the CLI share from lib/ (issue 13, item 3): one each
 * for shell quoting, FNV-1a tags, root causes, stack waves, local node names and side-by-side restore names.
 */
import { execFileSync } from 'node:child_process';
import fc from 'fast-check';
import { storedHolder } from '../../lib/restore-locks';
import { describe, expect, it } from 'vitest';
import { rootCause, rootMessage } from '../../lib/contract/failures';
import { fnv1a32, fnv1a64 } from '../../lib/hash';
import { localNodeNames } from '../../lib/local-node-names';
import { stackOrder, stackWaves } from '../../lib/plan/stack-order';
import { restoreTargetNames } from '../../lib/restore-targets';
import { shellQuote } from '../../lib/shell-quote';
import { runWindow } from '../../workflows/lib/child-window';

describe('shellQuote', () => {
  it('gives a real sh back exactly the argument, whatever it holds', () => {
    const cases = ["it's", "'", "''", '$(touch /tmp/x) `id` $HOME', 'a\nb', 'café ☕ 日本', ' -n ', '', '\\\'"'];
    for (const s of cases) expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' })).toBe(s);
  });
  it('round-trips any string without NUL (property, through sh)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 40 }).filter((s) => !s.includes('\0')), (s) => {
        expect(execFileSync('sh', ['-c', `printf %s ${shellQuote(s)}`], { encoding: 'utf8' })).toBe(s);
      }),
      { numRuns: 40 },
    );
  });
});

describe('FNV-1a', () => {
  it.each([
    ['', '811c9dc5', 'cbf29ce484222325'],
    ['a', 'e40c292c', 'af63dc4c8601ec8c'],
    ['foobar', 'bf9cf968', '85944171f73967e8'],
  ])('%j → %s / %s (reference vectors)', (text, h32, h64) => {
    expect(fnv1a32(text)).toBe(h32);
    expect(fnv1a64(text)).toBe(h64);
  });
});

describe('root cause', () => {
  const app = Object.assign(new Error('no space left'), { type: 'RemoteCommandFailed' });
  const chain = new Error('child failed', { cause: new Error('activity failed', { cause: app }) });
  it('walks the causes down to the innermost failure', () => {
    expect(rootCause(chain)).toBe(app);
    expect(rootMessage(chain)).toBe('RemoteCommandFailed: no space left');
  });
  it('is the error itself when it has no cause, and leaves out a missing type', () => {
    const plain = new Error('boom');
    expect(rootCause(plain)).toBe(plain);
    expect(rootMessage(plain)).toBe('boom');
  });
});

describe('stack waves', () => {
  const s = (name: string, ...dependsOn: string[]) => ({ name, dependsOn });
  it('orders each stack after its dependencies, otherwise in the given order', () => {
    const waves = stackOrder([s('wp', 'db', 'cache'), s('db'), s('cache'), s('mon')]).map((w) => w.map((x) => x.name));
    expect(waves).toEqual([['db', 'cache', 'mon'], ['wp']]);
  });
  it('leaves a cycle (and what hangs on it) stuck, after the waves it can deploy', () => {
    const { waves, stuck } = stackWaves([s('a'), s('b', 'c'), s('c', 'b'), s('d', 'b')]);
    expect(waves.map((w) => w.map((x) => x.name))).toEqual([['a']]);
    expect(stuck.map((x) => x.name)).toEqual(['b', 'c', 'd']);
    expect(() => stackOrder([s('b', 'c'), s('c', 'b')])).toThrow('stack dependency cycle');
  });
});

describe('local node names', () => {
  it('names the manager first, then workers numbered from 01', () => {
    expect(localNodeNames('f', 3)).toEqual([
      { name: 'f-manager-01', role: 'manager' },
      { name: 'f-worker-01', role: 'worker' },
      { name: 'f-worker-02', role: 'worker' },
    ]);
    expect(localNodeNames('f', 0)).toEqual([]);
  });
});

describe('restore target names', () => {
  it('a side-by-side copy never shares a database with another, up to 253-character domains', () => {
    const live = { domain: 'shop.example.com', database: 'wp_shop', filesPath: '/srv/sites/shop.example.com' };
    fc.assert(
      fc.property(fc.domain(), fc.domain(), (a, b) => {
        fc.pre(a !== b && a !== live.domain && b !== live.domain);
        const [x, y] = [restoreTargetNames(live, a), restoreTargetNames(live, b)];
        expect(x.database.length).toBeLessThanOrEqual(48);
        expect(x.filesPath).toBe(`/srv/sites/${a}`);
        if (x.database === y.database) expect(a.replace(/[^a-z0-9]/g, '_')).toBe(b.replace(/[^a-z0-9]/g, '_'));
      }),
    );
  });
});

describe('runWindow', () => {
  it('passes rest() how many items have settled, so a budget stops new starts', async () => {
    const started: number[] = [];
    const left = await runWindow([1, 2, 3, 4, 5, 6], 2, async (i) => void started.push(i), (settled) => settled >= 3);
    // Two start, then one more per settled item until three have settled; the window drains what runs.
    expect(started).toEqual([1, 2, 3, 4]);
    expect(left).toEqual([5, 6]);
  });
});

describe('storedHolder (restore locks and retention holds keep 255 characters)', () => {
  it('keeps a holder that fits, and gives a longer one a stable, distinct 255-character form', () => {
    expect(storedHolder('restore/example.com/2026-11-10')).toBe('restore/example.com/2026-11-10');
    const site = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(56)}.test`;
    expect(site.length).toBe(253);
    const a = `restore/${site}/2026-11-10`;
    const b = `restore/${site}/2026-11-11`;
    expect(storedHolder(a)).toHaveLength(255);
    expect(storedHolder(a)).toBe(storedHolder(a));
    expect(storedHolder(a)).not.toBe(storedHolder(b));
    expect(storedHolder(a).startsWith(a.slice(0, 238))).toBe(true);
  });
});

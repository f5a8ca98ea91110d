/** Workflow IDs from the one helper: the same request maps to the same workflow, different requests never share one. */
import { describe, expect, it } from 'vitest';
import { workflowIds } from '../../lib/contract/ids';

describe('workflowIds', () => {
  it('a drill of named sites is one per date and set of sites, in any order', () => {
    expect(workflowIds.restoreDrill('2026-12-06')).toBe('restore-drill/2026-12-06');
    expect(workflowIds.restoreDrill('2026-12-06', [])).toBe('restore-drill/2026-12-06');
    expect(workflowIds.restoreDrill('2026-12-06', ['b.example.com', 'a.example.com'])).toBe('restore-drill/2026-12-06/a.example.com,b.example.com');
    expect(workflowIds.restoreDrill('2026-12-06', ['a.example.com', 'b.example.com', 'a.example.com'])).toBe(workflowIds.restoreDrill('2026-12-06', ['b.example.com', 'a.example.com']));
  });

  it('two long site lists that share their first 200 characters get different drill IDs, each readable and bounded', () => {
    const common = Array.from({ length: 12 }, (_, i) => `site-${String(i).padStart(2, '0')}-${'x'.repeat(20)}.example.com`);
    const a = workflowIds.restoreDrill('2026-12-06', [...common, 'zz-one.example.com']);
    const b = workflowIds.restoreDrill('2026-12-06', [...common, 'zz-two.example.com']);
    expect(a).not.toBe(b);
    expect(a.startsWith(`restore-drill/2026-12-06/${common[0]},${common[1]}`)).toBe(true);
    expect(a).toMatch(/~13-sites-[0-9a-f]{16}$/);
    expect(a.length).toBeLessThanOrEqual('restore-drill/2026-12-06/'.length + 200);
    expect(workflowIds.restoreDrill('2026-12-06', [...common, 'zz-one.example.com'].reverse())).toBe(a);
  });

  it('teardown is one per provider and farm, scaling one per farm and change; a health check one per request time', () => {
    expect([workflowIds.teardown('digitalocean', 'fra1'), workflowIds.teardown('local', 'fra1')]).toEqual(['teardown/digitalocean/fra1', 'teardown/local/fra1']);
    expect([workflowIds.scale('fra1', 2), workflowIds.scale('fra1', -1)]).toEqual(['scale/fra1/+2', 'scale/fra1/-1']);
    expect(workflowIds.health('fra1', new Date(Date.UTC(2026, 11, 6, 12, 30, 1, 23)))).toBe('health/fra1/2026-12-06T12:30:01.023Z');
  });

  it('a child is its parent\'s ID and what it does for it, as the recorded histories name it', () => {
    expect(workflowIds.child(workflowIds.bringUp('fra1'), 'provision')).toBe('bringup/fra1/provision');
    expect(workflowIds.child(workflowIds.scale('fra1', 1), 'bring-up')).toBe('scale/fra1/+1/bring-up');
    expect(workflowIds.child(workflowIds.restoreDrill('2026-12-06'), 'bücher.example.com')).toBe('restore-drill/2026-12-06/bücher.example.com');
    expect(workflowIds.child(workflowIds.restoreFarm('fra1-outage'), 'a.example.com')).toBe('restore-farm/fra1-outage/a.example.com');
  });
});

import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { accessLogin } from '../../lib/access-grants';
import { normalizeDomain } from '../../lib/domain-input';
import { contractorPortalFiles, siteGroup, type PortalGrant } from '../../lib/contractor-portal';
import { parseAuthentikBlueprint } from '../helpers/authentik-blueprint';

// The longest domain (253 characters) and the longest contractor name (16).
const longest = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`;
const unicode = normalizeDomain('bücher.example.com');
if (!unicode.ok) throw new Error('test domain');

const grant = (site: string, user: string, database: string | null): PortalGrant => ({ site, user, login: accessLogin(site, user), database });

describe('contractor portal files (drover access grant --files)', () => {
  it.each([
    [longest, 'abcdefghijklmnop'],
    [unicode.domain, 'bob'],
  ])('grants %s to %s: the site group and the user a member, a FileBrowser user scoped to the site, Adminer on its database', (site, user) => {
    expect(site.length).toBeLessThanOrEqual(253);
    const g = grant(site, user, 'wp_abc');
    const files = contractorPortalFiles(g, 'present');
    const bp = parseAuthentikBlueprint(files.blueprint.content);
    expect(bp.version).toBe(1);
    expect(bp.entries).toEqual([
      { model: 'authentik_core.group', state: 'present', identifiers: { name: `site:${site}` }, attrs: { is_superuser: false, attributes: { drover_site: site } } },
      {
        model: 'authentik_core.user',
        state: 'present',
        identifiers: { username: g.login },
        attrs: expect.objectContaining({ is_active: true, groups: [{ find: ['authentik_core.group', ['name', siteGroup(site)]] }], attributes: { drover_grant: `access/${site}/${user}` } }),
      },
    ]);
    expect(files.blueprint.path).toBe(`authentik-blueprints/drover-grant-${g.login}.yaml`);
    const users = JSON.parse(files.filebrowser.content!) as Record<string, unknown>[];
    expect(users).toEqual([expect.objectContaining({ id: 0, username: g.login, scope: `/${site}/htdocs`, perm: expect.objectContaining({ admin: false, execute: false, share: false }) })]);
    expect(files.adminer.content).toContain(`return ['site' => '${site}', 'login' => '${g.login}', 'database' => 'wp_abc'];`);
  });

  it('revoked: the user absent (Authentik deletes it), the group kept, no FileBrowser or Adminer file', () => {
    const g = grant(unicode.domain, 'bob', 'wp_abc');
    const files = contractorPortalFiles(g, 'absent');
    const bp = parseAuthentikBlueprint(files.blueprint.content);
    expect(bp.entries.map((e) => [e.model, e.state])).toEqual([['authentik_core.group', 'present'], ['authentik_core.user', 'absent']]);
    expect(bp.entries[1]).toEqual({ model: 'authentik_core.user', state: 'absent', identifiers: { username: g.login } });
    expect(files.filebrowser.content).toBeNull();
    expect(files.adminer.content).toBeNull();
  });

  it('without the database in the grant: no Adminer entry', () => {
    expect(contractorPortalFiles(grant('a.example.com', 'bob', null), 'present').adminer.content).toBeNull();
  });

  it('is the same for the same grant (a retried step writes the same bytes)', () => {
    expect(contractorPortalFiles(grant('a.example.com', 'bob', 'wp_x'), 'present')).toEqual(contractorPortalFiles(grant('a.example.com', 'bob', 'wp_x'), 'present'));
  });

  it.each([
    [{ site: "a'.example.com", user: 'bob', login: 'c_bob_00000000', database: null }, /site/],
    [{ site: 'a.example.com', user: 'bob;id', login: 'c_bob_00000000', database: null }, /user/],
    [{ site: 'a.example.com', user: 'bob', login: "c_bob_0000000'", database: null }, /login/],
    [{ site: 'a.example.com', user: 'bob', login: 'c_bob_00000000', database: "wp'; DROP" }, /database/],
  ])('refuses %j (nothing unchecked reaches YAML, JSON or PHP)', (g, field) => {
    expect(() => contractorPortalFiles(g, 'present')).toThrow(field);
  });

  it('the YAML is YAML without the blueprint tags too (a quoted scalar per value)', () => {
    const doc = parse(contractorPortalFiles(grant(longest, 'bob', null), 'absent').blueprint.content) as { version: number };
    expect(doc.version).toBe(1);
  });
});

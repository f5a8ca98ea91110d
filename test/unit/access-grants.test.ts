/** Contractor grants' pure parts (lib/access-grants.ts, the CLI's password hash): names, durations, grant IDs. */
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ACCESS_USER, accessLogin, MAX_GRANT_MS, parseAccessGrantId, parseGrantDuration, SFTP_SSHD_MATCH_BLOCK } from '../../lib/access-grants';
import { workflowIds } from '../../lib/contract/ids';
import { nativePasswordHash } from '../../client/commands/access';

describe('grant durations', () => {
  it.each([
    ['7d', 7 * 86_400_000],
    ['12h', 12 * 3600_000],
    ['30m', 30 * 60_000],
    ['10s', 10_000],
    ['2w', 14 * 86_400_000],
    ['90d', MAX_GRANT_MS],
  ])('%s is %i ms', (text, ms) => expect(parseGrantDuration(text)).toEqual({ ok: true, ms }));

  it.each([
    ['0d', /zero/],
    ['0s', /zero/],
    ['-1d', /not a duration/],
    ['9s', /shorter than 10 s/],
    ['91d', /longer than 90 days/],
    ['9999999w', /longer than 90 days/],
    ['1.5d', /not a duration/],
    ['7', /not a duration/],
    ['7 days', /not a duration/],
    ['', /not a duration/],
    ['1d; rm -rf /', /not a duration/],
  ])('%j is refused', (text, why) => {
    const r = parseGrantDuration(text);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.problem).toMatch(why);
  });
});

describe('contractor names and grant IDs', () => {
  it.each(['bob', 'a', 'alice2026', 'abcdefghijklmnop'])('%s is a contractor name', (u) => expect(ACCESS_USER.test(u)).toBe(true));
  it.each(['', 'Bob', '1bob', 'bob-smith', 'bob_smith', "bob'", 'bob;drop', 'bob`id`', '$(id)', 'abcdefghijklmnopq', 'bøb', 'bob\n'])('%j is refused', (u) =>
    expect(ACCESS_USER.test(u)).toBe(false),
  );

  it('a login fits MariaDB and Linux user names (32) for every site and user, and differs per site', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[a-z][a-z0-9]{0,15}$/), fc.stringMatching(/^[a-z0-9.-]{1,253}$/), fc.stringMatching(/^[a-z0-9.-]{1,253}$/), (user, a, b) => {
        const la = accessLogin(a, user);
        expect(la).toMatch(/^c_[a-z][a-z0-9]{0,15}_[0-9a-f]{8}$/);
        expect(la.length).toBeLessThanOrEqual(27);
        if (a !== b && la === accessLogin(b, user)) return; // a 32-bit collision: tolerated, the grant ID differs
      }),
    );
    expect(accessLogin('shop.example.com', 'bob')).not.toBe(accessLogin('blog.example.com', 'bob'));
    expect(() => accessLogin('shop.example.com', "bob'")).toThrow(/not a contractor name/);
  });

  it('grant IDs round-trip and anything else is refused', () => {
    const id = workflowIds.accessGrant('shop.example.com', 'bob');
    expect(id).toBe('access/shop.example.com/bob');
    expect(parseAccessGrantId(id)).toEqual({ site: 'shop.example.com', user: 'bob' });
    for (const bad of ['access/shop.example.com', 'access/shop.example.com/Bob', 'restore/shop.example.com/bob', 'access/../bob', 'access/a b/bob', 'access/shop.example.com/bob/x']) {
      expect(parseAccessGrantId(bad)).toBeNull();
    }
  });
});

describe('what the grant hands the workflow', () => {
  it('the password hash is mysql_native_password: * and SHA1(SHA1(password)), upper-case hex', () => {
    // MariaDB: SELECT PASSWORD('secret') = '*14E65567ABDB5135D0CFD9A70B3032C179A49EE7'
    expect(nativePasswordHash('secret')).toBe('*14E65567ABDB5135D0CFD9A70B3032C179A49EE7');
    const pw = 'x'.repeat(32);
    expect(nativePasswordHash(pw)).not.toContain(pw);
    expect(nativePasswordHash(pw).slice(1)).toBe(createHash('sha1').update(createHash('sha1').update(pw).digest()).digest('hex').toUpperCase());
  });

  it('the sshd block chroots the grant group to its home and allows nothing but internal-sftp', () => {
    expect(SFTP_SSHD_MATCH_BLOCK).toMatch(/^Match Group drover-sftp\n/);
    for (const line of ['ChrootDirectory %h', 'ForceCommand internal-sftp', 'AllowTcpForwarding no', 'PermitTTY no', 'PasswordAuthentication no']) expect(SFTP_SSHD_MATCH_BLOCK).toContain(line);
  });
});

import { describe, expect, it } from 'vitest';
import { DEFAULT_WAVE, parseCsv, parseMigrationInput, type InputProblem } from '../../lib/migration-input';

const HEADER = 'domain,source_ssh,source_path,source_db,source_db_host,source_db_user,source_db_password_file,from_url,to_url';
const row = (over: Partial<Record<string, string>> = {}) => {
  const base: Record<string, string> = {
    domain: 'shop.example.com', source_ssh: 'deploy@old1.example.net:2222', source_path: '/var/www/shop/public_html', source_db: 'shop_wp',
    source_db_host: '', source_db_user: 'shop', source_db_password_file: '/etc/drover/migrate/shop.pw', from_url: 'https://shop.example.com', to_url: '',
    ...over,
  };
  return HEADER.split(',').map((c) => base[c]).join(',');
};
const problems = (text: string, file = 'sites.csv'): InputProblem[] => {
  const r = parseMigrationInput(text, file);
  return r.ok ? [] : r.problems;
};

describe('migration input (CSV)', () => {
  it('parses a valid file: defaults for wave, db host, to_url left empty', () => {
    const r = parseMigrationInput([HEADER, row(), row({ domain: 'Café.Example.com', source_db_host: 'db.internal:3307', source_ssh: 'root@[2001:db8::1]' })].join('\n') + '\n', 'x.csv');
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.rows[0]).toMatchObject({ line: 2, domain: 'shop.example.com', wave: DEFAULT_WAVE, ssh: { user: 'deploy', host: 'old1.example.net', port: 2222 }, sourceDbHost: { host: 'localhost', port: null } });
    expect(r.rows[1]).toMatchObject({ line: 3, domain: 'xn--caf-dma.example.com', ssh: { host: '2001:db8::1', port: 22 }, sourceDbHost: { host: 'db.internal', port: 3307 } });
  });

  it('takes an optional wave column in any position', () => {
    const r = parseMigrationInput(`wave,${HEADER}\nwave-1,${row()}\n`, 'x.csv');
    expect(r.ok && r.rows[0].wave).toBe('wave-1');
  });

  it.each([
    ['a missing column', [HEADER.replace(',source_db_user', ''), 'shop.example.com,deploy@h,/p,db,,/pw,,'].join('\n'), { line: 1, field: 'source_db_user' }],
    ['an invalid domain', [HEADER, row({ domain: 'shop_example;rm -rf' })].join('\n'), { line: 2, field: 'domain' }],
    ['a duplicate domain (after normalisation)', [HEADER, row(), row({ domain: 'SHOP.example.com.' })].join('\n'), { line: 3, field: 'domain', message: 'shop.example.com is already on line 2' }],
    ['a relative password file', [HEADER, row({ source_db_password_file: 'shop.pw' })].join('\n'), { line: 2, field: 'source_db_password_file' }],
    ['an empty required field', [HEADER, row({ source_db: '' })].join('\n'), { line: 2, field: 'source_db', message: 'required' }],
    ['an SSH target with a shell metacharacter', [HEADER, row({ source_ssh: 'root@host;reboot' })].join('\n'), { line: 2, field: 'source_ssh' }],
    ['a bad port', [HEADER, row({ source_db_host: 'db:99999' })].join('\n'), { line: 2, field: 'source_db_host' }],
    ['a row with too few fields', [HEADER, 'shop.example.com,root@h'].join('\n'), { line: 2 }],
    ['trailing-slash mismatch', [HEADER, row({ from_url: 'https://a.example/', to_url: 'https://b.example' })].join('\n'), { line: 2, field: 'to_url' }],
    ['a URL with a query', [HEADER, row({ from_url: 'https://a.example/?p=1' })].join('\n'), { line: 2, field: 'from_url' }],
    ['an unknown column', [`${HEADER},colour`, `${row()},red`].join('\n'), { line: 2, field: 'colour' }],
    ['no rows', HEADER + '\n', { line: 1 }],
  ])('refuses %s, naming the line and field', (_what, text, expected) => {
    expect(problems(text)).toContainEqual(expect.objectContaining(expected));
  });

  it('counts lines across quoted fields that hold newlines', () => {
    const text = [HEADER, row({ source_path: '"/var/www/a,b"' }), `"multi\nline.example.com",root@h,/p,db,,u,/pw,,`, row({ domain: 'bad domain' })].join('\n');
    expect(parseCsv(text).map((r) => r.line)).toEqual([1, 2, 3, 5]);
    expect(problems(text).map((p) => [p.line, p.field])).toEqual([[3, 'domain'], [5, 'domain']]);
  });
});

describe('migration input (YAML)', () => {
  it('parses the same fields, numbers coerced, and names a field\'s own line', () => {
    const ok = parseMigrationInput(`sites:\n  - domain: shop.example.com\n    source_ssh: root@old:22\n    source_path: /srv/shop\n    source_db: shop\n    source_db_host: 127.0.0.1:3306\n    source_db_user: shop\n    source_db_password_file: /pw\n    wave: w2\n`, 'f.yaml');
    expect(ok.ok && ok.rows[0]).toMatchObject({ line: 2, wave: 'w2', sourceDbHost: { host: '127.0.0.1', port: 3306 }, fromUrl: '', toUrl: '' });
    const bad = problems(`- domain: a.example.com\n  source_ssh: root@old\n  source_path: /srv\n  source_db: a\n  source_db_user: a\n  source_db_password_file: relative\n- domain: a.example.com\n  source_ssh: root@old\n  source_path: /srv\n  source_db: a\n  source_db_user: a\n  source_db_password_file: /pw\n`, 'f.yml');
    expect(bad).toEqual([expect.objectContaining({ line: 6, field: 'source_db_password_file' })]);
    expect(problems(`- domain: b.example.com\n  source_ssh: root@old\n`, 'f.yml')).toContainEqual(expect.objectContaining({ line: 1, field: 'source_path', message: 'required' }));
    expect(problems('sites: [', 'f.yaml')[0]).toMatchObject({ field: 'yaml' });
  });
});

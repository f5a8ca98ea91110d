/**
 * The local front's VCL (lib/front-vcl.ts): the farm's rules kept, its one backend replaced by one per site chosen
 * by Host, and nothing that is not a plain domain, IPv4 address or port ever written into VCL source. varnishd -C
 * compiles what it renders (the same check configs.test.ts runs on the farm's VCL).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { backendName, renderFrontVcl, siteBackendProblem } from '../../lib/front-vcl';
import { scratchDir } from '../helpers/scratch';

const farm = readFileSync(path.join(__dirname, '../../configs/varnish/default.vcl'), 'utf8');
const max = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(57)}.com`;

describe('renderFrontVcl', () => {
  it('keeps the farm\'s rules and routes each Host (www. too, any case, port stripped) to its own backend', () => {
    const vcl = renderFrontVcl(farm, [
      { domain: 'b.example.com', address: '10.230.0.12', port: 20001 },
      { domain: 'a.example.com', address: '10.230.0.11', port: 20000 },
    ]);
    expect(vcl).not.toContain('.host = "traefik"');
    expect(vcl).toContain('backend default none;');
    expect(vcl).toContain(`backend ${backendName('a.example.com')} {\n    .host = "10.230.0.11";\n    .port = "20000";`);
    expect(vcl.indexOf('a.example.com')).toBeLessThan(vcl.indexOf('b.example.com'));
    // The farm's cache rules, purge ACL and BAN follow the routing.
    for (const rule of ['acl purge', 'ban("obj.http.x-host == " + req.http.host)', 'set beresp.grace = 6h;', 'wordpress_logged_in_']) expect(vcl).toContain(rule);
    expect(vcl.indexOf('X-Drover-Site')).toBeLessThan(vcl.indexOf('/varnish-ping'));
    expect(renderFrontVcl(farm, [{ domain: 'a.example.com', address: '10.230.0.11', port: 20000 }, { domain: 'b.example.com', address: '10.230.0.12', port: 20001 }])).toBe(vcl);
  });

  it.each([
    ['no sites', []],
    ['one site with a 253-character name', [{ domain: max, address: '10.230.0.11', port: 65535 }]],
    ['three sites', ['x.test', 'shop.example.co.uk', 'xn--bcher-kva.example'].map((domain, i) => ({ domain, address: `10.230.0.${11 + i}`, port: 20000 + i }))],
  ])('varnishd -C compiles it: %s', (_name, sites) => {
    const dir = scratchDir('front-vcl-');
    // varnishd reads the file after dropping to its own user: the folder must be readable by it.
    chmodSync(dir, 0o755);
    const f = path.join(dir, 'front.vcl');
    writeFileSync(f, renderFrontVcl(farm, sites), { mode: 0o644 });
    // The generated C goes to stderr (megabytes): only the exit status matters.
    const r = spawnSync('varnishd', ['-C', '-f', f, '-n', path.join(dir, 'n')], { stdio: 'ignore' });
    expect(r.status).toBe(0);
  });

  it.each([
    [{ domain: 'a.example.com"; }', address: '10.0.0.1', port: 80 }, 'domain'],
    [{ domain: 'A.example.com', address: '10.0.0.1', port: 80 }, 'domain'],
    [{ domain: 'bücher.example', address: '10.0.0.1', port: 80 }, 'domain'],
    [{ domain: `${'a'.repeat(64)}.com`, address: '10.0.0.1', port: 80 }, 'domain'],
    [{ domain: `x${max}`, address: '10.0.0.1', port: 80 }, 'domain'],
    [{ domain: 'a.example.com', address: '10.0.0.1"; include "/etc/passwd', port: 80 }, 'address'],
    [{ domain: 'a.example.com', address: '256.0.0.1', port: 80 }, 'address'],
    [{ domain: 'a.example.com', address: '10.0.0.1', port: 0 }, 'port'],
    [{ domain: 'a.example.com', address: '10.0.0.1', port: 70000 }, 'port'],
    [{ domain: 'a.example.com', address: '10.0.0.1', port: 80.5 }, 'port'],
  ])('refuses %j naming %s, and never renders it', (site, field) => {
    expect(siteBackendProblem(site)).toMatch(new RegExp(`^${field}:`));
    expect(() => renderFrontVcl(farm, [site])).toThrow(field);
  });
});

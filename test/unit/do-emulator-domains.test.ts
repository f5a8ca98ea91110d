/**
 * The DigitalOcean emulator's domains and DNS records (test/do-emulator/server.ts), through the typed client
 * (lib/clients/digitalocean-client.ts): shapes and filters as the published reference gives them, and the
 * refusals of the real API (a record without a type, a TTL under 30 s, a field the reference does not list, an
 * unknown domain or record id: 404 with DigitalOcean's `{ id, message }` body).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DigitalOceanClient } from '../../lib/clients/digitalocean-client';
import { DigitalOceanEmulator } from '../do-emulator/server';

const emu = new DigitalOceanEmulator();
let client: DigitalOceanClient;
let base: string;
const raw = async (method: string, path: string, body?: unknown) => {
  const res = await fetch(`${base}${path}`, { method, headers: { Authorization: 'Bearer emulator-token', 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
};

beforeAll(async () => {
  base = await emu.start();
  client = new DigitalOceanClient(base, 'emulator-token');
});
afterAll(() => emu.stop());

describe('DigitalOcean emulator: domains and records', () => {
  it('creates a domain with its NS records and the apex A record; lists, filters, updates and deletes records', async () => {
    expect(await raw('POST', '/v2/domains', { name: 'shop.example', ip_address: '192.0.2.10' })).toMatchObject({ status: 201, json: { domain: { name: 'shop.example', ttl: 1800 } } });
    expect(await client.domainNames()).toEqual(['shop.example']);
    expect((await client.domainRecords('shop.example')).map((r) => r.type).sort()).toEqual(['A', 'NS', 'NS', 'NS']);
    const [apex] = await client.domainRecords('shop.example', { type: 'A', name: 'shop.example' });
    expect(apex).toMatchObject({ type: 'A', name: '@', data: '192.0.2.10', ttl: 1800, priority: null, port: null, weight: null, flags: null, tag: null });
    const www = await client.createDomainRecord('shop.example', { type: 'A', name: 'www', data: '192.0.2.11', ttl: 300 });
    expect(await client.domainRecords('shop.example', { type: 'A', name: 'www.shop.example' })).toEqual([www]);
    expect(await client.domainRecords('shop.example', { type: 'CNAME' })).toEqual([]);
    // PATCH changes only what it is given; the same PATCH again is the same record (safe to retry).
    const lowered = await client.updateDomainRecord('shop.example', apex.id, { ttl: 60 });
    expect(lowered).toMatchObject({ id: apex.id, data: '192.0.2.10', ttl: 60 });
    expect(await client.updateDomainRecord('shop.example', apex.id, { ttl: 60 })).toEqual(lowered);
    expect(await client.domainRecord('shop.example', apex.id)).toEqual(lowered);
    // PUT as well.
    expect(await raw('PUT', `/v2/domains/shop.example/records/${apex.id}`, { type: 'A', name: '@', data: '198.51.100.7' })).toMatchObject({ status: 200, json: { domain_record: { data: '198.51.100.7', ttl: 60 } } });
    await client.deleteDomainRecord('shop.example', www.id);
    expect(await client.domainRecords('shop.example', { type: 'A' })).toHaveLength(1);
    expect((await raw('GET', '/v2/domains/shop.example')).json).toMatchObject({ domain: { name: 'shop.example', zone_file: expect.stringContaining('shop.example. 60 IN A 198.51.100.7') } });
  });

  it('refuses what the API refuses, with its error body', async () => {
    await raw('POST', '/v2/domains', { name: 'refuse.example' });
    const [a] = [await client.createDomainRecord('refuse.example', { type: 'A', name: '@', data: '192.0.2.1' })];
    const cases: [string, string, unknown, number, RegExp][] = [
      ['POST', '/v2/domains/refuse.example/records', { name: 'www', data: '192.0.2.1' }, 422, /type is required/],
      ['POST', '/v2/domains/refuse.example/records', { type: 'A', name: 'www', data: '192.0.2.1', ttl: 29 }, 422, /ttl must be an integer of at least 30/],
      ['POST', '/v2/domains/refuse.example/records', { type: 'A', name: 'www', data: 'not-an-ip' }, 422, /IPv4/],
      ['POST', '/v2/domains/refuse.example/records', { type: 'A', data: '192.0.2.1' }, 422, /name is required for A records/],
      ['POST', '/v2/domains/refuse.example/records', { type: 'MX', name: '@', data: 'mx.refuse.example' }, 422, /priority is required for MX/],
      ['POST', '/v2/domains/refuse.example/records', { type: 'BOGUS', name: '@', data: 'x' }, 422, /not a supported record type/],
      ['POST', '/v2/domains/refuse.example/records', { type: 'A', name: 'www', data: '192.0.2.1', proxied: true }, 422, /unknown field in the request: proxied/],
      ['PATCH', `/v2/domains/refuse.example/records/${a.id}`, { ttl: 10 }, 422, /at least 30/],
      ['PATCH', `/v2/domains/refuse.example/records/${a.id}`, { type: 'CNAME' }, 422, /type cannot be changed/],
      ['PATCH', '/v2/domains/refuse.example/records/999999999', { ttl: 60 }, 404, /could not be found/],
      ['GET', '/v2/domains/refuse.example/records/999999999', undefined, 404, /could not be found/],
      ['DELETE', '/v2/domains/refuse.example/records/999999999', undefined, 404, /could not be found/],
      ['GET', '/v2/domains/nowhere.example/records', undefined, 404, /could not be found/],
      ['POST', '/v2/domains', { name: 'refuse.example' }, 422, /already exists/],
      ['POST', '/v2/domains', {}, 422, /name is required/],
    ];
    for (const [method, path, body, status, message] of cases) {
      const r = await raw(method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expect(r.json.id).toBe(status === 404 ? 'not_found' : 'unprocessable_entity');
      expect(String(r.json.message)).toMatch(message);
    }
    // Nothing refused changed anything.
    expect(await client.domainRecord('refuse.example', a.id)).toMatchObject({ type: 'A', data: '192.0.2.1', ttl: 1800 });
    expect((await client.domainRecords('refuse.example', { type: 'A' })).length).toBe(1);
    // The typed client classifies them: 404 → CloudNotFound, 422 → CloudRequestRejected.
    await expect(client.domainRecord('refuse.example', 999999999)).rejects.toMatchObject({ type: 'CloudNotFound' });
    await expect(client.updateDomainRecord('refuse.example', a.id, { ttl: 1 })).rejects.toMatchObject({ type: 'CloudRequestRejected' });
  });
});

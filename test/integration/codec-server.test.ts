/**
 * The codec server (issue 17) for real: the local environment's (started by `drover dev up`, loopback, the Web
 * UI's origin only) and `drover codec-server` with a token check and /encode disabled, as production runs it.
 * It answers the Web UI's preflight and refuses another origin's, refuses a request without a valid token (a
 * shared token or an operator's JWT), and refuses /encode when disabled. Then Debian's Chromium, headless and
 * driven by playwright-core, opens the dev server's Web UI on a workflow and reads its input decoded: the page
 * itself calls the codec server (--ui-codec-endpoint), while the history holds only ciphertext.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { devLayout } from '../../devkit/dev-env';
import { codecFromEnv } from '../../lib/payload-codec';
import { smokeWorkflow } from '../../workflows/smoke';
import { CLI, drover } from '../helpers/cli';
import { textsOf } from '../helpers/history-secrets';
import { ROOT, TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { freePort } from '../helpers/ports';
import { connectTestServer, testEnv } from '../helpers/temporal';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { scratchDir } from '../helpers/scratch';

const layout = devLayout(TEST_STATE_DIR, TEST_PORT_OFFSET);
const uiOrigin = `http://127.0.0.1:${layout.temporal.ui}`;
const devCodec = `http://127.0.0.1:${layout.codec.port}`;
const OTHER_ORIGIN = 'https://evil.example.com';
const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');

/** A payload as the protocol carries it, sealed with the test environment's key. */
async function sealed(value: unknown): Promise<{ metadata: Record<string, string>; data: string }> {
  const [p] = await codecFromEnv(testEnv()).encode([defaultPayloadConverter.toPayload(value)]);
  return { metadata: Object.fromEntries(Object.entries(p.metadata!).map(([k, v]) => [k, Buffer.from(v).toString('base64')])), data: Buffer.from(p.data!).toString('base64') };
}

const decodeBody = async (value: unknown) => JSON.stringify({ payloads: [await sealed(value)] });
const decodedValue = (body: { payloads: { data: string }[] }) => JSON.parse(Buffer.from(body.payloads[0].data, 'base64').toString('utf8')) as unknown;

/** The preflight Chromium sends before the UI's POST …/decode (captured from the real UI). */
const preflight = (url: string, origin: string) =>
  fetch(url, { method: 'OPTIONS', headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'content-type,x-namespace' } });

describe('the local environment\'s codec server', () => {
  it('answers the Web UI\'s preflight with exactly the allowed headers, and decodes for it', async () => {
    const pre = await preflight(`${devCodec}/decode`, uiOrigin);
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(pre.headers.get('access-control-allow-headers')).toBe('Authorization, Content-Type, X-Namespace');
    expect(pre.headers.get('access-control-allow-methods')).toBe('POST, OPTIONS');
    const res = await fetch(`${devCodec}/decode`, { method: 'POST', headers: { Origin: uiOrigin, 'Content-Type': 'application/json', 'X-Namespace': 'default' }, body: await decodeBody({ site: 'ünï.example.com' }) });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(uiOrigin);
    expect(decodedValue((await res.json()) as { payloads: { data: string }[] })).toEqual({ site: 'ünï.example.com' });
    // An update without arguments: proto JSON leaves the empty list out, and `temporal workflow show` sends `{}`.
    const none = await fetch(`${devCodec}/decode`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' });
    expect([none.status, await none.json()]).toEqual([200, { payloads: [] }]);
  });

  it('refuses another origin: its preflight gets no CORS grant, its POST a 403', async () => {
    const pre = await preflight(`${devCodec}/decode`, OTHER_ORIGIN);
    expect(pre.status).toBe(403);
    expect(pre.headers.get('access-control-allow-origin')).toBeNull();
    const res = await fetch(`${devCodec}/decode`, { method: 'POST', headers: { Origin: OTHER_ORIGIN, 'Content-Type': 'application/json' }, body: await decodeBody({ site: 'x' }) });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('"payloads"');
    // The UI served from localhost instead of 127.0.0.1 is another origin too.
    expect((await preflight(`${devCodec}/decode`, `http://localhost:${layout.temporal.ui}`)).status).toBe(403);
  });
});

describe('drover codec-server with a token check and --no-encode', () => {
  const dir = scratchDir('codec-token-');
  const token = randomBytes(24).toString('base64url');
  const idp = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwt = (claims: Record<string, unknown>) => {
    const head = `${b64({ alg: 'RS256', typ: 'JWT' })}.${b64(claims)}`;
    return `${head}.${sign('sha256', Buffer.from(head), idp.privateKey).toString('base64url')}`;
  };
  let server: ChildProcess | undefined;
  let url = '';
  beforeAll(async () => {
    writeFileSync(path.join(dir, 'token'), token + '\n', { mode: 0o600 });
    writeFileSync(path.join(dir, 'idp.pem'), idp.publicKey.export({ type: 'spki', format: 'pem' }));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [CLI, '--state-dir', TEST_STATE_DIR, 'codec-server', '--port', String(port), '--ui-origin', uiOrigin, '--no-encode',
      '--token-file', path.join(dir, 'token'), '--jwt-public-key', path.join(dir, 'idp.pem'), '--jwt-audience', 'temporal-ui'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    await new Promise<void>((resolve, reject) => {
      server!.stderr!.on('data', (d: Buffer) => {
        err += d.toString();
        if (err.includes('codec server on')) resolve();
      });
      server!.once('exit', (code) => reject(new Error(`codec-server exited ${code}: ${err}`)));
    });
  });
  afterAll(() => {
    server?.kill('SIGTERM');
  });
  const post = async (op: string, authorization?: string) =>
    fetch(`${url}/${op}`, { method: 'POST', headers: { Origin: uiOrigin, 'Content-Type': 'application/json', 'X-Namespace': 'default', ...(authorization ? { Authorization: authorization } : {}) }, body: await decodeBody({ n: 1 }) });

  it('refuses a request without a token, with a wrong one, an expired JWT or one for another audience', async () => {
    const exp = Math.floor(Date.now() / 1000) + 300;
    for (const auth of [undefined, 'Bearer wrong-token-wrong-token', `Basic ${token}`, `Bearer ${jwt({ sub: 'op', aud: 'temporal-ui', exp: exp - 600 })}`, `Bearer ${jwt({ sub: 'op', aud: 'other', exp })}`]) {
      const res = await post('decode', auth);
      expect(res.status, auth).toBe(401);
      expect(res.headers.get('www-authenticate')).toBe('Bearer');
    }
  });

  it('decodes with the shared token or the operator\'s valid JWT; the preflight needs no token', async () => {
    expect((await preflight(`${url}/decode`, uiOrigin)).status).toBe(204);
    expect((await post('decode', `Bearer ${token}`)).status).toBe(200);
    const res = await post('decode', `Bearer ${jwt({ sub: 'operator@example.com', aud: 'temporal-ui', exp: Math.floor(Date.now() / 1000) + 300 })}`);
    expect(res.status).toBe(200);
    expect(decodedValue((await res.json()) as { payloads: { data: string }[] })).toEqual({ n: 1 });
  });

  it('refuses /encode (disabled) even with a valid token', async () => {
    const res = await post('encode', `Bearer ${token}`);
    expect(res.status).toBe(403);
    expect(await res.text()).toContain('encode is disabled');
  });

  it('will not listen beyond loopback without a token check (exit 2, naming --host)', async () => {
    const r = await drover(['codec-server', '--host', '0.0.0.0', '--port', '0', '--ui-origin', uiOrigin], { timeoutMs: 30_000 });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--host: 0\.0\.0\.0 is not loopback/);
    const bad = await drover(['codec-server', '--ui-origin', 'http://ui.example.com/some/path'], { timeoutMs: 30_000 });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ui-origin/);
    // A folder given as the token file: refused naming it (it was read later, failing with EISDIR, exit 1).
    const folder = await drover(['codec-server', '--ui-origin', uiOrigin, '--port', '0', '--token-file', dir], { timeoutMs: 30_000 });
    expect(folder.code, folder.stderr).toBe(2);
    expect(folder.stderr).toMatch(/--token-file: no such file \(or not a regular file\)/);
  });
});

describe('the Temporal Web UI in a real browser', () => {
  let tw: TestWorkflowEnvironment;
  beforeAll(async () => {
    tw = await connectTestServer();
  });
  afterAll(() => tw?.teardown());

  it('shows a workflow\'s input decoded through the codec server, while the history holds ciphertext', async () => {
    // The marker is in the input only (not the workflow ID, which the page shows anyway); no worker runs it.
    const marker = `uimark-${randomBytes(4).toString('hex')}-ünï`;
    const handle = await tw.client.workflow.start(smokeWorkflow, { workflowId: `smoke/ui-${randomBytes(4).toString('hex')}`, taskQueue: `ui-nobody-${randomBytes(4).toString('hex')}`, args: [{ label: marker }] });
    const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
    try {
      expect(textsOf(await handle.fetchHistory()).some((t) => t.includes(marker))).toBe(false);
      const page = await browser.newPage();
      const decodes: number[] = [];
      page.on('response', (r) => {
        if (r.url() === `${devCodec}/decode`) decodes.push(r.status());
      });
      await page.goto(`${uiOrigin}/namespaces/default/workflows/${encodeURIComponent(handle.workflowId)}/${handle.firstExecutionRunId}/history`);
      await page.getByText(marker).first().waitFor({ timeout: 60_000 });
      expect(decodes.length).toBeGreaterThan(0);
      expect(decodes.every((s) => s === 200)).toBe(true);
    } finally {
      await browser.close();
      await handle.terminate('test over');
    }
  }, 120_000);
});

/**
 * Payload encryption on the real dev server (issue 17). A marker is planted in a site's name (so in its domain,
 * database name and files path); the site is backed up and restored, a backup of a missing site named after the
 * marker fails, and a workflow carries the marker in its memo. Read with the plain `temporal` CLI and no codec,
 * no payload of any of these histories (inputs, results, failures, memos, children's too) holds the marker, the
 * database name, the path or the error text: only workflow IDs and search attributes, readable by design. Read
 * through the local environment's codec server (`--codec-endpoint`), the same histories show all of it.
 * Key rotation: a history written under an old key still decodes, in the client, a replay and the codec server,
 * after a new key is current. The codec server refuses what it must, and answers the Web UI's preflight. A CLI
 * or worker without keys refuses to start, naming the variables.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Client, WorkflowFailedError } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { describe, expect, it } from 'vitest';
import { devLayout } from '../../devkit/dev-env';
import { resolveGoTool } from '../../devkit/dev-env/binaries';
import { execFileP } from '../../devkit/dev-env/processes';
import { createCodecServer, listenCodecServer } from '../../lib/codec-server';
import { failureConverterPath } from '../../lib/data-converter';
import { AesGcmPayloadCodec, loadCodecKeys } from '../../lib/payload-codec';
import { restoreSiteWorkflow } from '../../workflows/restore-site';
import { siteBackupWorkflow } from '../../workflows/site-backup';
import { smokeWorkflow } from '../../workflows/smoke';
import { drover } from '../helpers/cli';
import { textsOf } from '../helpers/history-secrets';
import { TEST_PORT_OFFSET, TEST_STATE_DIR } from '../helpers/paths';
import { createTestSite } from '../helpers/sites';
import { testEnv, testWorker, useRunningWorker } from '../helpers/temporal';
import { scratchDir } from '../helpers/scratch';

const ctx = useRunningWorker('encrypted-history');
const layout = devLayout(TEST_STATE_DIR, TEST_PORT_OFFSET);
const codecEndpoint = `http://127.0.0.1:${layout.codec.port}`;

interface ShownHistory {
  events: { childWorkflowExecutionStartedEventAttributes?: { workflowExecution?: { workflowId?: string } } }[];
}

/** `temporal workflow show --output json`, as an operator without the keys (or with the codec server) reads it. */
async function show(workflowId: string, codec?: string): Promise<ShownHistory> {
  const env = testEnv();
  const args = ['workflow', 'show', '--address', env.TEMPORAL_ADDRESS, '--namespace', env.TEMPORAL_NAMESPACE, '--workflow-id', workflowId, '--output', 'json'];
  const { stdout } = await execFileP(await resolveGoTool('temporal'), [...args, ...(codec ? ['--codec-endpoint', codec] : [])], { maxBuffer: 256 * 1024 * 1024 });
  return JSON.parse(stdout) as ShownHistory;
}

/** The workflow and every child it started, children's children too, by ID. */
async function tree(workflowId: string): Promise<string[]> {
  const children = (await show(workflowId)).events.map((e) => e.childWorkflowExecutionStartedEventAttributes?.workflowExecution?.workflowId).filter((id): id is string => Boolean(id));
  return [workflowId, ...(await Promise.all(children.map(tree))).flat()];
}

const found = (texts: string[], secrets: Record<string, string>) => Object.entries(secrets).filter(([, v]) => texts.some((t) => t.includes(v))).map(([k]) => k);

describe('encrypted payloads', () => {
  it('no site name, path, database name or error text in any raw payload; all of it decodes through the codec server', async () => {
    const tag = randomBytes(3).toString('hex');
    const marker = `qx${tag}zmark`;
    const site = await createTestSite(ctx.deps, `${marker}-shöp.example.com`.replace('ö', 'o'), { posts: 10, uploadBytes: 16 * 1024 });
    const date = '2026-11-21';
    const { client } = ctx.tw;
    const taskQueue = ctx.taskQueue;

    const backup = await client.workflow.start(siteBackupWorkflow, { workflowId: `backup/${site.domain}/${date}/${tag}`, taskQueue, args: [{ site: site.domain, point: date }] });
    expect((await backup.result()).status).toBe('created');
    const restore = await client.workflow.start(restoreSiteWorkflow, { workflowId: `restore/${site.domain}/${tag}`, taskQueue, args: [{ site: site.domain, point: date }] });
    expect((await restore.result()).point).toBe(date);
    const gone = `${marker}-gone.example.com`;
    const failed = await client.workflow.start(siteBackupWorkflow, { workflowId: `backup/${gone}/${date}/${tag}`, taskQueue, args: [{ site: gone, point: date }] });
    const err = await failed.result().then(() => null, (e: unknown) => e);
    expect(err).toBeInstanceOf(WorkflowFailedError);
    let root = err as Error;
    while (root.cause instanceof Error) root = root.cause;
    // The client decodes the failure: the operator still reads the whole message.
    expect(root.message).toContain(gone);
    const errorText = root.message;
    const noted = await client.workflow.start(smokeWorkflow, { workflowId: `smoke/${marker}-memo`, taskQueue, args: [{ label: `${marker}-memo` }], memo: { note: `operator note on ${site.domain}` } });
    await noted.result();

    const secrets = { marker, database: site.database, 'files path': site.filesPath, 'error text': errorText, 'galera password': testEnv().DROVER_GALERA_PASSWORD };
    const roots = [backup.workflowId, restore.workflowId, failed.workflowId, noted.workflowId];
    const all = (await Promise.all(roots.map(tree))).flat();
    expect(all.length).toBeGreaterThanOrEqual(roots.length);
    for (const id of all) {
      const raw = await show(id);
      expect(found(textsOf(raw), secrets), `in clear in ${id}`).toEqual([]);
      // The IDs themselves stay readable (they carry the domain by design).
      expect(JSON.stringify(raw)).toContain(id);
    }

    const decoded = Object.fromEntries(await Promise.all(roots.map(async (id) => [id, textsOf(await show(id, codecEndpoint))] as const)));
    for (const id of roots) expect(found(decoded[id], { marker }), `decoded ${id}`).toEqual(['marker']);
    expect(found(decoded[backup.workflowId], { database: site.database })).toEqual(['database']);
    expect(found(decoded[restore.workflowId], { 'files path': site.filesPath })).toEqual(['files path']);
    expect(found(decoded[failed.workflowId], { 'error text': errorText })).toEqual(['error text']);
    expect(found(decoded[noted.workflowId], { memo: `operator note on ${site.domain}` })).toEqual(['memo']);

    // Control: the same search finds the marker in a history written without the codec (no worker polls it).
    const plain = await new Client({ connection: client.connection }).workflow.start(smokeWorkflow, { workflowId: `smoke/${marker}-plain`, taskQueue: `${taskQueue}-nobody`, args: [{ label: `${marker}-plain` }] });
    await plain.terminate();
    expect(found(textsOf(await show(plain.workflowId)), secrets)).toEqual(['marker']);
  });

  it('key rotation: a history written under the old key decodes after a new key is current (client, replay, codec server)', async () => {
    const dir = scratchDir('codec-rotation-');
    const oldKey = path.join(dir, 'drover_codec_key_2025b');
    const newKey = path.join(dir, 'drover_codec_key_2026a');
    writeFileSync(oldKey, randomBytes(32).toString('base64'));
    writeFileSync(newKey, randomBytes(32).toString('base64'));
    const before = { DROVER_CODEC_KEYS: oldKey, DROVER_CODEC_CURRENT_KEY: '2025b' };
    const after = { DROVER_CODEC_KEYS: `${newKey},${oldKey}`, DROVER_CODEC_CURRENT_KEY: '2026a' };
    const converter = (env: typeof before) => ({ payloadCodecs: [new AesGcmPayloadCodec(loadCodecKeys(env))], failureConverterPath: failureConverterPath() });
    const label = `rot-${randomBytes(3).toString('hex')}`;

    // Written under the old key: client and worker both hold only 2025b.
    const oldClient = new Client({ connection: ctx.tw.client.connection, dataConverter: converter(before) });
    const q1 = `${ctx.taskQueue}-old`;
    const w1 = await testWorker(ctx.tw, { taskQueue: q1, worker: { dataConverter: converter(before) } });
    const first = await oldClient.workflow.start(smokeWorkflow, { workflowId: `smoke/${label}-old`, taskQueue: q1, args: [{ label: `${label}-old` }] });
    await w1.worker.runUntil(first.result());
    await w1.close();

    // The new key is current; the old one only decodes.
    const newClient = new Client({ connection: ctx.tw.client.connection, dataConverter: converter(after) });
    const q2 = `${ctx.taskQueue}-new`;
    const w2 = await testWorker(ctx.tw, { taskQueue: q2, worker: { dataConverter: converter(after) } });
    const second = await newClient.workflow.start(smokeWorkflow, { workflowId: `smoke/${label}-new`, taskQueue: q2, args: [{ label: `${label}-new` }] });
    await w2.worker.runUntil(second.result());
    await w2.close();

    expect((await newClient.workflow.getHandle(first.workflowId).result()).label).toBe(`${label}-old`);
    // Each payload names its key (metadata encryption-key-id, base64 in the CLI's JSON).
    const sealedWith = async (id: string) => {
      const json = JSON.stringify(await show(id));
      return ['2025b', '2026a'].filter((k) => json.includes(`"${Buffer.from(k).toString('base64')}"`));
    };
    expect(await sealedWith(first.workflowId)).toEqual(['2025b']);
    expect(await sealedWith(second.workflowId)).toEqual(['2026a']);
    await Worker.runReplayHistory({ workflowBundle: { codePath: path.join(TEST_STATE_DIR, 'workflow-bundle.js') }, dataConverter: converter(after) }, await first.fetchHistory(), first.workflowId);

    const server = createCodecServer({ codec: new AesGcmPayloadCodec(loadCodecKeys(after)), allowedOrigin: 'http://127.0.0.1:1', encode: false });
    const addr = await listenCodecServer(server, '127.0.0.1', 0);
    try {
      for (const [id, l] of [[first.workflowId, `${label}-old`], [second.workflowId, `${label}-new`]]) {
        expect(textsOf(await show(id)).some((t) => t.includes(l))).toBe(false);
        expect(textsOf(await show(id, `http://127.0.0.1:${addr.port}`)).some((t) => t.includes(l))).toBe(true);
      }
    } finally {
      server.close();
    }
  });

  it('a CLI or worker without its codec keys refuses to start, naming the variables (exit 2)', async () => {
    const state = scratchDir('no-codec-');
    const env = readFileSync(layout.envFile, 'utf8').split('\n').filter((l) => !l.startsWith('DROVER_CODEC_')).join('\n');
    writeFileSync(path.join(state, 'env'), env);
    const run = (args: string[], extra: Record<string, string> = {}) => drover(['--state-dir', state, ...args], { env: extra, timeoutMs: 60_000 });
    for (const args of [['worker', 'infra'], ['smoke', '--label', 'no-key']]) {
      const r = await run(args);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toMatch(/DROVER_CODEC_KEYS/);
      expect(r.stderr).toMatch(/DROVER_CODEC_CURRENT_KEY/);
    }
    const missing = await run(['worker', 'infra'], { DROVER_CODEC_KEYS: path.join(state, 'drover_codec_key_gone'), DROVER_CODEC_CURRENT_KEY: 'gone' });
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/DROVER_CODEC_KEYS: .*drover_codec_key_gone does not exist/);
  });
});

/**
 * The Temporal dev server (SQLite file in the state folder, so history survives restarts) with its Web UI and
 * Drover's custom search attributes (DroverSite, DroverFarm, …, all Keyword): registered by `--search-attribute`
 * at start, and added with `temporal operator search-attribute create` to a server already running without them
 * (an environment started before they existed), so `up` brings any running server up to date.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { DROVER_SEARCH_ATTRIBUTES } from '../../lib/contract/search-attributes';
import { resolveGoTool } from './binaries';
import type { DevLayout } from './layout';
import { daemonStatus, type DevPart, type PartStatus } from './part';
import { daemonPid, execFileP, httpOk, spawnDaemon, stopDaemon, tcpOpen, waitFor } from './processes';

const KEYWORD = 'INDEXED_VALUE_TYPE_KEYWORD';

/** Drover's search attributes the server at `address` does not have yet (a missing one added, one at a time). */
export async function ensureSearchAttributes(bin: string, address: string, log: (msg: string) => void): Promise<string[]> {
  const list = async () => {
    const { stdout } = await execFileP(bin, ['operator', 'search-attribute', 'list', '--address', address, '--namespace', 'default', '-o', 'json'], { timeout: 30_000 });
    return (JSON.parse(stdout) as { customAttributes?: Record<string, string> }).customAttributes ?? {};
  };
  const have = await list();
  const added: string[] = [];
  for (const { name } of DROVER_SEARCH_ATTRIBUTES) {
    if (have[name] === KEYWORD) continue;
    if (have[name]) throw new Error(`search attribute ${name} exists with type ${have[name]}, not Keyword: remove it (temporal operator search-attribute remove --name ${name})`);
    // One name per call: the CLI pairs --name and --type values, so several names with one --type add only the first.
    await execFileP(bin, ['operator', 'search-attribute', 'create', '--address', address, '--namespace', 'default', '--name', name, '--type', 'Keyword'], { timeout: 30_000 });
    added.push(name);
  }
  if (added.length) log(`temporal: added search attributes ${added.join(', ')}`);
  return added;
}

export function temporalPart(l: DevLayout): DevPart {
  const dir = l.temporal.dir;
  const pidFile = path.join(dir, 'temporal.pid');
  const logFile = path.join(dir, 'temporal.log');
  const endpoint = `127.0.0.1:${l.temporal.grpc}`;
  const uiUrl = `http://127.0.0.1:${l.temporal.ui}`;

  const uiAnswers = () => httpOk(uiUrl);

  return {
    name: 'temporal',
    async up(log) {
      mkdirSync(dir, { recursive: true });
      const bin = await resolveGoTool('temporal', log);
      if (daemonPid(pidFile, 'temporal')) {
        await waitFor('temporal', async () => tcpOpen(l.temporal.grpc), 60_000, () => daemonPid(pidFile, 'temporal') !== null);
        await ensureSearchAttributes(bin, endpoint, log);
        return;
      }
      spawnDaemon({
        command: bin,
        args: [
          'server', 'start-dev',
          '--ip', '127.0.0.1',
          '--port', String(l.temporal.grpc),
          '--ui-ip', '127.0.0.1',
          '--ui-port', String(l.temporal.ui),
          '--metrics-port', String(l.temporal.metrics),
          '--db-filename', path.join(dir, 'temporal.db'),
          // WAL, synced at checkpoints: SQLite's defaults (a journal created, synced and deleted per transaction)
          // cost the server about half again its CPU per workflow (docs/decisions.md).
          '--sqlite-pragma', 'journal_mode=WAL',
          '--sqlite-pragma', 'synchronous=NORMAL',
          '--namespace', 'default',
          '--log-level', 'warn',
          '--ui-codec-endpoint', `http://127.0.0.1:${l.codec.port}`,
          ...DROVER_SEARCH_ATTRIBUTES.flatMap((a) => ['--search-attribute', `${a.name}=Keyword`]),
        ],
        logFile,
        pidFile,
      });
      await waitFor('temporal', async () => (await tcpOpen(l.temporal.grpc)) && (await uiAnswers()), 60_000, () => daemonPid(pidFile, 'temporal') !== null);
      // A server started from an existing database keeps the attributes it had; any missing are added here.
      await ensureSearchAttributes(bin, endpoint, log);
    },
    async down() {
      await stopDaemon(pidFile, 'temporal');
    },
    async status(): Promise<PartStatus> {
      const running = daemonPid(pidFile, 'temporal') !== null;
      const grpc = running && (await tcpOpen(l.temporal.grpc));
      const ui = running && (await uiAnswers());
      const healthy = grpc && ui;
      const detail = { ui: uiUrl, grpc, uiAnswers: ui, namespace: 'default', db: path.join(dir, 'temporal.db') };
      return daemonStatus({ name: 'temporal', running, healthy, endpoint, detail, unhealthy: 'not answering', logFile });
    },
  };
}

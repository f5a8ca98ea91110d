/** The Temporal dev server (SQLite file in the state folder, so history survives restarts) with its Web UI. */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { resolveGoTool } from './binaries';
import type { DevLayout } from './layout';
import type { DevPart, PartStatus } from './part';
import { daemonPid, spawnDaemon, stopDaemon, tailFile, tcpOpen, waitFor } from './processes';

export function temporalPart(l: DevLayout): DevPart {
  const dir = l.temporal.dir;
  const pidFile = path.join(dir, 'temporal.pid');
  const logFile = path.join(dir, 'temporal.log');
  const endpoint = `127.0.0.1:${l.temporal.grpc}`;
  const uiUrl = `http://127.0.0.1:${l.temporal.ui}`;

  async function uiAnswers(): Promise<boolean> {
    try {
      const res = await fetch(uiUrl, { signal: AbortSignal.timeout(2_000) });
      return res.ok;
    } catch {
      return false;
    }
  }

  return {
    name: 'temporal',
    async up(log) {
      mkdirSync(dir, { recursive: true });
      if (daemonPid(pidFile, 'temporal')) return;
      const bin = await resolveGoTool('temporal', log);
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
          '--namespace', 'default',
          '--log-level', 'warn',
        ],
        logFile,
        pidFile,
      });
      await waitFor('temporal', async () => (await tcpOpen(l.temporal.grpc)) && (await uiAnswers()), 60_000, () => daemonPid(pidFile, 'temporal') !== null);
    },
    async down() {
      await stopDaemon(pidFile, 'temporal');
    },
    async status(): Promise<PartStatus> {
      const running = daemonPid(pidFile, 'temporal') !== null;
      const grpc = running && (await tcpOpen(l.temporal.grpc));
      const ui = running && (await uiAnswers());
      const healthy = grpc && ui;
      return {
        name: 'temporal',
        running,
        healthy,
        endpoint,
        detail: { ui: uiUrl, grpc, uiAnswers: ui, namespace: 'default', db: path.join(dir, 'temporal.db') },
        ...(healthy ? {} : { error: running ? 'not answering' : 'not running', logTail: tailFile(logFile) }),
      };
    },
  };
}

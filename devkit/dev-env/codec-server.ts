/**
 * The local environment's payload codec: a key generated once under the state folder's secrets/ (by reference
 * in the env file, as Docker secrets are in production) and `drover codec-server` on loopback, accepting only the
 * dev server's Web UI origin, which the dev server is started pointing at (--ui-codec-endpoint).
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { DevLayout } from './layout';
import type { DevPart, PartStatus } from './part';
import { daemonPid, httpOk, spawnDaemon, stopDaemon, tailFile, waitFor } from './processes';

export const DEV_CODEC_KEY_ID = 'local1';

/** The local codec key file (32 random bytes, base64), made once; its name carries the key ID. */
export function devCodecKey(l: DevLayout): { file: string; id: string } {
  mkdirSync(l.secretsDir, { recursive: true, mode: 0o700 });
  const file = path.join(l.secretsDir, `drover_codec_key_${DEV_CODEC_KEY_ID}`);
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString('base64') + '\n', { mode: 0o600 });
  return { file, id: DEV_CODEC_KEY_ID };
}

export const devCodecEndpoint = (l: DevLayout) => `http://127.0.0.1:${l.codec.port}`;
export const devUiOrigin = (l: DevLayout) => `http://127.0.0.1:${l.temporal.ui}`;

/** The compiled CLI (the codec server runs from dist/, as workers do; `npm run build` makes it). */
function cliPath(): string {
  const fromDist = path.resolve(__dirname, '..', '..', 'client', 'cli.js');
  return existsSync(fromDist) ? fromDist : path.resolve(__dirname, '..', '..', 'dist', 'client', 'cli.js');
}

export function codecPart(l: DevLayout): DevPart {
  const dir = l.codec.dir;
  const pidFile = path.join(dir, 'codec-server.pid');
  const logFile = path.join(dir, 'codec-server.log');
  const endpoint = devCodecEndpoint(l);

  const answers = () => httpOk(`${endpoint}/health`);

  return {
    name: 'codec',
    async up() {
      mkdirSync(dir, { recursive: true });
      if (daemonPid(pidFile, 'codec-server')) return;
      const cli = cliPath();
      if (!existsSync(cli)) throw new Error(`${cli} is missing: run npm run build`);
      const key = devCodecKey(l);
      spawnDaemon({
        command: process.execPath,
        args: [cli, '--state-dir', l.stateDir, 'codec-server', '--host', '127.0.0.1', '--port', String(l.codec.port), '--ui-origin', devUiOrigin(l)],
        env: { ...process.env, DROVER_CODEC_KEYS: key.file, DROVER_CODEC_CURRENT_KEY: key.id },
        logFile,
        pidFile,
      });
      await waitFor('codec-server', answers, 30_000, () => daemonPid(pidFile, 'codec-server') !== null);
    },
    async down() {
      await stopDaemon(pidFile, 'codec-server');
    },
    async status(): Promise<PartStatus> {
      const running = daemonPid(pidFile, 'codec-server') !== null;
      const healthy = running && (await answers());
      return {
        name: 'codec',
        running,
        healthy,
        endpoint,
        detail: { uiOrigin: devUiOrigin(l), keyId: DEV_CODEC_KEY_ID },
        ...(healthy ? {} : { error: running ? 'not answering' : 'not running', logTail: tailFile(logFile) }),
      };
    },
  };
}

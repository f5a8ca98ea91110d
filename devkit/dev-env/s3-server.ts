/**
 * An S3-compatible store standing in for DigitalOcean Spaces: versitygw with its posix backend. The root
 * credentials go to versitygw through its environment, never on the command line (visible in `ps`).
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { CreateBucketCommand, HeadBucketCommand } from '@aws-sdk/client-s3';
import { createSpacesClient } from '../../lib/clients/spaces-client';
import { resolveGoTool } from './binaries';
import type { DevLayout } from './layout';
import { daemonStatus, type DevPart, type PartStatus } from './part';
import { daemonPid, spawnDaemon, stopDaemon, tcpOpen, waitFor } from './processes';

export function s3Part(l: DevLayout, creds: () => { accessKeyId: string; secretAccessKey: string }): DevPart {
  const dir = l.s3.dir;
  const root = path.join(dir, 'root');
  const pidFile = path.join(dir, 'versitygw.pid');
  const logFile = path.join(dir, 'versitygw.log');
  const endpoint = `http://127.0.0.1:${l.s3.port}`;
  const client = () => createSpacesClient({ endpoint, region: 'us-east-1', bucket: l.s3.bucket, forcePathStyle: true, ...creds() });

  async function bucketReachable(): Promise<boolean> {
    const c = client();
    try {
      await c.send(new HeadBucketCommand({ Bucket: l.s3.bucket }));
      return true;
    } catch {
      return false;
    } finally {
      c.destroy();
    }
  }

  return {
    name: 's3',
    async up(log) {
      mkdirSync(root, { recursive: true });
      if (!daemonPid(pidFile, 'versitygw')) {
        const bin = await resolveGoTool('versitygw', log);
        const { accessKeyId, secretAccessKey } = creds();
        spawnDaemon({
          command: bin,
          args: ['--port', `127.0.0.1:${l.s3.port}`, 'posix', root],
          env: { ...process.env, ROOT_ACCESS_KEY_ID: accessKeyId, ROOT_SECRET_ACCESS_KEY: secretAccessKey },
          logFile,
          pidFile,
        });
        await waitFor('versitygw', () => tcpOpen(l.s3.port), 30_000, () => daemonPid(pidFile, 'versitygw') !== null);
      }
      if (!(await bucketReachable())) {
        const c = client();
        try {
          await c.send(new CreateBucketCommand({ Bucket: l.s3.bucket }));
        } catch (err) {
          if ((err as { name?: string }).name !== 'BucketAlreadyOwnedByYou') throw err;
        } finally {
          c.destroy();
        }
      }
    },
    async down() {
      await stopDaemon(pidFile, 'versitygw');
    },
    async status(): Promise<PartStatus> {
      const running = daemonPid(pidFile, 'versitygw') !== null;
      const healthy = running && (await bucketReachable());
      return daemonStatus({ name: 's3', running, healthy, endpoint, detail: { bucket: l.s3.bucket, backend: 'posix', root }, unhealthy: `bucket ${l.s3.bucket} not reachable`, logFile });
    },
  };
}

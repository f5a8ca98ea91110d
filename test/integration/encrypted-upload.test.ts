/**
 * A dump that finishes before the upload reads it. Node discards a child process's unread stdout when the child
 * exits, so a source must be read from the moment the upload is called, not after its first round trip: a small
 * database dumped while stale uploads of a crashed attempt were being aborted came out as an empty object.
 */
import { spawn } from 'node:child_process';
import { CreateMultipartUploadCommand } from '@aws-sdk/client-s3';
import { afterAll, describe, expect, it } from 'vitest';
import { closeActivityDeps, createActivityDeps } from '../../activities';
import { uploadEncrypted } from '../../activities/lib/encrypted-upload';
import { testEnv } from '../helpers/temporal';

const deps = createActivityDeps(testEnv());
afterAll(() => closeActivityDeps(deps));

describe('uploadEncrypted', () => {
  it('keeps every byte of a source process that exits before the upload starts reading', async () => {
    const key = `test/early-exit/${process.pid}-${Date.now()}/database.sql.zst.age`;
    // Orphaned multipart uploads of a crashed attempt: the upload aborts them first (a few round trips).
    for (let i = 0; i < 10; i++) await deps.s3.send(new CreateMultipartUploadCommand({ Bucket: deps.bucket, Key: key }));
    const text = Array.from({ length: 200 }, (_, i) => `INSERT INTO wp_posts VALUES (${i}, 'Grüße ${i}');`).join('\n') + '\n';
    // A tiny dump: written and exited at once, as mariadb-dump does for a small site.
    const dump = spawn('printf', ['%s', text], { stdio: ['ignore', 'pipe', 'pipe'] });
    const dumpExit = new Promise<void>((resolve, reject) => dump.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`printf exited ${code}`)))));
    const r = await uploadEncrypted({ s3: deps.s3, bucket: deps.bucket, key, source: dump.stdout, sourceExit: dumpExit, recipients: deps.backup.recipients });
    expect(r.plainBytes).toBe(Buffer.byteLength(text));
  });
});

/** Activities that touch Spaces (S3-compatible object storage). */
import { createHash } from 'node:crypto';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import type { ActivityDeps } from './deps';
import { classifyStorageError, failure } from './lib/errors';

export interface RoundTripObjectInput {
  key: string;
  /** Bytes to write; a short marker, never a secret. */
  body: string;
}

export interface RoundTripObjectResult {
  bucket: string;
  key: string;
  bytes: number;
  sha256: string;
}

export function createSpacesActivities({ s3, bucket }: Pick<ActivityDeps, 's3' | 'bucket'>) {
  return {
    /** Writes an object, reads it back, checks it byte for byte, and removes it: proof the store works. */
    async roundTripObject(input: RoundTripObjectInput): Promise<RoundTripObjectResult> {
      const sha256 = createHash('sha256').update(input.body).digest('hex');
      try {
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: input.key, Body: input.body, ContentType: 'text/plain' }));
        const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: input.key }));
        const text = (await got.Body?.transformToString('utf8')) ?? '';
        const readSha = createHash('sha256').update(text).digest('hex');
        if (readSha !== sha256) throw failure('StorageUnavailable', `object ${input.key} read back differs from what was written`);
        await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: input.key }));
        return { bucket, key: input.key, bytes: Buffer.byteLength(input.body), sha256 };
      } catch (err) {
        throw classifyStorageError(err, `s3://${bucket}/${input.key}`);
      }
    },
  };
}

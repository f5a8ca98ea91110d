/**
 * Spaces (S3) access over @aws-sdk/client-s3 with a configurable endpoint and path-style addressing, so the
 * same code talks to DigitalOcean Spaces, AWS S3 or a local versitygw.
 */
import { S3Client } from '@aws-sdk/client-s3';

export interface SpacesConfig {
  endpoint: string;
  region: string;
  accessKeyId: string;
  secretAccessKey: string;
  bucket: string;
  forcePathStyle: boolean;
}

/** The commands that carry an object's bytes: their body is not hashed into the signature (see below). */
const UNSIGNED_BODY_COMMANDS = new Set(['PutObjectCommand', 'UploadPartCommand']);

/**
 * How long a request's connection may take to open, and how long its socket may stay idle (nothing sent or
 * received), before the request fails as a TimeoutError (StorageUnavailable, retried). The SDK's default is no
 * bound at all: a store that accepts a request and then stops answering (an overloaded endpoint, a connection cut
 * without a reset) held the step until its ceiling (30 minutes for a night's upload or a restore's download), its
 * activity heartbeating on a timer all along. The idle bound is generous because a reader that stops reading (a
 * load whose database builds an index at a table's end, fed from the download) leaves the socket idle too; the AWS
 * CLI's own read timeout is 60 s.
 */
export const S3_CONNECT_TIMEOUT_MS = 15_000;
export const S3_IDLE_TIMEOUT_MS = 300_000;

export function createSpacesClient(cfg: SpacesConfig, o: { connectTimeoutMs?: number; idleTimeoutMs?: number } = {}): S3Client {
  const client = new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    maxAttempts: 3,
    requestHandler: { connectionTimeout: o.connectTimeoutMs ?? S3_CONNECT_TIMEOUT_MS, socketTimeout: o.idleTimeoutMs ?? S3_IDLE_TIMEOUT_MS },
  });
  // An object's bytes are signed as UNSIGNED-PAYLOAD, as `curl --aws-sigv4` and the S3 console send them: SigV4
  // otherwise hashes every part (SHA-256, one more pass over each byte a night uploads: the worker already hashes the
  // ciphertext once for the manifest). The SDK's CRC32 checksum header still lets the store check each part's
  // bytes, and every restore checks the whole object against the manifest's SHA-256.
  client.middlewareStack.add(
    (next, context) => (args) => {
      const request = args.request as { headers?: Record<string, string> } | undefined;
      if (request?.headers && UNSIGNED_BODY_COMMANDS.has(context.commandName ?? '')) request.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
      return next(args);
    },
    { step: 'build', name: 'droverUnsignedObjectBody' },
  );
  return client;
}

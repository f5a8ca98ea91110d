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

export function createSpacesClient(cfg: SpacesConfig): S3Client {
  const client = new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    maxAttempts: 3,
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

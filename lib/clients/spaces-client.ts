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

export function createSpacesClient(cfg: SpacesConfig): S3Client {
  return new S3Client({
    endpoint: cfg.endpoint,
    region: cfg.region,
    forcePathStyle: cfg.forcePathStyle,
    credentials: { accessKeyId: cfg.accessKeyId, secretAccessKey: cfg.secretAccessKey },
    maxAttempts: 3,
  });
}

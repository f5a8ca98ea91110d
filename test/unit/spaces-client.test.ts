import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSpacesClient } from '../../lib/clients/spaces-client';

describe('createSpacesClient', () => {
  const seen: { method: string; url: string; headers: http.IncomingHttpHeaders; bytes: number }[] = [];
  let server: http.Server;
  let endpoint: string;
  beforeAll(async () => {
    server = http.createServer((req, res) => {
      let bytes = 0;
      req.on('data', (d: Buffer) => (bytes += d.length));
      req.on('end', () => {
        seen.push({ method: req.method!, url: req.url!, headers: req.headers, bytes });
        res.writeHead(200, { ETag: '"e"' }).end();
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it("sends an object's bytes as UNSIGNED-PAYLOAD (no SHA-256 pass over them), with a CRC32 the store checks", async () => {
    const s3 = createSpacesClient({ endpoint, region: 'us-east-1', accessKeyId: 'AK', secretAccessKey: 'SK', bucket: 'b', forcePathStyle: true });
    const body = Buffer.alloc(1024 * 1024, 7);
    await s3.send(new PutObjectCommand({ Bucket: 'b', Key: 'k', Body: body }));
    await s3.send(new UploadPartCommand({ Bucket: 'b', Key: 'k', UploadId: 'u', PartNumber: 1, Body: body }));
    const [put, part] = seen;
    for (const r of [put, part]) {
      expect(r.method).toBe('PUT');
      expect(r.bytes).toBe(body.length);
      expect(r.headers['x-amz-content-sha256']).toBe('UNSIGNED-PAYLOAD');
      expect(r.headers['x-amz-checksum-crc32']).toBeTruthy();
      // The header is among the signed ones: the store checks the signature over it.
      expect(String(r.headers.authorization)).toMatch(/SignedHeaders=[^,]*x-amz-content-sha256/);
    }
    s3.destroy();
  });
});

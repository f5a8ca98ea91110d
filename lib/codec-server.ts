/**
 * The codec server: Temporal's remote codec protocol (POST …/encode and …/decode, Payloads as proto3 JSON, bytes
 * in base64) over Drover's payload codec, so the Web UI and `temporal --codec-endpoint` show decoded payloads
 * while the keys stay in this one process. Browsers are let in from one origin only (the Web UI's), with the
 * headers the UI sends (Authorization, Content-Type, X-Namespace); any other origin gets no CORS grant and a 403.
 * When a token check is configured every encode/decode request must carry `Authorization: Bearer …` that passes
 * it (see lib/codec-token.ts); preflights carry no credentials, so they are answered without one.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** The one browser origin allowed (the Web UI's, e.g. https://temporal.example.com), no trailing slash. */
  allowedOrigin: string;
  /** false: /encode answers 403 (the UI then cannot craft encrypted signals or resets; decode only). */
  encode: boolean;
  /** Checks the Authorization header; returns why it is refused, or null when accepted. Unset: no token check. */
  verifyToken?: (authorization: string | undefined) => string | null;
  /** One line per refused request (never a payload or a token). */
  log?: (line: string) => void;
}

const MAX_BODY_BYTES = 32 * 1024 * 1024;
export const ALLOWED_HEADERS = ['Authorization', 'Content-Type', 'X-Namespace'] as const;

const base64 = z.string().regex(/^[A-Za-z0-9+/_-]*={0,2}$/, 'base64');
const payloadsBody = z.object({
  // Proto JSON leaves an empty list out: `temporal workflow show` sends `{}` for an update without arguments.
  payloads: z.array(z.object({ metadata: z.record(z.string(), base64).optional(), data: base64.optional() })).default([]),
});

const fromJson = (p: z.infer<typeof payloadsBody>['payloads'][number]): Payload => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, new Uint8Array(Buffer.from(v, 'base64'))])),
  data: new Uint8Array(Buffer.from(p.data ?? '', 'base64')),
});
const toJson = (p: Payload) => ({
  metadata: Object.fromEntries(Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v ?? new Uint8Array()).toString('base64')])),
  data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
});

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function readBody(req: http.IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        reject(new HttpError(413, `body larger than ${MAX_BODY_BYTES} bytes`));
        req.destroy();
      } else chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export function createCodecServer(o: CodecServerOptions): http.Server {
  const log = o.log ?? (() => undefined);
  const corsFor = (origin: string | undefined): Record<string, string> =>
    origin === o.allowedOrigin ? { 'Access-Control-Allow-Origin': origin, 'Access-Control-Allow-Credentials': 'true', Vary: 'Origin' } : { Vary: 'Origin' };

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    const cors = corsFor(origin);
    const url = new URL(req.url ?? '/', 'http://codec');
    // The protocol looks at the last path segment only, so the server can sit under any prefix.
    const op = url.pathname.split('/').filter(Boolean).pop();
    const reply = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      res.writeHead(status, { ...cors, ...extra, 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (req.method === 'GET' && op === 'health') return reply(200, { ok: true });
    if (op !== 'encode' && op !== 'decode') return reply(404, { error: 'not found: POST …/encode or …/decode' });
    if (origin !== undefined && origin !== o.allowedOrigin) {
      log(`refused ${req.method ?? '?'} /${op} from origin ${origin}`);
      return reply(403, { error: 'origin not allowed' });
    }
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        ...cors,
        'Access-Control-Allow-Methods': 'POST, OPTIONS',
        'Access-Control-Allow-Headers': ALLOWED_HEADERS.join(', '),
        'Access-Control-Max-Age': '600',
      });
      return void res.end();
    }
    if (req.method !== 'POST') return reply(405, { error: 'POST only' }, { Allow: 'POST, OPTIONS' });
    if (o.verifyToken) {
      const why = o.verifyToken(req.headers.authorization);
      if (why) {
        log(`refused /${op}: ${why}`);
        return reply(401, { error: `unauthorized: ${why}` }, { 'WWW-Authenticate': 'Bearer' });
      }
    }
    if (op === 'encode' && !o.encode) {
      log('refused /encode: encoding is disabled (--no-encode)');
      return reply(403, { error: 'encode is disabled on this codec server' });
    }
    let body: z.infer<typeof payloadsBody>;
    try {
      body = payloadsBody.parse(JSON.parse(await readBody(req)));
    } catch (err) {
      if (err instanceof HttpError) throw err;
      throw new HttpError(400, 'body is not {"payloads":[{"metadata":{…},"data":"<base64>"}]}');
    }
    const payloads = body.payloads.map(fromJson);
    let out: Payload[];
    try {
      out = op === 'encode' ? await o.codec.encode(payloads) : await o.codec.decode(payloads);
    } catch (err) {
      throw new HttpError(400, `cannot ${op}: ${(err as Error).message}`);
    }
    reply(200, { payloads: out.map(toJson) });
  }

  return http.createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 500;
      if (!res.headersSent) {
        res.writeHead(status, { ...corsFor(req.headers.origin), 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ error: err instanceof HttpError ? err.message : 'internal error' }));
      }
    });
  });
}

/** Starts listening; resolves with the bound address (port 0 picks a free one). */
export async function listenCodecServer(server: http.Server, host: string, port: number): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/**
 * One HTTP request with a chosen Host header (fetch does not let a caller set Host): how Drover talks to
 * Varnish's BAN endpoint and asks the farm's front whether a site answers. Network failures are classified
 * once here as `unavailable`; the caller decides what a status code means.
 */
import http from 'node:http';
import https from 'node:https';
import { failure } from './errors';

export interface HttpAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export function requestWithHost(url: string, opts: { method: string; host: string; timeoutMs?: number; signal?: AbortSignal; unavailable: 'CacheUnavailable' | 'SiteUnavailable'; body?: string; headers?: Record<string, string>; maxBody?: number }): Promise<HttpAnswer> {
  const u = new URL(url);
  const lib = u.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const req = lib.request(
      { protocol: u.protocol, hostname: u.hostname, port: u.port, path: `${u.pathname}${u.search}`, method: opts.method, headers: { ...opts.headers, Host: opts.host, ...(opts.body !== undefined ? { 'Content-Length': String(Buffer.byteLength(opts.body)) } : {}) }, servername: opts.host, signal: opts.signal, timeout: opts.timeoutMs ?? 15_000 },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body = (body + d).slice(0, opts.maxBody ?? 4096)));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', (err) => reject(failure(opts.unavailable, `${opts.method} ${url} (Host: ${opts.host}): ${err.message}`, { cause: err })));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs ?? 15_000} ms`)));
    req.on('error', (err) => reject(failure(opts.unavailable, `${opts.method} ${url} (Host: ${opts.host}): ${(err as NodeJS.ErrnoException).code ?? err.message}`, { cause: err })));
    req.end(opts.body);
  });
}

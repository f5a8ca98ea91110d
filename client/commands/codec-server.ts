/**
 * `drover codec-server`: serves Temporal's remote codec protocol with Drover's payload codec, so the Web UI (and
 * `temporal … --codec-endpoint`) show decrypted payloads to operators while the keys stay in this process.
 */
import { readFileSync, statSync } from 'node:fs';
import { Command } from 'commander';
import { z } from 'zod';
import { codecEnvSchema, mergedEnv, parseEnv } from '../../lib/env';
import { codecFromEnv } from '../../lib/payload-codec';
import { createCodecServer, listenCodecServer } from '../../lib/codec-server';
import { tokenCheck } from '../../lib/codec-token';
import { action, globals, parseOptions, UsageError } from '../output';

export const DEFAULT_CODEC_PORT = 8089;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** A regular file (a folder given as the token or key would fail later, reading it). */
function isFile(f: string): boolean {
  try {
    return statSync(f).isFile();
  } catch {
    return false;
  }
}

const optionsSchema = z.object({
  host: z.string().regex(/^[A-Za-z0-9.:-]+$/, 'a host name or IP address'),
  port: z.coerce.number().int().min(0).max(65535),
  uiOrigin: z
    .url({ error: (i) => (i.input === undefined ? 'is required (or DROVER_CODEC_UI_ORIGIN): the Web UI origin browsers call from' : 'a URL') })
    .refine((u) => /^https?:$/.test(new URL(u).protocol) && new URL(u).origin === u.replace(/\/$/, ''), 'an origin: scheme://host[:port], no path')
    .transform((u) => new URL(u).origin),
  encode: z.boolean(),
  tokenFile: z.string().refine(isFile, 'no such file (or not a regular file)').optional(),
  jwtPublicKey: z.string().refine(isFile, 'no such file (or not a regular file)').optional(),
  jwtIssuer: z.string().min(1).optional(),
  jwtAudience: z.string().min(1).optional(),
  insecureNoToken: z.boolean(),
});

export function codecServerCommand(): Command {
  return new Command('codec-server')
    .description('serve /encode and /decode for the Temporal Web UI (CORS for --ui-origin only); runs until SIGINT/SIGTERM')
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on', String(DEFAULT_CODEC_PORT))
    .option('--ui-origin <url>', 'the Web UI origin browsers may call from (env DROVER_CODEC_UI_ORIGIN)')
    .option('--no-encode', 'refuse /encode (the UI can then only read payloads, never write them)')
    .option('--token-file <file>', 'require `Authorization: Bearer <token>` with the token in this file')
    .option('--jwt-public-key <pem>', 'require a JWT signed by this key (RS256/ES256): the OIDC access token the Web UI forwards')
    .option('--jwt-issuer <iss>', 'the JWT must have this issuer')
    .option('--jwt-audience <aud>', 'the JWT must have this audience')
    .option('--insecure-no-token', 'listen beyond loopback without a token check (only behind a proxy that authenticates)', false)
    .action(
      action(async (raw, cmd) => {
        const g = globals(cmd);
        const env = mergedEnv(g.stateDir);
        const o = parseOptions(optionsSchema, { ...raw, uiOrigin: raw.uiOrigin ?? env.DROVER_CODEC_UI_ORIGIN });
        const authenticated = Boolean(o.tokenFile || o.jwtPublicKey);
        if (!authenticated && !LOOPBACK.test(o.host) && !o.insecureNoToken) {
          throw new UsageError('--host', `${o.host} is not loopback: give --token-file or --jwt-public-key (or --insecure-no-token behind an authenticating proxy)`);
        }
        if (o.tokenFile && readFileSync(o.tokenFile, 'utf8').trim().length < 16) throw new UsageError('--token-file', 'the token is shorter than 16 characters');
        if ((o.jwtIssuer || o.jwtAudience) && !o.jwtPublicKey) throw new UsageError('--jwt-public-key', 'needed with --jwt-issuer / --jwt-audience');
        const codec = codecFromEnv(parseEnv(codecEnvSchema, env));
        const verifyToken = tokenCheck({ tokenFile: o.tokenFile, jwtPublicKeyFile: o.jwtPublicKey, jwtIssuer: o.jwtIssuer, jwtAudience: o.jwtAudience });
        const server = createCodecServer({ codec, allowedOrigin: o.uiOrigin, encode: o.encode, verifyToken, log: (l) => process.stderr.write(`codec-server: ${l}\n`) });
        const addr = await listenCodecServer(server, o.host, o.port);
        const auth = o.jwtPublicKey ? `JWT${o.tokenFile ? ' or shared token' : ''}` : o.tokenFile ? 'shared token' : 'none';
        process.stderr.write(`codec server on http://${addr.address}:${addr.port} for ${o.uiOrigin} (encode ${o.encode ? 'on' : 'off'}, token check: ${auth})\n`);
        await new Promise<void>((resolve) => {
          const stop = () => {
            server.close(() => resolve());
            server.closeAllConnections(); // a browser's keep-alive connection would hold close() open
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return { ok: true, data: { stopped: true }, text: 'codec server stopped' };
      }),
    );
}

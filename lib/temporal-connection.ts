/**
 * Temporal connection settings for the CLI and the workers, from TEMPORAL_* variables: the local dev server,
 * a self-hosted cluster with mTLS, or Temporal Cloud with an API key.
 */
import { readFileSync } from 'node:fs';
import { Connection, Client } from '@temporalio/client';
import type { TemporalEnv } from './env';

export interface ConnectionSettings {
  address: string;
  namespace: string;
  apiKey?: string;
  tls?: boolean | { serverNameOverride?: string; serverRootCACertificate?: Buffer; clientCertPair?: { crt: Buffer; key: Buffer } };
}

export function connectionSettings(env: TemporalEnv): ConnectionSettings {
  const wantsTls = env.TEMPORAL_TLS ?? Boolean(env.TEMPORAL_API_KEY || env.TEMPORAL_TLS_CERT_PATH);
  let tls: ConnectionSettings['tls'];
  if (wantsTls) {
    tls = {
      serverNameOverride: env.TEMPORAL_TLS_SERVER_NAME,
      serverRootCACertificate: env.TEMPORAL_TLS_CA_PATH ? readFileSync(env.TEMPORAL_TLS_CA_PATH) : undefined,
      clientCertPair:
        env.TEMPORAL_TLS_CERT_PATH && env.TEMPORAL_TLS_KEY_PATH
          ? { crt: readFileSync(env.TEMPORAL_TLS_CERT_PATH), key: readFileSync(env.TEMPORAL_TLS_KEY_PATH) }
          : undefined,
    };
  }
  return { address: env.TEMPORAL_ADDRESS, namespace: env.TEMPORAL_NAMESPACE, apiKey: env.TEMPORAL_API_KEY, tls };
}

export async function connectClient(s: ConnectionSettings): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey, connectTimeout: 10_000 });
  return { client: new Client({ connection, namespace: s.namespace }), connection };
}

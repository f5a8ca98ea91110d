/**
 * Temporal connection settings for the CLI and the workers, from TEMPORAL_* variables: the local dev server,
 * a self-hosted cluster with mTLS, or Temporal Cloud with an API key.
 */
import { readFileSync } from 'node:fs';
import { Connection, Client, type WorkflowClientInterceptor } from '@temporalio/client';
import { defaultPayloadConverter, type DataConverter } from '@temporalio/common';
import { OPERATOR_HEADER } from './contract/audit';
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

/**
 * Puts the operator's name in the header of every workflow this client starts, for the audit record
 * (workflows/lib/audit.ts passes it on to child workflows). It is what the caller asserts, not verified here.
 */
export function operatorHeaderInterceptor(operator: string): WorkflowClientInterceptor {
  const withOperator = <T extends { headers: Record<string, unknown> }>(input: T): T => ({ ...input, headers: { ...input.headers, [OPERATOR_HEADER]: defaultPayloadConverter.toPayload(operator) } });
  return {
    start: (input, next) => next(withOperator(input)),
    startWithDetails: (input, next) => next(withOperator(input)),
    signalWithStart: (input, next) => next(withOperator(input)),
  };
}

/** A client whose payloads go through `dataConverter` (Drover's: lib/data-converter.ts), naming `operator`. */
export async function connectClient(s: ConnectionSettings, dataConverter: DataConverter, operator?: string): Promise<{ client: Client; connection: Connection }> {
  const connection = await Connection.connect({ address: s.address, tls: s.tls, apiKey: s.apiKey, connectTimeout: 10_000 });
  const interceptors = operator ? { workflow: [operatorHeaderInterceptor(operator)] } : undefined;
  return { client: new Client({ connection, namespace: s.namespace, dataConverter, interceptors }), connection };
}

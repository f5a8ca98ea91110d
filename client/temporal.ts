/** The CLI's Temporal client, from TEMPORAL_* variables layered over the local environment's env file. */
import type { Client, Connection } from '@temporalio/client';
import { mergedEnv, parseEnv, temporalEnvSchema } from '../lib/env';
import { connectClient, connectionSettings } from '../lib/temporal-connection';

export async function withTemporal<T>(stateDir: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const env = parseEnv(temporalEnvSchema, mergedEnv(stateDir));
  let conn: Connection | undefined;
  try {
    const c = await connectClient(connectionSettings(env));
    conn = c.connection;
    return await fn(c.client);
  } finally {
    await conn?.close();
  }
}

export function webUiLink(stateDir: string, workflowId: string): string | undefined {
  const env = mergedEnv(stateDir);
  const ui = env.DROVER_TEMPORAL_UI;
  const ns = env.TEMPORAL_NAMESPACE ?? 'default';
  return ui ? `${ui}/namespaces/${ns}/workflows/${encodeURIComponent(workflowId)}` : undefined;
}

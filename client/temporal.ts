/**
 * The CLI's Temporal client, from TEMPORAL_* variables layered over the local environment's env file, with the
 * payload codec (DROVER_CODEC_*): without its keys the CLI refuses to talk to Temporal, naming the variable.
 */
import os from 'node:os';
import { WorkflowExecutionAlreadyStartedError, type Client, type Connection, type WorkflowHandle, type WorkflowStartOptions } from '@temporalio/client';
import type { Workflow } from '@temporalio/common';
import { clientEnvSchema, mergedEnv, parseEnv } from '../lib/env';
import { droverDataConverter } from '../lib/data-converter';
import { connectClient, connectionSettings } from '../lib/temporal-connection';

/** Who the audit record names for what this CLI starts: DROVER_OPERATOR, else the OS user. */
export function operatorName(fromEnv?: string): string {
  if (fromEnv) return fromEnv;
  try {
    return os.userInfo().username;
  } catch {
    return `uid:${process.getuid?.() ?? '?'}`;
  }
}

export async function withTemporal<T>(stateDir: string, fn: (client: Client) => Promise<T>): Promise<T> {
  const env = parseEnv(clientEnvSchema, mergedEnv(stateDir));
  const dataConverter = droverDataConverter(env);
  let conn: Connection | undefined;
  try {
    const c = await connectClient(connectionSettings(env), dataConverter, operatorName(env.DROVER_OPERATOR));
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

/**
 * Starts a workflow by reference (its input and result typed by the workflow function), or attaches to the run
 * already going under the same ID (`attached`): re-running a command joins its workflow instead of failing.
 */
export async function startOrAttach<W extends Workflow>(client: Client, workflow: W, options: WorkflowStartOptions<W>): Promise<{ handle: WorkflowHandle<W>; attached: boolean }> {
  try {
    return { handle: await client.workflow.start(workflow, options), attached: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle<W>(options.workflowId), attached: true };
  }
}

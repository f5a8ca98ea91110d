/**
 * The one check that no secret entered a workflow history. Payloads are bytes (JSON encoded, then base64 once
 * the history is serialised), so searching the serialised history finds nothing, and JSON escaping hides any
 * secret with a quote or a newline. Instead every event is walked: each byte field is decoded as UTF-8 and,
 * when it is JSON, parsed and walked in turn; each string (and base64 text, decoded) is searched as it is.
 * Each hit names the event it sits in.
 */
import { temporal } from '@temporalio/proto';

export interface Secret {
  /** What the secret is, for the report (never its value). */
  name: string;
  /** Its exact text, or a pattern (e.g. /PRIVATE KEY/). */
  value: string | RegExp;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4}){2,}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Every piece of text in a value: strings, decoded bytes, the JSON inside them, base64 decoded. */
function texts(value: unknown, out: string[], depth = 0, skip: ReadonlySet<string> = new Set()): void {
  if (value === null || value === undefined || depth > 32) return;
  if (typeof value === 'string') {
    out.push(value);
    if (BASE64.test(value)) texts(Buffer.from(value, 'base64'), out, depth + 1, skip);
    return;
  }
  if (value instanceof Uint8Array) {
    const text = Buffer.from(value).toString('utf8');
    out.push(text);
    try {
      texts(JSON.parse(text), out, depth + 1, skip);
    } catch {
      // not JSON: the text itself was searched
    }
    return;
  }
  if (typeof value !== 'object') return;
  if (Array.isArray(value)) value.forEach((v) => texts(v, out, depth + 1, skip));
  else for (const [k, v] of Object.entries(value as Record<string, unknown>)) if (!skip.has(k)) texts(v, out, depth + 1, skip);
}

/** What is readable in a history by design: workflow IDs and search attributes carry domains, never secrets. */
export const READABLE_BY_DESIGN = ['workflowId', 'searchAttributes'] as const;

/**
 * Every text in a history as `temporal workflow show --output json` prints it (payload bytes in base64, decoded
 * and, when JSON, parsed in turn), leaving out the keys in `skip`.
 */
export function textsOf(historyJson: unknown, skip: readonly string[] = READABLE_BY_DESIGN): string[] {
  const out: string[] = [];
  texts(historyJson, out, 0, new Set(skip));
  return out;
}

const eventName = (e: temporal.api.history.v1.IHistoryEvent): string => {
  // A history read from `temporal workflow show --output json` names the type; one from the SDK numbers it.
  const type = e.eventType as unknown;
  const name = typeof type === 'string' ? type : (temporal.api.enums.v1.EventType[(type as number | undefined) ?? 0] ?? String(type));
  return name.replace(/^EVENT_TYPE_/, '').toLowerCase().replace(/(^|_)([a-z])/g, (_m, _s, c: string) => c.toUpperCase());
};

/** "<secret name> in event <id> (<type>)" for every secret in every event holding it; empty when clean. */
export function secretsInHistory(history: temporal.api.history.v1.IHistory, secrets: Secret[]): string[] {
  const found: string[] = [];
  for (const event of history.events ?? []) {
    const all: string[] = [];
    texts(event, all);
    for (const s of secrets) {
      if (all.some((t) => (typeof s.value === 'string' ? t.includes(s.value) : s.value.test(t)))) found.push(`${s.name} in event ${String(event.eventId)} (${eventName(event)})`);
    }
  }
  return found;
}

/** What fetches one workflow execution's history (a Temporal client's `workflow`). */
interface HistorySource {
  getHandle(workflowId: string, runId?: string): { fetchHistory(): Promise<temporal.api.history.v1.IHistory> };
}

/**
 * Like secretsInHistory, over a workflow and every child workflow it started, their children too: a secret a
 * child's activity received sits only in the child's history. Each hit names the workflow ID it sits in.
 */
export async function secretsInWorkflowTree(client: HistorySource, workflowId: string, secrets: Secret[], runId?: string): Promise<string[]> {
  const history = await client.getHandle(workflowId, runId).fetchHistory();
  const found = secretsInHistory(history, secrets).map((f) => `${f} of ${workflowId}`);
  for (const e of history.events ?? []) {
    const child = e.childWorkflowExecutionStartedEventAttributes?.workflowExecution;
    if (child?.workflowId) found.push(...(await secretsInWorkflowTree(client, child.workflowId, secrets, child.runId ?? undefined)));
  }
  return found;
}

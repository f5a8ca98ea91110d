import type { Page } from 'playwright-core';

const RELOAD_MS = 5_000;

/**
 * Opens the Temporal Web UI's workflow list for a visibility query and waits until every text in `texts` is shown,
 * loading the page again every 5 s until `timeoutMs` (the last load also gets its full 5 s): the list is read once
 * per load, and a workflow's close reaches visibility a moment after its parent has seen it fail (on a loaded
 * machine, more than a moment). The texts come from one list response: the first is waited for, the others
 * counted once it shows. A load or wait that times out is tried again; any other error is thrown.
 */
export async function waitForListed(page: Page, uiPort: number, query: string, texts: string[], timeoutMs = 60_000): Promise<void> {
  const url = `http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
  const deadline = Date.now() + timeoutMs;
  const timedOut = (err: unknown) => {
    if ((err as Error).name !== 'TimeoutError') throw err;
    return false;
  };
  let missing = texts;
  for (;;) {
    const loaded = await page.goto(url, { timeout: 30_000 }).then(() => true, timedOut);
    if (loaded && (await page.getByText(texts[0]).first().waitFor({ timeout: RELOAD_MS }).then(() => true, timedOut))) {
      missing = [];
      for (const t of texts) if ((await page.getByText(t).count()) === 0) missing.push(t);
      if (missing.length === 0) return;
    }
    if (Date.now() >= deadline) throw new Error(`the Web UI's list for ${query} never showed ${missing.join(', ')} in ${timeoutMs} ms`);
  }
}

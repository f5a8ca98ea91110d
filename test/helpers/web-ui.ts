import type { Page } from 'playwright-core';

/**
 * Opens the Temporal Web UI's workflow list for a visibility query and waits until every text in `texts` is shown,
 * loading the page again every 5 s until `timeoutMs`: the list is read once per load, and a workflow's close
 * reaches visibility a moment after its parent has seen it fail (on a loaded machine, more than a moment).
 */
export async function waitForListed(page: Page, uiPort: number, query: string, texts: string[], timeoutMs = 60_000): Promise<void> {
  const url = `http://127.0.0.1:${uiPort}/namespaces/default/workflows?query=${encodeURIComponent(query)}`;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    await page.goto(url);
    const missing: string[] = [];
    for (const t of texts) {
      const wait = Math.max(1, Math.min(5_000, deadline - Date.now()));
      if (!(await page.getByText(t).first().waitFor({ timeout: wait }).then(() => true, () => false))) missing.push(t);
    }
    if (missing.length === 0) return;
    if (Date.now() >= deadline) throw new Error(`the Web UI's list for ${query} never showed ${missing.join(', ')} in ${timeoutMs} ms`);
  }
}

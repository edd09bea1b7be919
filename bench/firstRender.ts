// The dashboard page in Debian's Chromium (/usr/bin/chromium), and the first-render timing that
// the dashboard's floors (dashboard.ts) and the PostgreSQL store's (postgresStore.ts) share.
import { type Browser, chromium, type Page } from "playwright-core";

/** A headless Chromium without the services that would add network or CPU noise to a timing. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** A page of the size the floors are stated for (every column of the cockpit side by side). */
export function dashboardPage(browser: Browser): Promise<Page> {
  return browser.newPage({ viewport: { width: 1500, height: 1400 } });
}

/**
 * Loads the dashboard at `url` showing each of `runIds` in turn and returns each first render's
 * time in ms from navigation to the page's `data-ready` mark (all its instruments drawn).
 */
export async function firstRenderTimes(page: Page, url: string, runIds: readonly string[], timeoutMs: number): Promise<number[]> {
  const times: number[] = [];
  for (const id of runIds) {
    // Through a blank page: a new fragment alone would be a same-document navigation, which
    // keeps the previous render (and its clock) instead of loading the run afresh.
    await page.goto("about:blank");
    await page.goto(`${url}#run=${encodeURIComponent(id)}`);
    await page.waitForSelector("body[data-ready]", { timeout: timeoutMs });
    times.push(Math.round((await page.evaluate(() => performance.now())) as number));
  }
  return times;
}

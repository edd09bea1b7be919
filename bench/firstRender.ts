// The dashboard page in Debian's Chromium (/usr/bin/chromium), and the first-render timing that
// the dashboard's floors (dashboard.ts) and the PostgreSQL store's (postgresStore.ts) share.
import { readdirSync, readFileSync } from "node:fs";
import { type Browser, chromium, type Page } from "playwright-core";

// CPU seconds used so far by this process's descendants (Linux): Chromium's browser, GPU,
// utility and renderer processes. Null where /proc cannot tell.
function descendantsCpuSeconds(): number | null {
  let processes: Array<{ pid: number; parent: number; seconds: number }>;
  try {
    processes = readdirSync("/proc")
      .filter((name) => /^\d+$/.test(name))
      .flatMap((pid) => {
        try {
          const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
          const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
          return [{ pid: Number(pid), parent: Number(fields[1]), seconds: (Number(fields[11]) + Number(fields[12])) / 100 }];
        } catch {
          return []; // ended meanwhile
        }
      });
  } catch {
    return null;
  }
  const ours = new Set([process.pid]);
  let grown = true;
  while (grown) {
    grown = false;
    for (const p of processes)
      if (!ours.has(p.pid) && ours.has(p.parent)) {
        ours.add(p.pid);
        grown = true;
      }
  }
  return processes.filter((p) => p.pid !== process.pid && ours.has(p.pid)).reduce((sum, p) => sum + p.seconds, 0);
}

/**
 * Waits until the browser has finished setting up: for 0.5 s its processes use less than a tenth
 * of a core (at most 15 s). A new Chromium spends about 0.5 s of CPU starting, and its first
 * window about 1 s more in the following seconds (a WebUI renderer for the omnibox popup), which a
 * page loaded at once would share the cores with: a user's browser has done that long before
 * they open the dashboard.
 */
async function settled(): Promise<void> {
  const deadline = performance.now() + 15_000;
  let before = descendantsCpuSeconds();
  while (before !== null && performance.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const now = descendantsCpuSeconds();
    if (now === null || now - before < 0.05) return;
    before = now;
  }
}

/** A headless Chromium without the services that would add network or CPU noise to a timing. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/**
 * A page of the size the floors are stated for (every column of the cockpit side by side), once
 * the browser has finished setting it up (see `settled`).
 */
export async function dashboardPage(browser: Browser): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: 1500, height: 1400 } });
  await settled();
  return page;
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

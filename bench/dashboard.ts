// The dashboard's floors: first render and frame times with a large store while values stream
// in, and training throughput with the page open. Needs Debian's Chromium (/usr/bin/chromium).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { startDashboardWorker } from "../src/dashboard/launch.ts";
import type { RunStore } from "../src/store/runStore.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { dashboardPage, firstRenderTimes, launchChromium } from "./firstRender.ts";
import { median } from "./timing.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "gradscope.js");
const keys = [
  "train/loss",
  "train/lr",
  "train/grad_norm",
  ...["Alpha", "NormTest", "InnerTest", "OrthoTest", "HessMaxEV", "TICDiag", "TICTrace", "Loss"].map((k) => `quantities/${k}`),
  ...Array.from({ length: 9 }, (_, i) => `custom/q${i}`),
];

/** Fills a store with `runs` runs of 20 scalar series of `steps` steps each. */
function largeStore(path: string, runs: number, steps: number): RunStore {
  const store = new SqliteRunStore(path);
  // Rows straight into the table (a connection of its own): the store's buffered log() is made for a step's handful.
  const db = new Database(path);
  const insert = db.prepare("INSERT INTO scalars (run_id, key, step, wall_time, value) VALUES (?, ?, ?, ?, ?)");
  for (let r = 0; r < runs; r++) {
    const id = `run-${r}`;
    store.createRun({ id, name: id, config: { optimizer: { name: "sgd", lr: 0.1 * (r + 1) } } });
    db.transaction(() => {
      for (const key of keys) for (let step = 0; step < steps; step++) insert.run(id, key, step, step, Math.exp(-step / steps) + 0.1 * Math.sin(step + r));
    })();
  }
  db.close();
  return store;
}

/**
 * First render of a run and the longest frame while 20 values per step stream in at 50 steps/s,
 * with 5 runs × 20 quantities × 100k steps in the store.
 */
export async function dashboardAtScale(): Promise<{ rows: number; fillSeconds: number; firstRenderMs: number[]; longestFrameMs: number; longTasks: number }> {
  const runs = 5;
  const steps = 100_000;
  const started = performance.now();
  const store = largeStore(join(mkdtempSync(join(tmpdir(), "gradscope-bench-")), "gradscope.db"), runs, steps);
  const fillSeconds = (performance.now() - started) / 1000;
  const dashboard = await startDashboardWorker({ store: store.location });
  const browser = await launchChromium();
  try {
    const page = await dashboardPage(browser);
    const firstRenderMs = await firstRenderTimes(page, dashboard.url, ["run-0", "run-1", "run-2"], 60_000);
    // A string, not a function: tsx would wrap named closures in a helper the page lacks.
    await page.evaluate(`
      window.frames_ = [];
      window.longTasks_ = [];
      new PerformanceObserver((list) => { for (const e of list.getEntries()) window.longTasks_.push(e.duration); }).observe({ type: "longtask" });
      let last = performance.now();
      const frame = (now) => { window.frames_.push(now - last); last = now; requestAnimationFrame(frame); };
      requestAnimationFrame(frame);
    `);
    for (let step = steps; step < steps + 500; step++) {
      for (const key of keys) store.log("run-2", key, step, Math.random());
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    store.flush();
    await page.waitForTimeout(1000);
    const { frames, longTasks } = (await page.evaluate("({ frames: window.frames_, longTasks: window.longTasks_ })")) as { frames: number[]; longTasks: number[] };
    return { rows: runs * keys.length * steps, fillSeconds, firstRenderMs, longestFrameMs: Math.max(...frames), longTasks: longTasks.filter((d) => d > 100).length };
  } finally {
    await browser.close();
    await dashboard.close();
    store.close();
  }
}

/** Training throughput with and without the page, from windows of one training run. */
export interface AlternatingThroughput {
  /** Per streaming window: its steps/s ÷ the mean steps/s of the frozen windows either side. */
  streaming: number[];
  /** The same for the control windows, which are frozen too: the spread the host's drift leaves. */
  control: number[];
  /**
   * Medians over the windows of each kind of the share of the time the trainer's main thread
   * waited for a CPU: no page at all, the page frozen, the page streaming.
   */
  waitShare: { none: number; frozen: number; streaming: number };
}

/** What the page does during one measuring window: not there yet, frozen, or streaming. */
type WindowKind = "none" | "frozen" | "streaming" | "control";

// Seconds the main thread of process `pid` has waited in the run queue (Linux); null once the
// process has gone.
function runQueueWait(pid: number): number | null {
  try {
    return Number(readFileSync(`/proc/${pid}/task/${pid}/schedstat`, "utf8").split(" ")[1]) / 1e9;
  } catch {
    return null;
  }
}

// Steps/s over the steps logged within [from, to]: their count over the time they span, leaving
// out gaps longer than `pause` seconds (an epoch's evaluation and checkpoint), where no step runs.
function stepRate(wallTimes: number[], from: number, to: number, pause: number): number {
  let seconds = 0;
  let count = 0;
  let previous: number | undefined;
  for (const time of wallTimes) {
    if (time < from || time > to) continue;
    if (previous !== undefined && time - previous < pause) {
      seconds += time - previous;
      count++;
    }
    previous = time;
  }
  return count / seconds;
}

/**
 * Training throughput with the page open and streaming, within one training run (Fashion-MNIST
 * MLP, SGD, economy quantities, with --dashboard). First a few windows with no page give the
 * trainer's wait for a CPU without the dashboard. Then the page is loaded once and cycles
 * through windows of `windowSeconds`: frozen, streaming, frozen, control (frozen). A frozen page
 * (Chrome's lifecycle freeze) runs no script and renders nothing, while its stream stays
 * connected; thawed, it catches up on what arrived. Each streaming and control window's step
 * rate is divided by its frozen neighbours' mean, so host drift slower than a window cancels
 * out, and the control ratios show what is left of it. Short windows without reloads give
 * many windows: the host's speed moves by several percent from one second to the next.
 */
export async function throughputWithDashboard(epochs = 24, windowSeconds = 1): Promise<AlternatingThroughput> {
  const runsDir = mkdtempSync(join(tmpdir(), "gradscope-bench-runs-"));
  const config = join(root, "examples", "fashion-mnist-mlp.yaml");
  // Plain SGD takes Alpha's fast path, so the epoch is dominated by training, not diagnostics.
  const args = [bin, "train", "-c", config, "-q", `training.runs_dir=${runsDir}`, `training.epochs=${epochs}`, "optimizer.name=sgd", "quantities=economy", "--dashboard"];
  const child = spawn(process.execPath, args, { cwd: root });
  let text = "";
  const collect = (chunk: Buffer) => {
    text += chunk;
  };
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  let running = true;
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  void exited.then(() => {
    running = false;
  });
  const pid = child.pid as number;
  const windows: Array<{ kind: WindowKind; from: number; to: number; wait: number }> = [];
  // One window of `kind`; false once the training has ended.
  const measure = async (kind: WindowKind): Promise<boolean> => {
    const from = Date.now() / 1000;
    const waitedBefore = runQueueWait(pid);
    await Promise.race([new Promise((resolve) => setTimeout(resolve, windowSeconds * 1000)), exited]);
    const to = Date.now() / 1000;
    const waitedAfter = runQueueWait(pid);
    if (!running || waitedBefore === null || waitedAfter === null) return false;
    windows.push({ kind, from, to, wait: (waitedAfter - waitedBefore) / (to - from) });
    return true;
  };
  const browser = await launchChromium();
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const check = () => {
        const match = /dashboard: (\S+)/.exec(text);
        if (match) resolve(match[1]);
        else if (!running) reject(new Error(`the benchmark's training failed: ${text}`));
        else setTimeout(check, 20);
      };
      check();
    });
    for (let i = 0; i < 5; i++) await measure("none");
    const page = await dashboardPage(browser);
    const session = await page.context().newCDPSession(page);
    // The training may end during the page load, which then fails or never completes.
    const shown = page
      .goto(url)
      .then(() => page.waitForSelector("body[data-ready]"))
      .then(() => page.waitForTimeout(2000))
      .catch((error) => {
        if (running) throw error;
      });
    await Promise.race([shown, exited]);
    const cycle: WindowKind[] = ["frozen", "streaming", "frozen", "control"];
    let frozen = false;
    for (let i = 0; running; i++) {
      const kind = cycle[i % cycle.length];
      if (frozen !== (kind !== "streaming")) {
        frozen = !frozen;
        await session.send("Page.setWebLifecycleState", { state: frozen ? "frozen" : "active" });
      }
      if (!(await measure(kind))) break;
    }
    await exited;
  } finally {
    await browser.close();
  }
  if (!/run directory/.test(text)) throw new Error(`the benchmark's training failed: ${text}`);
  const store = new Database(join(runsDir, "gradscope.db"), { readonly: true });
  const rows = store.prepare("SELECT wall_time FROM scalars WHERE key = 'train/loss' ORDER BY step").all() as Array<{ wall_time: number }>;
  store.close();
  const wallTimes = rows.map((row) => row.wall_time);
  const rates = windows.map((w) => stepRate(wallTimes, w.from, w.to, 0.25));
  const result: AlternatingThroughput = { streaming: [], control: [], waitShare: { none: 0, frozen: 0, streaming: 0 } };
  for (let i = 0; i + 2 < windows.length; i++) {
    const kind = windows[i + 1].kind;
    if (windows[i].kind !== "frozen" || windows[i + 2].kind !== "frozen" || (kind !== "streaming" && kind !== "control")) continue;
    const ratio = rates[i + 1] / ((rates[i] + rates[i + 2]) / 2);
    // A window spent wholly in an epoch's evaluation has no steps.
    if (Number.isFinite(ratio)) result[kind].push(ratio);
  }
  const waitsOf = (...kinds: WindowKind[]) => windows.filter((w) => kinds.includes(w.kind)).map((w) => w.wait);
  result.waitShare = { none: median(waitsOf("none")), frozen: median(waitsOf("frozen", "control")), streaming: median(waitsOf("streaming")) };
  return result;
}

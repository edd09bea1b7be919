// The dashboard's floors: first render and frame times with a large store while values stream
// in, and training throughput with the page open. Needs Debian's Chromium (/usr/bin/chromium).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { type Browser, chromium } from "playwright-core";
import { startDashboardWorker } from "../src/dashboard/launch.ts";
import { RunStore } from "../src/store/runStore.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "gradscope.js");
const keys = [
  "train/loss",
  "train/lr",
  "train/grad_norm",
  ...["Alpha", "NormTest", "InnerTest", "OrthoTest", "HessMaxEV", "TICDiag", "TICTrace", "Loss"].map((k) => `quantities/${k}`),
  ...Array.from({ length: 9 }, (_, i) => `custom/q${i}`),
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
}

/** Fills a store with `runs` runs of 20 scalar series of `steps` steps each. */
function largeStore(path: string, runs: number, steps: number): RunStore {
  const store = new RunStore(path);
  const insert = store.db.prepare("INSERT INTO scalars (run_id, key, step, wall_time, value) VALUES (?, ?, ?, ?, ?)");
  for (let r = 0; r < runs; r++) {
    const id = `run-${r}`;
    store.createRun({ id, name: id, config: { optimizer: { name: "sgd", lr: 0.1 * (r + 1) } } });
    store.db.transaction(() => {
      for (const key of keys) for (let step = 0; step < steps; step++) insert.run(id, key, step, step, Math.exp(-step / steps) + 0.1 * Math.sin(step + r));
    })();
  }
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
  const dashboard = await startDashboardWorker({ storePath: store.path });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1400 } });
    const firstRenderMs: number[] = [];
    for (let i = 0; i < 3; i++) {
      // Through a blank page: a new fragment alone would be a same-document navigation, which
      // keeps the previous render (and its clock) instead of loading the run afresh.
      await page.goto("about:blank");
      await page.goto(`${dashboard.url}#run=run-${i}`);
      await page.waitForSelector("body[data-ready]", { timeout: 60_000 });
      firstRenderMs.push(await page.evaluate(() => performance.now()));
    }
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

/** One benchmark training run: its epochs' own time, when each step's loss was logged, and (with the page) the wall time at which the page first showed data. */
interface TrainingRun {
  seconds: number;
  steps: Array<{ step: number; wall_time: number }>;
  pageReadyAt?: number;
}

/** One CLI training run, optionally with the dashboard open in Chromium. */
async function trainingRun(withDashboard: boolean, browser: Browser): Promise<TrainingRun> {
  const runsDir = mkdtempSync(join(tmpdir(), "gradscope-bench-runs-"));
  // Plain SGD takes Alpha's fast path, so the epoch is dominated by training, not diagnostics.
  const args = [
    bin,
    "train",
    "-c",
    join(root, "examples", "fashion-mnist-mlp.yaml"),
    "-q",
    `training.runs_dir=${runsDir}`,
    "training.epochs=2",
    "optimizer.name=sgd",
    "quantities=economy",
  ];
  const child = spawn(process.execPath, withDashboard ? [...args, "--dashboard"] : args, { cwd: root });
  let text = "";
  child.stdout.on("data", (chunk) => {
    text += chunk;
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  let pageReadyAt: number | undefined;
  if (withDashboard) {
    const url = await new Promise<string>((resolve) => {
      const check = () => {
        const match = /dashboard: (\S+)/.exec(text);
        if (match) resolve(match[1]);
        else setTimeout(check, 20);
      };
      check();
    });
    const page = await browser.newPage({ viewport: { width: 1500, height: 1400 } });
    await page.goto(url);
    await page.waitForSelector("body[data-ready]");
    pageReadyAt = Date.now() / 1000;
    await exited;
    await page.close();
  } else await exited;
  const directory = /run directory (\S+)/.exec(text)?.[1];
  if (!directory) throw new Error(`the benchmark's training failed: ${text}`);
  const store = new Database(join(runsDir, "gradscope.db"), { readonly: true });
  const steps = store.prepare("SELECT step, wall_time FROM scalars WHERE key = 'train/loss' ORDER BY step").all() as TrainingRun["steps"];
  store.close();
  return { seconds: JSON.parse(readFileSync(join(directory, "summary.json"), "utf8")).train_seconds, steps, pageReadyAt };
}

// Seconds between logging step `from` (or the first after it) and the last step.
function secondsFrom(run: TrainingRun, from: number): number {
  const first = run.steps.find((s) => s.step >= from) ?? run.steps[0];
  return run.steps[run.steps.length - 1].wall_time - first.wall_time;
}

/** Training throughput with and without the page, from alternated pairs of runs. */
export interface DashboardThroughput {
  /** The epochs' own seconds of each run, the page's start-up included. */
  without: number[];
  withPage: number[];
  /** Per pair: the steps after the page first showed data, seconds without ÷ seconds with the page. */
  streamingRatios: number[];
}

/** Two Fashion-MNIST MLP epochs (SGD, economy quantities) with and without the page open, alternated `runs` times. */
export async function throughputWithDashboard(runs = 3): Promise<DashboardThroughput> {
  const browser = await launchChromium();
  const result: DashboardThroughput = { without: [], withPage: [], streamingRatios: [] };
  try {
    for (let i = 0; i < runs; i++) {
      const plain = await trainingRun(false, browser);
      const viewed = await trainingRun(true, browser);
      result.without.push(plain.seconds);
      result.withPage.push(viewed.seconds);
      const readyStep = viewed.steps.find((s) => s.wall_time >= (viewed.pageReadyAt ?? 0))?.step ?? 0;
      result.streamingRatios.push(secondsFrom(plain, readyStep) / secondsFrom(viewed, readyStep));
    }
  } finally {
    await browser.close();
  }
  return result;
}

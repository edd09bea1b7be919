// The dashboard's floors: first render and frame times with a large store while values stream
// in, and training throughput with the page open. Needs Debian's Chromium (/usr/bin/chromium).
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
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

/** Seconds of training (the epochs' own time) of one CLI run, optionally with the dashboard open in Chromium. */
async function trainSeconds(withDashboard: boolean, browser: Browser): Promise<number> {
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
    await exited;
    await page.close();
  } else await exited;
  const directory = /run directory (\S+)/.exec(text)?.[1];
  if (!directory) throw new Error(`the benchmark's training failed: ${text}`);
  return JSON.parse(readFileSync(join(directory, "summary.json"), "utf8")).train_seconds;
}

/** Training time of two Fashion-MNIST MLP epochs (SGD, economy quantities) with and without the page open, alternated `runs` times. */
export async function throughputWithDashboard(runs = 3): Promise<{ without: number[]; withPage: number[] }> {
  const browser = await launchChromium();
  const without: number[] = [];
  const withPage: number[] = [];
  try {
    for (let i = 0; i < runs; i++) {
      without.push(await trainSeconds(false, browser));
      withPage.push(await trainSeconds(true, browser));
    }
  } finally {
    await browser.close();
  }
  return { without, withPage };
}

// The dashboard in a real browser: Playwright drives Debian's Chromium (apt-get install chromium;
// .ci/run installs it) against `gradscope train --dashboard` and a store with a finished run.
import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Page } from "playwright-core";
import { startDashboard } from "../src/dashboard/server.ts";
import type { RunStore } from "../src/store/runStore.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { openSweepStore } from "../src/store/sweeps.ts";

const CHROMIUM = "/usr/bin/chromium";
const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "gradscope.js");
const output = join(root, "test-output");
const folder = mkdtempSync(join(tmpdir(), "gradscope-browser-"));
const storePath = join(folder, "gradscope.db");
const spirals = join(root, "examples", "spirals.yaml");
const common = [`training.runs_dir=${folder}`, "data.samples=512", "callbacks.progress.every=1000"];

/** Starts `gradscope train --dashboard` and resolves with the process and the page's address. */
function trainWithDashboard(overrides: string[]): Promise<{ child: ChildProcess; url: string; exited: Promise<number | null>; output: () => string }> {
  const child = spawn(process.execPath, [bin, "train", "-c", spirals, "--dashboard", ...common, ...overrides], { cwd: root });
  let text = "";
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer) => {
      text += chunk;
      const match = /dashboard: (http:\/\/\S+)/.exec(text);
      if (match) resolve({ child, url: match[1], exited, output: () => text });
    };
    child.stdout.on("data", onData);
    child.stderr.on("data", onData);
    void exited.then((code) => reject(new Error(`training exited (${code}) before serving: ${text}`)));
  });
}

/** Distinct colors on a panel's canvas: a blank canvas has one or two, a drawn instrument many. */
const canvasColors = (page: Page, panel: string) =>
  page.$eval(`[data-panel="${panel}"] canvas`, (canvas) => {
    const c = canvas as HTMLCanvasElement;
    const pixels = (c.getContext("2d") as CanvasRenderingContext2D).getImageData(0, 0, c.width, c.height).data;
    const colors = new Set<number>();
    for (let i = 0; i < pixels.length; i += 16) colors.add((pixels[i] << 16) | (pixels[i + 1] << 8) | pixels[i + 2]);
    return colors.size;
  });

const points = (page: Page, panel: string) => page.$eval(`[data-panel="${panel}"]`, (e) => Number((e as HTMLElement).dataset.points ?? 0));

test("the dashboard shows a training run live: every instrument, new points without reload, the step slider, run overlay, the stop button", { timeout: 180_000 }, async (t) => {
  assert.ok(existsSync(CHROMIUM), `the browser tests need Debian's Chromium at ${CHROMIUM} (apt-get install chromium)`);
  mkdirSync(output, { recursive: true });
  const finished = spawnSync(process.execPath, [bin, "train", "-c", spirals, "-q", ...common, "quantities=full", "training.epochs=2", "name=finished"], {
    cwd: root,
    encoding: "utf8",
  });
  assert.equal(finished.status, 0, finished.stderr);
  // The live run adds per-parameter gradient histograms to Cockpit's full configuration.
  const live = await trainWithDashboard(["quantities=full", "quantities.grad_hist_1d.per_parameter=true", "training.epochs=500", "name=live"]);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  try {
    const page = await browser.newPage({ viewport: { width: 1500, height: 1400 } });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    const store = new SqliteRunStore(storePath);
    const runs = store.listRuns();
    const liveRun = runs.find((r) => r.name === "live") as { id: string };
    const finishedRun = runs.find((r) => r.name === "finished") as { id: string };
    // The page opens once the run has logged its first step's quantities, so that the first
    // render below has all of its series to ask for (the server starts before the training).
    while (store.keys(liveRun.id).scalars.length < 10) await new Promise((resolve) => setTimeout(resolve, 50));
    await page.goto(live.url);
    await page.waitForSelector("body[data-ready]");
    assert.equal(await page.textContent("#run-status"), "running", "the running run is shown first");
    // The requests of the first render: those started before it finished (the stream may bring
    // new keys soon after, and with them a new layout).
    const firstLoad = (await page.evaluate(
      `performance.getEntriesByType("resource").filter((e) => e.startTime <= Number(document.body.dataset.ready)).map((e) => new URL(e.name))`,
    )) as Array<{ pathname: string; search: string }>;
    // It asks for its scalar series together: one request per chart width, not one per series.
    const scalarRequests = firstLoad.filter((url) => url.pathname.endsWith("/scalars")).map((url) => new URLSearchParams(url.search).getAll("key").length);
    const seriesRequested = scalarRequests.reduce((a, b) => a + b, 0);
    // (At least the seven series of the first step: the three tests, HessMaxEV, TICDiag, lr, loss.)
    assert.ok(seriesRequested >= 7 && scalarRequests.length <= 2, `${seriesRequested} series in ${scalarRequests.length} requests`);
    // boot.js asks for the run list and the run shown while the other modules load; main.js
    // takes those answers over instead of asking again.
    assert.deepEqual(
      firstLoad.map((url) => url.pathname).filter((path) => path === "/api/runs" || path === `/api/runs/${liveRun.id}`),
      ["/api/runs", `/api/runs/${liveRun.id}`],
    );

    // Every instrument of the full configuration renders with data (the system panel samples
    // every 2 s and accuracy arrives with the first epoch).
    const lineCharts = ["distance", "grad-norm", "gradient-tests-history", "max-ev", "trace", "tic", "hyperparameters", "loss", "accuracy", "system", "memory", "layers-GradNorm"];
    for (const panel of lineCharts)
      await page.waitForFunction((p) => Number(document.querySelector<HTMLElement>(`[data-panel="${p}"]`)?.dataset.points ?? 0) > 0, panel, { timeout: 30_000 });
    for (const panel of ["alpha", "gradient-tests", "hist-1d", "hist-heatmap", "hist-2d"]) {
      await page.waitForFunction((p) => document.querySelector(`[data-panel="${p}"]`) !== null, panel);
      // A canvas panel draws once its own request (e.g. alpha's distribution) has answered.
      const deadline = Date.now() + 10_000;
      while ((await canvasColors(page, panel)) <= 8 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
      assert.ok((await canvasColors(page, panel)) > 8, `${panel} is drawn`);
    }
    // A key seen for the first time relays the page out, and a rebuilt chart names its lines once
    // its series have loaded again: wait for the names rather than read them at one moment.
    const legendOf = () => page.$$eval('[data-panel="layers-GradNorm"] .u-legend .u-label', (labels) => labels.map((l) => l.textContent));
    await page
      .waitForFunction(() => [...document.querySelectorAll('[data-panel="layers-GradNorm"] .u-legend .u-label')].some((l) => l.textContent === "4.bias"), undefined, {
        timeout: 10_000,
      })
      .catch(() => undefined);
    const legend = await legendOf();
    assert.ok(legend.includes("0.weight") && legend.includes("4.bias"), `per-parameter lines are named: ${legend.join(", ")}`);
    // One gradient histogram per parameter, in the per-layer section.
    const parameters = store.getRun(liveRun.id).parameters ?? [];
    const layerHistogram = (name: string) => `layer-quantities/GradHist1d/${name}`;
    assert.deepEqual(
      await page.$$eval("#layers [data-panel^='layer-quantities/GradHist1d/']", (panels) => panels.map((p) => (p as HTMLElement).dataset.panel)),
      parameters.map(layerHistogram),
    );
    for (const name of parameters) assert.ok((await canvasColors(page, layerHistogram(name))) > 8, `${name}'s histogram is drawn`);

    // New points arrive without a reload.
    const before = await points(page, "loss");
    await page.waitForFunction((n) => Number(document.querySelector<HTMLElement>('[data-panel="loss"]')?.dataset.points) > n + 20, before, { timeout: 10_000 });
    await fullPageScreenshot(page, join(output, "dashboard.png"));
    // The runs table's step count keeps up with the charts between status changes: with the
    // per-step lr's chart (the loss chart's epoch lines sit at the step after an epoch's last,
    // so it is a step ahead whenever the store commits at an epoch's end, as it does at each
    // checkpoint).
    const tableSteps = () => page.$eval(`tr[data-run="${liveRun.id}"] td:nth-child(5)`, (cell) => Number(cell.textContent));
    const stepsShown = await tableSteps();
    await page.waitForFunction(
      ({ id, shown }) => {
        const steps = Number(document.querySelector(`tr[data-run="${id}"] td:nth-child(5)`)?.textContent);
        return steps > shown && steps === Number(document.querySelector<HTMLElement>('[data-panel="hyperparameters"]')?.dataset.lastStep);
      },
      { id: liveRun.id, shown: stepsShown },
      { timeout: 10_000 },
    );

    // The step slider picks an older histogram.
    const latest = Number(await page.textContent('[data-panel="hist-1d"] .slider span'));
    const image = (panel: string) => page.$eval(`[data-panel="${panel}"] canvas`, (c) => (c as HTMLCanvasElement).toDataURL());
    const drawn = await image("hist-1d");
    const layerDrawn = await image(layerHistogram("0.weight"));
    await page.fill("#hist-step", "0");
    await page.waitForFunction(() => document.querySelector('[data-panel="hist-1d"] .slider span')?.textContent === "0");
    assert.ok(latest > 0);
    assert.notEqual(await image("hist-1d"), drawn, "the histogram changed");
    // The per-parameter histograms follow the slider to the same step.
    await page.waitForFunction(
      (initial) => document.querySelector<HTMLCanvasElement>(`[data-panel="layer-quantities/GradHist1d/0.weight"] canvas`)?.toDataURL() !== initial,
      layerDrawn,
    );

    // Ctrl-wheel zooms around the cursor and shift-drag pans, on every chart at once.
    const xRange = (panel: string) => page.$eval(`[data-panel="${panel}"]`, (e) => ((e as HTMLElement).dataset.xRange ?? "").split(",").map(Number));
    const over = await page.$eval('[data-panel="grad-norm"] .u-over', (e) => {
      const r = e.getBoundingClientRect();
      return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
    });
    const [allFrom, allTo] = await xRange("grad-norm");
    await page.mouse.move(over.x, over.y);
    await page.keyboard.down("Control");
    await page.mouse.wheel(0, -100);
    await page.keyboard.up("Control");
    await page.waitForFunction((span) => {
      const [from, to] = (document.querySelector<HTMLElement>('[data-panel="loss"]')?.dataset.xRange ?? "").split(",").map(Number);
      return to - from < span;
    }, allTo - allFrom);
    const [zoomFrom, zoomTo] = await xRange("grad-norm");
    // (New steps may have widened the full range meanwhile.)
    assert.ok(zoomFrom > allFrom && zoomTo - zoomFrom < allTo - allFrom, `zoomed [${allFrom}, ${allTo}] to [${zoomFrom}, ${zoomTo}] around the middle`);
    await page.keyboard.down("Shift");
    await page.mouse.down();
    await page.mouse.move(over.x - 80, over.y, { steps: 4 });
    await page.mouse.up();
    await page.keyboard.up("Shift");
    const [panFrom, panTo] = await xRange("grad-norm");
    assert.ok(panFrom > zoomFrom && Math.abs(panTo - panFrom - (zoomTo - zoomFrom)) <= 2, `dragging left moved [${zoomFrom}, ${zoomTo}] to later steps: [${panFrom}, ${panTo}]`);
    assert.deepEqual(await xRange("loss"), [panFrom, panTo], "the other charts follow");
    await page.click("#reset-zoom");

    // Two runs overlaid: the finished run's curves join the live run's.
    await page.click(`tr[data-run="${finishedRun.id}"] input[type=checkbox]`);
    await page.waitForFunction((ids) => document.body.dataset.shown === ids, `${liveRun.id},${finishedRun.id}`);
    await page.waitForFunction(
      (ids) => {
        const labels = [...document.querySelectorAll('[data-panel="loss"] .u-legend .u-label')].map((l) => l.textContent ?? "");
        return ids.every((id) => labels.some((l) => l.startsWith(id)));
      },
      [liveRun.id, finishedRun.id],
    );
    await fullPageScreenshot(page, join(output, "dashboard-overlay.png"));

    // The stop button: the trainer checkpoints and stops.
    await page.click("#stop");
    const code = await live.exited;
    assert.equal(code, 0, live.output());
    assert.match(live.output(), /stop requested from the dashboard/);
    assert.equal(store.getRun(liveRun.id).status, "stopped");
    assert.ok(existsSync(join(folder, liveRun.id, "checkpoints", "latest.gsckpt")), "a checkpoint to resume from");
    // The events panel lists the run's start and the stop with its reason (served anew: the
    // training process and its dashboard have ended).
    const after = await startDashboard({ store: storePath });
    try {
      await page.goto(`${after.url}#run=${liveRun.id}`);
      await page.waitForFunction(
        () => [...document.querySelectorAll('[data-panel="events"] tr.event-stop td')].some((td) => td.textContent?.includes("stop requested from the dashboard")),
        undefined,
        { timeout: 15_000 },
      );
      assert.ok(await page.$('[data-panel="events"] tr.event-start'), "the start event is listed");
    } finally {
      await after.close();
    }

    await latency(t, page, store);
    store.close();
    assert.deepEqual(errors, [], "no errors in the page");
  } finally {
    live.child.kill();
    await browser.close();
  }
});

test("the sweeps view: parallel coordinates of the trials, the table with the rule that stopped one, the best marked, a click shows the trial's run", {
  timeout: 120_000,
}, async () => {
  assert.ok(existsSync(CHROMIUM), `the browser tests need Debian's Chromium at ${CHROMIUM} (apt-get install chromium)`);
  mkdirSync(output, { recursive: true });
  const sweepFolder = mkdtempSync(join(tmpdir(), "gradscope-sweep-view-"));
  const sweepStorePath = join(sweepFolder, "gradscope.db");
  // Three trials whose runs are in the store (no training needed for the view), one stopped early.
  const runs = new SqliteRunStore(sweepStorePath);
  const sweeps = openSweepStore(sweepStorePath);
  const spec = {
    method: "random",
    parameters: { "optimizer.lr": { min: 0.001, max: 1, distribution: "log_uniform" }, "model.hidden": { values: [[32], [64]] } },
    metric: { name: "val_accuracy", goal: "maximize" },
  };
  sweeps.createSweep({ id: "sweep-view-1", name: "sweep-view", spec, base: {}, directory: sweepFolder });
  const trials: Array<[number, number, number[], "completed" | "stopped", number, string | null]> = [
    [1, 0.003, [32], "completed", 0.81, null],
    [2, 0.1, [64], "completed", 0.93, null],
    [3, 0.8, [32], "stopped", 0.3, "alpha above 1 for 100 steps"],
  ];
  for (const [number, lr, hidden, status, metric, stoppedBy] of trials) {
    const runId = `sweep-view-t00${number}`;
    runs.createRun({ id: runId, name: runId, config: { optimizer: { name: "sgd", lr } } });
    runs.log(runId, "train/loss", 0, 1 / number);
    runs.finishRun(runId, status === "stopped" ? "stopped" : "completed", {});
    sweeps.addTrial("sweep-view-1", number, { "optimizer.lr": lr, "model.hidden": hidden });
    sweeps.startTrial("sweep-view-1", number);
    sweeps.attachRun("sweep-view-1", number, { runId, directory: sweepFolder, plannedSteps: 100 });
    sweeps.finishTrial("sweep-view-1", number, { status, metric, stoppedBy, steps: status === "stopped" ? 30 : 100 });
  }
  runs.flush();
  sweeps.close();
  const dashboard = await startDashboard({ store: sweepStorePath });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox", "--disable-gpu"] });
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (error) => errors.push(error.message));
    await page.goto(dashboard.url);
    await page.waitForSelector('[data-panel="sweep"] tbody tr');
    assert.equal(await page.$eval(".parallel-coordinates", (c) => (c as HTMLElement).dataset.trials), "3", "every trial is a line");
    assert.ok((await canvasColors(page, "sweep")) > 20, "the parallel coordinates are drawn");
    const rows = await page.$$eval('[data-panel="sweep"] tbody tr', (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent)));
    assert.deepEqual(
      rows.map((cells) => [cells[0], cells[1], cells[2], cells.at(-1)]),
      [
        ["1", "completed", "0.81", ""],
        ["★ 2", "completed", "0.93", ""],
        ["3", "stopped", "0.3", "alpha above 1 for 100 steps"],
      ],
    );
    assert.match((await page.textContent(".sweeps-head span")) ?? "", /val_accuracy \(maximize\).*best: trial 2, 0\.93/);
    await page.screenshot({ path: join(output, "dashboard-sweep.png") });
    await page.click('[data-panel="sweep"] tbody tr[data-trial="3"]');
    await page.waitForFunction(() => document.body.dataset.shown === "sweep-view-t003");
    assert.deepEqual(errors, [], "no errors in the page");
  } finally {
    await browser.close();
    await dashboard.close();
    runs.close();
  }
});

/**
 * A screenshot of the whole page with every chart up to date: charts scrolled out of view redraw
 * only when they come back, so the viewport is made as tall as the page first.
 */
async function fullPageScreenshot(page: Page, path: string): Promise<void> {
  const viewport = page.viewportSize() ?? { width: 1500, height: 1400 };
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewportSize({ width: viewport.width, height });
  await page.evaluate(() => new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve))));
  await page.screenshot({ path, fullPage: true });
  await page.setViewportSize(viewport);
}

/**
 * End-to-end latency: a value logged through a RunStore (flushing every 500 ms like the trainer's)
 * until the open page's loss chart holds it. Reported, not asserted (benchmarks are not tests).
 */
async function latency(t: { diagnostic(message: string): void }, page: Page, store: RunStore): Promise<void> {
  const writer = new SqliteRunStore(storePath);
  writer.createRun({ id: "latency-probe", name: "latency probe", config: {} });
  writer.log("latency-probe", "train/loss", 0, 1);
  writer.flush();
  const ui = spawn(process.execPath, [bin, "ui", "--store", storePath, "--port", "0"], { cwd: root });
  const url = await new Promise<string>((resolve) => {
    let text = "";
    ui.stdout.on("data", (chunk) => {
      text += chunk;
      const match = /dashboard: (http:\/\/\S+)/.exec(text);
      if (match) resolve(match[1]);
    });
  });
  await page.goto(`${url}#run=latency-probe`);
  await page.waitForFunction(() => document.querySelector<HTMLElement>('[data-panel="loss"]')?.dataset.lastStep === "0");
  const samples: number[] = [];
  for (let step = 1; step <= 9; step++) {
    const started = Date.now();
    writer.log("latency-probe", "train/loss", step, 1 / (step + 1));
    await page.waitForFunction((s) => document.querySelector<HTMLElement>('[data-panel="loss"]')?.dataset.lastStep === String(s), step, { polling: "raf" });
    samples.push(Date.now() - started);
    await new Promise((resolve) => setTimeout(resolve, 137 * step));
  }
  writer.finishRun("latency-probe", "completed", null);
  writer.close();
  ui.kill("SIGINT");
  samples.sort((a, b) => a - b);
  const report = { median_ms: samples[4], max_ms: samples[8], samples_ms: samples };
  writeFileSync(join(output, "latency.json"), `${JSON.stringify(report)}\n`);
  t.diagnostic(`logged value to open page: median ${report.median_ms} ms, max ${report.max_ms} ms over ${samples.length} values`);
  assert.ok(store.getRun("latency-probe"));
}

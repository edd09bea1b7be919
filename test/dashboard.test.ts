import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type IncomingHttpHeaders, type IncomingMessage, request, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname, tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";
import type {
  BucketedSeries,
  Changes,
  HeatmapRows,
  ListSeries,
  RunResponse,
  RunSummary,
  RunsResponse,
  SweepResponse,
  SweepsResponse,
  ValueDistribution,
} from "../src/dashboard/api.ts";
import { resolveAsset } from "../src/dashboard/assets.ts";
import { formatCursor, parseCursor } from "../src/dashboard/cursor.ts";
import { startDashboardWorker } from "../src/dashboard/launch.ts";
import { checkPortFree, listenOn } from "../src/dashboard/listen.ts";
import { importedPaths } from "../src/dashboard/modulePreloads.ts";
import { type Dashboard, startDashboard } from "../src/dashboard/server.ts";
import { ChangeStream } from "../src/dashboard/stream.ts";
import { DASHBOARD_NICE } from "../src/dashboard/threadPriority.ts";
import { tickLabels } from "../src/dashboard/ui/format.ts";
import { appendEntry, appendPoint } from "../src/dashboard/ui/liveSeries.ts";
import { advanceLastSteps } from "../src/dashboard/ui/runsTable.ts";
import type { RunStore } from "../src/store/runStore.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { openSweepStore } from "../src/store/sweeps.ts";
import { sourceFiles, walkSyntax } from "./helpers.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-dashboard-"));
const storePath = join(folder, "gradscope.db");
let store: RunStore;
let dashboard: Dashboard;

/**
 * A raw request, so that the path and the headers (Host too) reach the server exactly as written
 * (fetch would normalize `..` and set its own Host).
 */
function raw(
  path: string,
  headers: Record<string, string> = {},
  method = "GET",
  server = { host: "127.0.0.1", port: dashboard.port },
): Promise<{ status: number; body: string; headers: IncomingHttpHeaders }> {
  return new Promise((resolve, reject) => {
    const req = request({ ...server, path, method, headers }, (res) => {
      let body = "";
      res.on("data", (chunk) => {
        body += chunk;
      });
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
    });
    req.on("error", reject);
    req.end();
  });
}

const json = async <T>(path: string): Promise<T> => {
  const response = await raw(path);
  assert.equal(response.status, 200, `${path}: ${response.body}`);
  return JSON.parse(response.body) as T;
};

before(async () => {
  store = new SqliteRunStore(storePath, 50);
  store.createRun({ id: "run-a", name: "a", config: { optimizer: { name: "sgd", lr: 0.1 } } });
  store.setParameters("run-a", ["0.weight", "0.bias"]);
  for (let step = 0; step < 10_000; step++) {
    // A smooth curve with one spike that downsampling must not hide.
    store.log("run-a", "train/loss", step, step === 4321 ? 100 : 1 / (1 + step));
    store.log("run-a", "quantities/Alpha", step, step < 9000 ? -2 : 0.5);
  }
  for (let step = 0; step < 50; step++) {
    store.log("run-a", "quantities/GradNorm", step * 10, [3 * step, 4 * step]);
    store.log("run-a", "quantities/GradHist1d", step * 10, { hist: [step, 1, 2], edges: [-1 - step, 0, 1, 2] });
  }
  store.log("run-a", "quantities/GradHist2d", 0, {
    hist: [
      [1, 2],
      [3, 4],
    ],
    edges: [
      [-1, 0, 1],
      [-2, 0, 2],
    ],
  });
  store.log("run-a", "epoch/val_accuracy", 9999, 0.875);
  store.createRun({ id: "run-b", name: "b", config: {} });
  store.finishRun("run-b", "completed", { test: { test_accuracy: 0.5 } });
  store.flush();
  dashboard = await startDashboard({ store: storePath, pollMs: 20 });
});

after(async () => {
  await dashboard.close();
  store.close();
});

test("the runs list and a run carry status, parameters, final metrics and the keys logged", async () => {
  const { runs, cursor } = await json<RunsResponse>("/api/runs");
  assert.deepEqual(runs.map((r) => [r.id, r.status]).sort(), [
    ["run-a", "running"],
    ["run-b", "completed"],
  ]);
  assert.match(cursor, /^\d+\.\d+\.\d+\.\d+$/);
  const a = runs.find((r) => r.id === "run-a");
  assert.deepEqual(a?.final, { val_accuracy: 0.875 });
  assert.equal(a?.lastStep, 9999);
  assert.deepEqual(runs.find((r) => r.id === "run-b")?.final, { test_accuracy: 0.5 });
  const { run, keys } = await json<RunResponse>("/api/runs/run-a");
  assert.deepEqual(run.parameters, ["0.weight", "0.bias"]);
  assert.deepEqual(keys, {
    scalars: ["epoch/val_accuracy", "quantities/Alpha", "train/loss"],
    lists: ["quantities/GradNorm"],
    histograms: ["quantities/GradHist1d", "quantities/GradHist2d"],
  });
});

test("scalars are reduced to min/max/last buckets in which a spike survives; short ranges come back whole", async () => {
  const series = (await json<Record<string, BucketedSeries>>("/api/runs/run-a/scalars?key=train/loss&buckets=100"))["train/loss"];
  assert.equal(series.steps.length, 100);
  assert.equal(series.steps[99], 9999, "each bucket ends at its last step");
  assert.equal(series.last[99], 1 / 10_000);
  assert.equal(Math.max(...(series.max as number[])), 100, "the spike at step 4321 is the max of its bucket");
  const bucket = series.max.indexOf(100);
  assert.ok(series.steps[bucket] >= 4321 && series.steps[bucket - 1] < 4321);
  assert.equal(series.min[0], 1 / 100, "the first bucket holds steps 0..99");
  assert.equal(series.max[0], 1);
  const zoomed = (await json<Record<string, BucketedSeries>>("/api/runs/run-a/scalars?key=train/loss&from=4320&to=4322&buckets=100"))["train/loss"];
  assert.deepEqual(zoomed.steps, [4320, 4321, 4322]);
  assert.deepEqual(zoomed.last, [1 / 4321, 100, 1 / 4323]);
  const both = await json<Record<string, BucketedSeries>>("/api/runs/run-a/scalars?key=train/loss&key=quantities/Alpha&key=train/nothing&buckets=10");
  assert.deepEqual(Object.keys(both), ["train/loss", "quantities/Alpha", "train/nothing"]);
  for (const key of ["train/loss", "quantities/Alpha"])
    assert.deepEqual(both[key], (await json<Record<string, BucketedSeries>>(`/api/runs/run-a/scalars?key=${key}&buckets=10`))[key], `${key} as asked alone`);
  assert.deepEqual(both["train/nothing"], { steps: [], last: [], min: [], max: [] }, "a series not logged (yet) is empty");
});

test("lists, histograms, heatmap rows and value distributions", async () => {
  const lists = await json<ListSeries>("/api/runs/run-a/lists?key=quantities/GradNorm&buckets=5");
  assert.deepEqual(lists.steps, [90, 190, 290, 390, 490]);
  assert.deepEqual(lists.values[4], [147, 196]);
  const hist = await json<{ step: number; counts: number[] }>("/api/runs/run-a/histogram?key=quantities/GradHist1d&step=255");
  assert.equal(hist.step, 250, "the last histogram at or before the step");
  assert.deepEqual(hist.counts, [25, 1, 2]);
  assert.equal((await json<{ step: number }>("/api/runs/run-a/histogram?key=quantities/GradHist1d")).step, 490);
  assert.equal((await json<number[]>("/api/runs/run-a/histogram-steps?key=quantities/GradHist1d")).length, 50);
  // Several at one step in one request, each as the single-key answer gives it.
  const several = await json<Record<string, unknown>>("/api/runs/run-a/histograms?key=quantities/GradHist1d&key=quantities/GradHist2d&step=255");
  assert.deepEqual(Object.keys(several), ["quantities/GradHist1d", "quantities/GradHist2d"]);
  assert.deepEqual(several["quantities/GradHist1d"], hist);
  assert.deepEqual(several["quantities/GradHist2d"], await json("/api/runs/run-a/histogram?key=quantities/GradHist2d&step=255"));
  const heat = await json<HeatmapRows>("/api/runs/run-a/heatmap?key=quantities/GradHist1d&buckets=10");
  assert.equal(heat.steps.length, 10);
  assert.deepEqual(heat.ranges[9], [-50, 2], "each row keeps its own range");
  const alpha = await json<ValueDistribution>("/api/runs/run-a/distribution?key=quantities/Alpha&lo=-1.5&hi=1.5&bins=3&tail=0.1");
  assert.deepEqual(alpha.all, [9000, 0, 1000], "values below lo count in the first bin");
  assert.deepEqual(alpha.last, [0, 0, 1000]);
  assert.equal(alpha.meanLast, 0.5);
  assert.equal(alpha.below, true);
  assert.equal(alpha.above, false);
});

test("the sweeps of the store and each sweep's trials, by a unique id prefix; an unknown sweep is a 404", async () => {
  const sweeps = openSweepStore(storePath);
  const spec = { method: "random", parameters: { "optimizer.lr": { min: 0.01, max: 1, distribution: "log_uniform" } }, metric: { name: "val_accuracy", goal: "maximize" } };
  sweeps.createSweep({ id: "sweep-lr-1", name: "sweep-lr", spec, base: {}, directory: folder });
  sweeps.addTrial("sweep-lr-1", 1, { "optimizer.lr": 0.05 });
  sweeps.addTrial("sweep-lr-1", 2, { "optimizer.lr": 0.9 });
  sweeps.startTrial("sweep-lr-1", 1);
  sweeps.attachRun("sweep-lr-1", 1, { runId: "run-b", directory: folder, plannedSteps: 100 });
  sweeps.finishTrial("sweep-lr-1", 1, { status: "completed", metric: 0.5, steps: 100 });
  sweeps.finishTrial("sweep-lr-1", 2, { status: "stopped", metric: 0.1, stoppedBy: "alpha above 1 for 100 steps", steps: 40 });
  sweeps.close();
  const { sweeps: listed } = await json<SweepsResponse>("/api/sweeps");
  assert.deepEqual(
    listed.map((s) => [s.id, s.name, s.status, s.trials]),
    [["sweep-lr-1", "sweep-lr", "running", { completed: 1, stopped: 1 }]],
  );
  assert.deepEqual((listed[0].spec as typeof spec).metric, spec.metric);
  const { sweep, trials } = await json<SweepResponse>("/api/sweeps/sweep-lr");
  assert.equal(sweep.id, "sweep-lr-1");
  assert.deepEqual(
    trials.map((t) => [t.number, t.status, t.runId, t.metric, t.stoppedBy, t.params]),
    [
      [1, "completed", "run-b", 0.5, null, { "optimizer.lr": 0.05 }],
      [2, "stopped", null, 0.1, "alpha above 1 for 100 steps", { "optimizer.lr": 0.9 }],
    ],
  );
  const missing = await raw("/api/sweeps/nope");
  assert.equal(missing.status, 404);
  assert.match(JSON.parse(missing.body).error, /nope/);
});

test("bad requests get clear errors: unknown run, malformed range, 2-D heatmap, unknown endpoint", async () => {
  const cases: Array<[string, number, RegExp]> = [
    ["/api/runs/nope", 404, /no run "nope"/],
    ["/api/runs/run-a/scalars?key=train/loss&from=abc", 400, /from: expected an integer/],
    ["/api/runs/run-a/scalars?key=train/loss&from=9&to=3", 400, /from \(9\) is after to \(3\)/],
    ["/api/runs/run-a/scalars?key=train/loss&buckets=0", 400, /buckets: expected an integer in \[1, 20000\]/],
    ["/api/runs/run-a/scalars", 400, /key: required/],
    ["/api/runs/run-a/scalars?key=train/loss&key=&buckets=10", 400, /key 2 of 2: expected a series key, got an empty one/],
    ["/api/runs/run-a/scalars?key=train/loss&key=quantities/Alpha&key=train/loss", 400, /key "train\/loss": asked for twice/],
    [`/api/runs/run-a/scalars?${Array.from({ length: 257 }, (_, i) => `key=k${i}`).join("&")}`, 400, /key: at most 256 series per request, got 257/],
    ["/api/runs/run-a/distribution?key=quantities/Alpha&lo=1&hi=1", 400, /hi \(1\) must be above lo \(1\)/],
    ["/api/runs/run-a/heatmap?key=quantities/GradHist2d", 400, /2-D histogram/],
    ["/api/runs/run-a/histogram?key=nothing", 404, /has no histogram nothing/],
    ["/api/runs/run-a/histograms?key=quantities/GradHist1d&key=nothing&key=other", 404, /has no histogram nothing, other/],
    ["/api/runs/run-a/histograms?step=3", 400, /key: required/],
    ["/api/runs/run-a/histograms?key=quantities/GradHist1d&step=-1", 400, /step/],
    ["/api/runs/run-a/secrets", 404, /no API endpoint/],
  ];
  for (const [path, status, message] of cases) {
    const response = await raw(path);
    assert.equal(response.status, status, path);
    assert.match(JSON.parse(response.body).error, message, path);
  }
});

test("static files: the page and its modules are served; path traversal never leaves the assets", async () => {
  const page = await raw("/");
  assert.equal(page.status, 200);
  assert.match(page.body, /<script type="module" src="\/ui\/main.js">/);
  assert.equal((await raw("/ui/main.js")).status, 200);
  assert.equal((await raw("/vendor/uPlot.esm.js")).status, 200);
  // The series keys the page shares with the store, and none of the store's other modules.
  const keys = await raw("/store/seriesKeys.js");
  assert.equal(keys.status, 200);
  assert.match(keys.body, /export const SERIES_PREFIXES/);
  for (const path of ["/store/runStore.js", "/store/sqliteRunReader.js", "/store/", "/store/seriesKeys.js.map", "/store/seriesKeys.js/../runStore.js"])
    assert.equal((await raw(path)).status, 404, path);
  for (const path of [
    "/static/../../../package.json",
    "/static/%2e%2e/%2e%2e/%2e%2e/package.json",
    "/ui/..%2f..%2f..%2f..%2fpackage.json",
    "/vendor/../../../package.json",
    "/static/..%5c..%5cpackage.json",
    "/static/%00index.html",
    "/static/%E0%A4%A",
    "/etc/passwd",
    "/static/",
  ]) {
    const response = await raw(path);
    assert.equal(response.status, 404, path);
    assert.doesNotMatch(response.body, /"name": "gradscope"|root:/, path);
  }
});

test("the page lists every module its scripts import, directly or not, as modulepreload links, after the scripts", async () => {
  const page = await raw("/");
  assert.equal(page.status, 200);
  const links = [...page.body.matchAll(/<link rel="modulepreload" href="([^"]+)">/g)].map(([, href]) => href);
  // Three levels down from main.js (main, cockpit, an instrument, its chart), uPlot through the
  // import map, and the series keys from outside the page's folder.
  for (const path of ["/ui/client.js", "/ui/cockpit.js", "/ui/instruments/chartBoard.js", "/ui/lineChart.js", "/ui/panZoom.js", "/vendor/uPlot.esm.js", "/store/seriesKeys.js"])
    assert.ok(links.includes(path), `${path} is not preloaded: ${links.join(" ")}`);
  assert.equal(new Set(links).size, links.length, "a module listed twice");
  assert.ok(!links.includes("/ui/main.js") && !links.includes("/ui/boot.js"), "an entry listed again");
  assert.ok(page.body.indexOf('src="/ui/main.js"') < page.body.indexOf('rel="modulepreload"'), "the entries come first");
  for (const path of links) assert.equal((await raw(path)).status, 200, path);
  // Its tag is its text's: unchanged, a 304.
  const etag = page.headers.etag as string;
  assert.equal((await raw("/", { "if-none-match": etag })).status, 304);
});

test("a module's static imports, multi-line and re-exported, are found; dynamic imports and strings are not", () => {
  const source = [
    'import { a } from "./a.js";',
    "import {",
    "  b,",
    "  c,",
    '} from "../b.js";',
    'import "./side.js";',
    'export { d } from "./d.js";',
    'export * from "./e.js";',
    'import uPlot from "uplot";',
    'const later = import("./lazy.js");',
    "const text = \"import x from './not.js'\";",
  ].join("\n");
  assert.deepEqual(importedPaths(source, "/ui/instruments/x.js", { uplot: "/vendor/uPlot.esm.js" }), [
    "/ui/instruments/a.js",
    "/ui/b.js",
    "/ui/instruments/side.js",
    "/ui/instruments/d.js",
    "/ui/instruments/e.js",
    "/vendor/uPlot.esm.js",
  ]);
});

test("static files carry an entity tag: an unchanged file is a 304 without a body, a changed one gets a new tag", async () => {
  const first = await raw("/ui/main.js");
  const etag = first.headers.etag as string;
  assert.match(etag, /^"[0-9a-z]+-[0-9a-z]+"$/);
  for (const ifNoneMatch of [etag, `W/${etag}`, `"other", ${etag}`, "*"]) {
    const again = await raw("/ui/main.js", { "if-none-match": ifNoneMatch });
    assert.equal(again.status, 304, ifNoneMatch);
    assert.equal(again.body, "");
    assert.equal(again.headers.etag, etag);
  }
  const other = await raw("/ui/main.js", { "if-none-match": '"other"' });
  assert.equal(other.status, 200);
  assert.equal(other.body, first.body);
  // Another file's tag does not stand for this one.
  assert.equal((await raw("/ui/client.js", { "if-none-match": etag })).status, 200);

  const folder = mkdtempSync(join(tmpdir(), "gradscope-assets-"));
  writeFileSync(join(folder, "page.js"), "export {};");
  const tagBefore = resolveAsset({ "/x/": folder }, "/x/page.js")?.etag;
  writeFileSync(join(folder, "page.js"), "export const changed = 1;");
  const tagAfter = resolveAsset({ "/x/": folder }, "/x/page.js")?.etag;
  assert.ok(tagBefore && tagAfter && tagBefore !== tagAfter, `${tagBefore} then ${tagAfter}`);
});

test("the stop control: 202 for a running run (recorded in the store), 409 otherwise, 403 from another origin", async () => {
  assert.equal((await raw("/api/runs/run-a/stop", { origin: "http://evil.example" }, "POST")).status, 403);
  assert.equal(store.stopRequested("run-a"), false);
  const accepted = await raw("/api/runs/run-a/stop", {}, "POST");
  assert.equal(accepted.status, 202);
  assert.equal(store.stopRequested("run-a"), true, "the trainer sees the request through the store");
  const refused = await raw("/api/runs/run-b/stop", {}, "POST");
  assert.equal(refused.status, 409);
  assert.match(JSON.parse(refused.body).error, /run-b is completed, not running/);
  assert.equal((await raw("/api/runs/run-a", {}, "DELETE")).status, 405);
});

type StreamEvent = { event: string; id?: string; data: string };

/**
 * Reads server-sent events from the stream until `until` says stop; `opened` gets the response
 * as it arrives (to pause it, say).
 */
function readStream(
  headers: Record<string, string>,
  path: string,
  until: (events: StreamEvent[]) => boolean,
  port = dashboard.port,
  opened: (res: IncomingMessage) => void = () => {},
) {
  return new Promise<StreamEvent[]>((resolve, reject) => {
    const events: StreamEvent[] = [];
    const req = request({ host: "127.0.0.1", port, path, headers }, (res) => {
      assert.equal(res.headers["content-type"], "text/event-stream");
      opened(res);
      let buffer = "";
      res.on("data", (chunk) => {
        buffer += chunk;
        let end = buffer.indexOf("\n\n");
        while (end >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = Object.fromEntries(block.split("\n").map((line) => [line.slice(0, line.indexOf(":")), line.slice(line.indexOf(":") + 2)]));
          if (fields.data !== undefined) events.push({ event: fields.event ?? "message", id: fields.id, data: fields.data });
          end = buffer.indexOf("\n\n");
        }
        if (until(events)) {
          req.destroy();
          resolve(events);
        }
      });
    });
    req.on("error", (error) => (error.message === "socket hang up" ? resolve(events) : reject(error)));
    req.end();
  });
}

test("the live stream sends new rows as they are committed, and a reconnect with Last-Event-ID gets what it missed", async () => {
  const { cursor } = await json<RunsResponse>("/api/runs");
  const points = (events: Array<{ event: string; data: string }>) =>
    events.filter((e) => e.event === "data").flatMap((e) => (JSON.parse(e.data) as Changes).scalars.filter(([, key]) => key === "live/value"));
  const live = readStream({}, `/api/stream?after=${cursor}`, (events) => points(events).length >= 3);
  await new Promise((resolve) => setTimeout(resolve, 50));
  for (let step = 0; step < 3; step++) store.log("run-a", "live/value", step, step * 2);
  store.log("run-a", "live/hist", 0, { hist: [1], edges: [0, 1] });
  store.flush();
  const received = await live;
  assert.deepEqual(points(received), [
    ["run-a", "live/value", 0, 0],
    ["run-a", "live/value", 1, 2],
    ["run-a", "live/value", 2, 4],
  ]);
  const lastId = received.filter((e) => e.event === "data").at(-1)?.id as string;
  // Written while "disconnected": a reconnect resumes exactly after the last event it saw.
  store.log("run-a", "live/value", 3, 6);
  store.flush();
  const resumed = await readStream({ "last-event-id": lastId }, `/api/stream?after=${cursor}`, (events) => points(events).length >= 1);
  assert.deepEqual(points(resumed), [["run-a", "live/value", 3, 6]], "the header wins over the stale ?after= and nothing is sent twice");
  const statusChange = readStream({}, "/api/stream", (events) => events.some((e) => e.event === "runs"));
  await new Promise((resolve) => setTimeout(resolve, 50));
  store.createRun({ id: "run-c", name: "c", config: {} });
  const runsEvent = (await statusChange).find((e) => e.event === "runs") as { data: string };
  assert.ok(
    (JSON.parse(runsEvent.data) as Array<{ id: string }>).some((r) => r.id === "run-c"),
    "a new run is announced",
  );
});

test("a non-loopback host requires the token the server prints", async () => {
  const guarded = await startDashboard({ store: storePath, host: "0.0.0.0" });
  try {
    const token = new URL(guarded.url).searchParams.get("token") as string;
    assert.match(token, /^[0-9a-f]{32}$/);
    // The printed address names this machine (another one cannot open 0.0.0.0), and the server answers to that name.
    const printed = new URL(guarded.url);
    assert.equal(printed.hostname, new URL(`http://${hostname()}/`).hostname);
    const byName = await raw(`/api/runs?token=${token}`, { host: printed.host }, "GET", { host: "127.0.0.1", port: guarded.port });
    assert.equal(byName.status, 200, byName.body);
    const base = `http://127.0.0.1:${guarded.port}`;
    const denied = await fetch(`${base}/api/runs`);
    assert.equal(denied.status, 401);
    assert.match((await denied.json()).error, /token is required/);
    assert.equal((await fetch(`${base}/api/runs`, { headers: { authorization: "Bearer wrong" } })).status, 401);
    assert.equal((await fetch(`${base}/api/runs`, { headers: { authorization: `Bearer ${token}` } })).status, 200);
    assert.equal((await fetch(`${base}/api/runs?token=${token}`)).status, 200);
  } finally {
    await guarded.close();
  }
});

test("DNS rebinding: a request naming another host is refused, page and API, and cannot stop a run", { timeout: 30_000 }, async () => {
  store.createRun({ id: "run-rebound", name: "rebound", config: {} });
  store.flush();
  const evil = `evil.example:${dashboard.port}`;
  for (const path of ["/", "/api/runs", "/api/stream?after=0.0.0.0"]) {
    const refused = await raw(path, { host: evil });
    assert.equal(refused.status, 403, path);
    assert.match(JSON.parse(refused.body).error, /host "evil\.example:\d+" refused: this server answers to .*127\.0\.0\.1/);
  }
  const stop = await raw("/api/runs/run-rebound/stop", { host: evil, origin: `http://${evil}` }, "POST");
  assert.equal(stop.status, 403);
  assert.equal(store.stopRequested("run-rebound"), false, "the run keeps running");
  for (const host of [`127.0.0.1:${dashboard.port}`, `localhost:${dashboard.port}`, `LOCALHOST:${dashboard.port}`, "localhost"]) {
    assert.equal((await raw("/api/runs", { host })).status, 200, host);
  }
  for (const host of ["127.0.0.1.evil.example", "localhost.evil.example", "user@127.0.0.1", "127.0.0.1/x", "[::1"]) {
    assert.equal((await raw("/api/runs", { host })).status, 403, host);
  }
});

test("DNS rebinding on IPv6: a server bound to ::1 answers to [::1] and localhost only", { timeout: 30_000 }, async () => {
  const v6 = await startDashboard({ store: storePath, host: "::1" });
  try {
    assert.equal(v6.url, `http://[::1]:${v6.port}/`);
    const server = { host: "::1", port: v6.port };
    assert.equal((await raw("/api/runs", { host: `[::1]:${v6.port}` }, "GET", server)).status, 200);
    assert.equal((await raw("/api/runs", { host: `localhost:${v6.port}` }, "GET", server)).status, 200);
    assert.equal((await raw("/api/runs", { host: `evil.example:${v6.port}` }, "GET", server)).status, 403);
  } finally {
    await v6.close();
  }
});

test("a state-changing request is served only from the page's own origin", async () => {
  store.createRun({ id: "run-origin", name: "origin", config: {} });
  store.flush();
  const host = `127.0.0.1:${dashboard.port}`;
  for (const origin of ["http://evil.example", `http://127.0.0.1:${dashboard.port + 1}`, `https://${host}`, "null", `http://localhost:${dashboard.port}`]) {
    const refused = await raw("/api/runs/run-origin/stop", { host, origin }, "POST");
    assert.equal(refused.status, 403, origin);
    assert.match(JSON.parse(refused.body).error, /cross-origin request from .* refused/);
  }
  assert.equal(store.stopRequested("run-origin"), false);
  assert.equal((await raw("/api/runs/run-origin/stop", { host, origin: `http://${host}` }, "POST")).status, 202);
  assert.equal(store.stopRequested("run-origin"), true);
});

test("a --host that is no host name or address is named (it was a bare 'Invalid URL')", async () => {
  for (const host of ["999.1.1.1", "a b", "::1::2"]) {
    await assert.rejects(
      startDashboard({ store: storePath, host }),
      new Error(`gradscope: the dashboard's host ${JSON.stringify(host)}: expected a host name or an IP address, e.g. 127.0.0.1 or 0.0.0.0`),
    );
  }
});

test("an empty or short token is refused: the server never serves a non-loopback address unauthenticated", async () => {
  for (const token of ["", "x", "0123456789abcde"]) {
    await assert.rejects(startDashboard({ store: storePath, host: "0.0.0.0", token }), new RegExp(`token: expected at least 16 characters, got ${token.length}`));
  }
  const guarded = await startDashboard({ store: storePath, host: "0.0.0.0", token: "0123456789abcdef" });
  try {
    assert.equal(new URL(guarded.url).searchParams.get("token"), "0123456789abcdef");
    assert.equal((await fetch(`http://127.0.0.1:${guarded.port}/api/runs`)).status, 401);
  } finally {
    await guarded.close();
  }
  const cli = spawnSync(process.execPath, [fileURLToPath(new URL("../bin/gradscope.js", import.meta.url)), "ui", "--store", storePath, "--host", "0.0.0.0", "--token", ""], {
    encoding: "utf8",
    timeout: 20_000, // before usage errors, the server would serve until killed
  });
  assert.equal(cli.status, 2, cli.stderr);
  assert.match(cli.stderr, /--token.*expected at least 16 characters, got 0/);
});

test("catch-up from the start is paged: a client that does not read makes the server hold a page, not the store", { timeout: 30_000 }, async () => {
  const bigPath = join(folder, "big.db");
  const big = new SqliteRunStore(bigPath, 60_000);
  big.createRun({ id: "big", name: "big", config: {} });
  const rows = 200_000;
  for (let step = 0; step < rows; step++) big.log("big", "train/loss", step, 1 / (1 + step));
  big.flush();
  const reader = new SqliteRunStore(bigPath);
  const stream = new ChangeStream(reader.reader, () => "[]");
  const end = formatCursor(reader.reader.currentCursor());
  const responses: ServerResponse[] = [];
  const server = createServer((req, res) => {
    responses.push(res);
    stream.add(res, parseCursor(new URL(req.url ?? "/", "http://x").searchParams.get("after")));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    let pause: () => void = () => {};
    const resumed = new Promise<void>((resolve) => {
      pause = resolve;
    });
    const events = readStream(
      {},
      "/api/stream?after=0.0.0.0",
      (received) => received.at(-1)?.id === end,
      (server.address() as AddressInfo).port,
      (res) => {
        res.pause();
        void resumed.then(() => res.resume());
      },
    );
    await new Promise((resolve) => setTimeout(resolve, 500));
    const buffered = responses[0].writableLength;
    const page = 20_000 * JSON.stringify(["big", "train/loss", rows, 1 / 3]).length;
    assert.ok(buffered > 0 && buffered < 2 * page, `the server holds ${buffered} bytes for a client that does not read (a page is ~${page})`);
    pause();
    const received = (await events).filter((e) => e.event === "data").map((e) => JSON.parse(e.data) as Changes);
    assert.ok(received.length >= rows / 20_000, `${received.length} pages`);
    const steps = received.flatMap((changes) => changes.scalars.map(([, , step]) => step));
    assert.deepEqual(
      steps,
      Array.from({ length: rows }, (_, i) => i),
      "every row once, in order",
    );
  } finally {
    stream.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    reader.close();
    big.close();
  }
});

test("live streams are limited in number: one more is answered 503, and a closed one makes room (400 stalled clients held 1.2 GB)", async () => {
  const reader = new SqliteRunStore(join(folder, "streams.db"));
  const stream = new ChangeStream(reader.reader, () => "[]", { maxClients: 2 });
  const server = createServer((_req, res) => stream.add(res, null));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const open = () =>
    new Promise<{ status: number; body: () => Promise<string>; close: () => void }>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, path: "/" }, (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => {
          text += chunk;
        });
        const ended = new Promise<string>((done) => res.on("end", () => done(text)));
        resolve({ status: res.statusCode ?? 0, body: () => ended, close: () => req.destroy() });
      });
      req.on("error", reject);
      req.end();
    });
  try {
    const [first, second] = [await open(), await open()];
    assert.deepEqual([first.status, second.status], [200, 200]);
    const third = await open();
    assert.equal(third.status, 503);
    assert.deepEqual(JSON.parse(await third.body()), { error: "too many live streams (2 open); close a page of this dashboard and reload" });
    first.close();
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(stream.size, 1);
    const again = await open();
    assert.equal(again.status, 200, "a closed stream makes room");
    second.close();
    again.close();
  } finally {
    stream.close();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    reader.close();
  }
});

// The nice value of each thread of this process, from /proc (field 19 of a task's stat).
function threadNiceValues(): Map<string, number> {
  const nice = new Map<string, number>();
  for (const thread of readdirSync("/proc/self/task")) {
    const stat = readFileSync(`/proc/self/task/${thread}/stat`, "utf8");
    nice.set(thread, Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]));
  }
  return nice;
}

test("the dashboard's worker thread runs at a lower priority than the training thread (Linux)", {
  skip: process.platform !== "linux" && "per-thread priorities are Linux's",
}, async () => {
  const before = threadNiceValues();
  // The process may run niced already (the test suites run under `nice -n 19`): the dashboard's
  // thread goes to DASHBOARD_NICE, never above the training thread's priority.
  const mainNice = before.get(String(process.pid)) as number;
  const expected = Math.max(DASHBOARD_NICE, mainNice);
  const worker = await startDashboardWorker({ store: join(mkdtempSync(join(tmpdir(), "gradscope-nice-")), "gradscope.db") });
  try {
    const added = [...threadNiceValues()].filter(([thread]) => !before.has(thread));
    assert.ok(
      added.some(([, nice]) => nice === expected),
      `a new thread at nice ${expected}: ${JSON.stringify(added)}`,
    );
    assert.ok(
      added.every(([, nice]) => nice >= mainNice),
      `no new thread ahead of the main thread (nice ${mainNice}): ${JSON.stringify(added)}`,
    );
    assert.equal(threadNiceValues().get(String(process.pid)), mainNice, "the main thread keeps its priority");
  } finally {
    await worker.close();
  }
});

test("live points join the last bucket of a reduced series while it spans no more than a pixel's share of the steps", () => {
  // The server's reduction of steps 0..999 into 10 buckets: each bucket's point is its last step.
  const steps = Array.from({ length: 10 }, (_, i) => 100 * i + 99);
  const series: BucketedSeries = { steps: [...steps], last: steps.map(() => 1), min: steps.map(() => 0.5), max: steps.map(() => 2) };
  // Step 1000 would widen the last bucket to 1000 − 899 = 101 steps, past 1000 / 10: a new bucket.
  appendPoint(series, 1000, 3, 10);
  assert.deepEqual(series.steps.slice(-2), [999, 1000]);
  // Steps 1001.. join it while it spans at most a tenth of the steps: min, max and last follow.
  appendPoint(series, 1001, -4, 10);
  appendPoint(series, 1002, null, 10);
  appendPoint(series, 1003, 7, 10);
  assert.deepEqual([series.steps.at(-1), series.last.at(-1), series.min.at(-1), series.max.at(-1)], [1003, 7, -4, 7]);
  appendPoint(series, 1003, 100, 10); // an old step is ignored
  assert.equal(series.last.at(-1), 7);
  // Ten thousand more steps add buckets of about a tenth of the grown span each, not a point per step.
  for (let step = 1004; step < 11_000; step++) appendPoint(series, step, Math.sin(step), 10);
  const added = series.steps.length - 10;
  assert.ok(added >= 10 && added <= 40, `${added} buckets for 10,000 live steps`);
  for (let i = 11; i < series.steps.length; i++) {
    assert.ok(series.steps[i] - series.steps[i - 1] <= series.steps[i] / 10 + 1, `bucket ${i} spans ${series.steps[i] - series.steps[i - 1]} steps`);
  }
  assert.equal(series.steps.at(-1), 10_999);
  assert.equal(series.last.at(-1), Math.sin(10_999));
  // A per-parameter list keeps the last entry of a bucket.
  const list: ListSeries = { steps: [...steps], values: steps.map(() => [1, 2]) };
  appendEntry(list, 1000, [3, 4], 10);
  appendEntry(list, 1001, [5, 6], 10);
  assert.deepEqual(
    [list.steps.slice(-2), list.values.slice(-2)],
    [
      [999, 1001],
      [
        [1, 2],
        [5, 6],
      ],
    ],
  );
});

test("log-axis ticks get numbers: the ticks uPlot keeps are labeled, the ones it thins out (null) are blank", () => {
  // uPlot's splits for a log axis over λmax in [2, 10], and for a gradient test in [1.2e-5, 3e-5].
  assert.deepEqual(tickLabels([2, null, null, 5, null, null, null, null, 10]), ["2", "", "", "5", "", "", "", "", "10"]);
  assert.deepEqual(tickLabels([0.00001, 0.00002, null, null, 0.00005, null, null, null, null, 0.0001]), ["1e-5", "2e-5", "", "", "5e-5", "", "", "", "", "1e-4"]);
  assert.deepEqual(tickLabels([0.01, null, 1, null, 100]), ["0.01", "", "1", "", "100"]);
});

test("nearby tick values get labels with enough digits to tell them apart", () => {
  const hyperparameter = [0.3, 0.30005, 0.3001, 0.30015, 0.3002];
  const labels = tickLabels(hyperparameter);
  assert.equal(new Set(labels).size, hyperparameter.length, labels.join(" "));
  assert.deepEqual(labels.map(Number), hyperparameter, "each label reads as its tick");
  assert.deepEqual(tickLabels([0, 0.5, 1, 1.5, 2]), ["0", "0.5", "1", "1.5", "2"]);
  assert.deepEqual(tickLabels([0, 20_000, 40_000, 60_000]), ["0", "20000", "40000", "60000"]);
  assert.deepEqual(tickLabels([1.5e6, 2e6, 2.5e6]), ["1.5e+6", "2.0e+6", "2.5e+6"]);
});

test("the runs table's step count follows the live stream's loss steps, not only the last run summary", () => {
  const summary = (id: string, lastStep: number | null) => ({ id, lastStep }) as RunSummary;
  const runs = [summary("a", 207), summary("b", null)];
  assert.equal(advanceLastSteps(runs, [["a", "quantities/Alpha", 500, 1]]), false, "only the loss counts steps, as on the server");
  assert.equal(
    advanceLastSteps(runs, [
      ["a", "train/loss", 438, 0.5],
      ["a", "train/loss", 439, 0.4],
      ["b", "train/loss", 0, 2],
      ["gone", "train/loss", 9, 1],
    ]),
    true,
  );
  assert.deepEqual(
    runs.map((r) => r.lastStep),
    [439, 0],
  );
  assert.equal(advanceLastSteps(runs, [["a", "train/loss", 300, 0.1]]), false, "an older step never moves it back");
});

test("the dashboard reads the store only through its reader: no SQLite import, no database handle, no SQL", () => {
  const dashboard = fileURLToPath(new URL("../src/dashboard", import.meta.url));
  const found: string[] = [];
  for (const file of sourceFiles(dashboard)) {
    const where = (node: ts.Node) => `${file.slice(dashboard.length + 1)}:${node.getSourceFile().getLineAndCharacterOfPosition(node.getStart()).line + 1}`;
    walkSyntax(file, (node) => {
      if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
        const from = node.moduleSpecifier.text;
        if (from === "better-sqlite3" || /store\/(database|sqliteRunReader)\.ts$/.test(from)) found.push(`${where(node)} imports ${from}`);
      }
      if (ts.isPropertyAccessExpression(node) && ["db", "prepare", "pragma"].includes(node.name.text)) found.push(`${where(node)} uses .${node.name.text}`);
      if (ts.isStringLiteralLike(node) && /\b(SELECT|INSERT|UPDATE|DELETE)\b/.test(node.text)) found.push(`${where(node)} holds SQL`);
    });
  }
  assert.deepEqual(found, []);
});

test("listenOn binds and leaves no error listener of its own behind; a busy port is named, and checkPortFree lets a free one go", async () => {
  const first = createServer();
  await listenOn(first, 0, "127.0.0.1");
  const port = (first.address() as AddressInfo).port;
  assert.equal(first.listenerCount("error"), 0, "a later error is the server owner's to handle");
  await assert.rejects(checkPortFree(port, "127.0.0.1"), new RegExp(`the dashboard's port ${port} on 127\\.0\\.0\\.1 is in use \\(pass --port\\)`));
  await new Promise<void>((resolve) => first.close(() => resolve()));
  await checkPortFree(port, "127.0.0.1");
  const again = createServer();
  await listenOn(again, port, "127.0.0.1");
  await new Promise<void>((resolve) => again.close(() => resolve()));
});

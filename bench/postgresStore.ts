// The PostgreSQL store's floors (issue 24), a script rather than a test: a trainer logging 20
// scalars per step at 200 steps/s for 30 s keeps up (the batches posted to the database do not
// pile up), and the dashboard's first render of a run of 10 M rows. Uses GRADSCOPE_BENCH_STORE_URL
// (an empty database) or else starts a throwaway cluster (test/postgresCluster.ts).
//   node --experimental-wasm-relaxed-simd --import tsx bench/postgresStore.ts [seconds] [rows]
import { cpus } from "node:os";
import pg from "pg";
import { startDashboardWorker } from "../src/dashboard/launch.ts";
import { openRunStore } from "../src/store/openRunStore.ts";
import type { PostgresRunStore } from "../src/store/postgres/postgresRunStore.ts";
import { type PostgresCluster, startPostgres } from "../test/postgresCluster.ts";
import { dashboardPage, firstRenderTimes, launchChromium } from "./firstRender.ts";

const KEYS = 20;
const STEPS_PER_SECOND = 200;
const seconds = Number(process.argv[2] ?? 30);
// Rounds of first renders from each start (see firstRender).
const ROUNDS = 3;
const bigRows = Number(process.argv[3] ?? 10_000_000);
const keys = Array.from({ length: KEYS }, (_, i) => (i === 0 ? "train/loss" : `quantities/Q${i}`));
const pause = new Int32Array(new SharedArrayBuffer(4));

/** Logs KEYS scalars per step at STEPS_PER_SECOND (the rest of each step's time asleep, as a busy trainer's thread would be elsewhere). */
function writer(store: PostgresRunStore) {
  store.createRun({ id: "writer", name: "writer", config: {} });
  const backlog: number[] = [];
  let logMs = 0;
  let maxStepLogMs = 0;
  const started = performance.now();
  const total = seconds * STEPS_PER_SECOND;
  for (let step = 0; step < total; step++) {
    const before = performance.now();
    for (const key of keys) store.log("writer", key, step, Math.sin(step / 100) + Math.random());
    const spent = performance.now() - before;
    logMs += spent;
    maxStepLogMs = Math.max(maxStepLogMs, spent);
    // The largest backlog of each second: batches posted and not yet committed.
    const second = Math.floor(step / STEPS_PER_SECOND);
    backlog[second] = Math.max(backlog[second] ?? 0, store.backlog());
    const due = started + ((step + 1) * 1000) / STEPS_PER_SECOND;
    const wait = due - performance.now();
    if (wait > 0) Atomics.wait(pause, 0, 0, wait);
  }
  const loopSeconds = (performance.now() - started) / 1000;
  const flushStarted = performance.now();
  store.flush();
  const flushMs = performance.now() - flushStarted;
  const rows = store.scalars("writer", "train/loss").length * KEYS;
  return {
    steps: total,
    stepsPerSecond: Math.round(total / loopSeconds),
    rowsStored: rows,
    maxBacklogPerSecond: backlog.join(" "),
    maxBacklog: Math.max(...backlog),
    meanLogMicrosecondsPerStep: Math.round((logMs / total) * 1000),
    maxStepLogMs: Number(maxStepLogMs.toFixed(2)),
    finalFlushMs: Math.round(flushMs),
  };
}

/** What a first render meets, coldest first: see `firstRender`. */
type Start = "cold disk" | "cold database" | "cold page";

/** One dashboard and browser, both new, showing run "big" `loads` times: each load's first-render time. */
async function renders(location: string, loads: number): Promise<number[]> {
  const dashboard = await startDashboardWorker({ store: location });
  const browser = await launchChromium();
  try {
    return await firstRenderTimes(await dashboardPage(browser), dashboard.url, Array(loads).fill("big"), 120_000);
  } finally {
    await browser.close();
    await dashboard.close();
  }
}

/**
 * Fills one run with `rows` scalar rows (20 series) on the server, then times the dashboard's
 * first render of it, from the coldest start to warm ones. Every start has a new dashboard server
 * (its connections, its code not yet optimized) and a new browser (no cached page, modules or
 * compiled code). "cold page": the database as the fill left it (its shared buffers hold what it
 * wrote last). "cold database": the cluster restarted first, so shared buffers are empty and every
 * page is read from the operating system's cache. "cold disk": the cluster's files dropped from
 * that cache as well (when the bench may read them, see PostgresCluster.evictFromPageCache), so
 * every page comes from the disk. Then "warm": two more loads of a page. ROUNDS of each.
 */
async function firstRender(store: PostgresRunStore, location: string, cluster: PostgresCluster | null) {
  const steps = Math.floor(bigRows / KEYS);
  store.createRun({ id: "big", name: "big", config: { optimizer: { name: "sgd", lr: 0.1 } } });
  const fillStarted = performance.now();
  await fill(location, steps);
  const fillSeconds = (performance.now() - fillStarted) / 1000;
  const firstRenderMs: Record<Start | "warm", number[] | string> = { "cold page": [], "cold database": [], "cold disk": [], warm: [] };
  const add = (start: Start | "warm", ...times: number[]) => (firstRenderMs[start] as number[]).push(...times);
  // Rounds of every start, for their spread on a shared host; a later round's "cold page" finds
  // the database as the round before left it.
  for (let round = 0; round < ROUNDS; round++) {
    add("cold page", (await renders(location, 1))[0]);
    if (cluster) {
      cluster.restart();
      add("cold database", (await renders(location, 1))[0]);
      cluster.restart();
      if (cluster.evictFromPageCache()) add("cold disk", (await renders(location, 1))[0]);
      else firstRenderMs["cold disk"] = "not measured: the cluster's files cannot be read by this user";
    } else firstRenderMs["cold database"] = firstRenderMs["cold disk"] = "not measured: the database is not the bench's own (GRADSCOPE_BENCH_STORE_URL)";
    add("warm", ...(await renders(location, 3)).slice(1));
  }
  const dashboard = await startDashboardWorker({ store: location });
  try {
    return { rows: steps * KEYS, fillSeconds: Math.round(fillSeconds), firstRenderMs, apiMs: await apiTimes(dashboard.url) };
  } finally {
    await dashboard.close();
  }
}

/** How long the API requests behind a first render take, warm: the run list, the run, its 20 series at two widths. */
async function apiTimes(url: string): Promise<Record<string, number>> {
  const series = keys.map((key) => `key=${encodeURIComponent(key)}`).join("&");
  const paths = {
    runs: "/api/runs",
    run: "/api/runs/big",
    "scalars×20 buckets=1400": `/api/runs/big/scalars?${series}&buckets=1400`,
    "scalars×20 buckets=400": `/api/runs/big/scalars?${series}&buckets=400`,
  };
  const times: Record<string, number> = {};
  for (const [name, path] of Object.entries(paths)) {
    const started = performance.now();
    const response = await fetch(new URL(path, url));
    if (!response.ok) throw new Error(`${path}: ${response.status} ${await response.text()}`);
    await response.arrayBuffer();
    times[name] = Math.round(performance.now() - started);
  }
  return times;
}

// Rows generated by the server on a connection of its own, a series at a time: the bench measures
// reading them, not sending them.
async function fill(location: string, steps: number): Promise<void> {
  const client = new pg.Client({ connectionString: location });
  await client.connect();
  try {
    for (const key of keys)
      await client.query(
        "INSERT INTO scalars (run_id, key, step, wall_time, value) SELECT 'big', $1, s, s, exp(-s::float8 / $2) + 0.1 * sin(s) FROM generate_series(0, $2 - 1) s",
        [key, steps],
      );
    // As autovacuum would have by the time anyone looks at a run this long.
    await client.query("VACUUM ANALYZE");
  } finally {
    await client.end();
  }
}

const given = process.env.GRADSCOPE_BENCH_STORE_URL;
const cluster = given ? null : startPostgres();
if (cluster && "skip" in cluster) throw new Error(cluster.skip);
try {
  const location = given ?? cluster?.createDatabase("bench");
  const store = openRunStore(location as string) as PostgresRunStore;
  try {
    const cpu = `${cpus().length} × ${cpus()[0]?.model}`;
    console.log(JSON.stringify({ cpu, writer: writer(store) }, null, 2));
    console.log(JSON.stringify({ dashboard: await firstRender(store, location as string, cluster) }, null, 2));
  } finally {
    store.close();
  }
} finally {
  if (cluster && !("skip" in cluster)) cluster.stop();
}

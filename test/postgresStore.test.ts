// The PostgreSQL run store's own guarantees (the ones both backends share run in store.test.ts):
// its migrations match SQLite's, run once however many processes connect, bad URLs and foreign
// databases are refused naming the URL (password redacted), crash marking judges only its own
// machine's processes, the CLI trains into it, lists it and serves it, and a store gone offline
// keeps its run's writes in the run directory until the run resumes.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { startDashboard } from "../src/dashboard/server.ts";
import { MIGRATIONS, StoreOpenError } from "../src/store/database.ts";
import { openRunStore } from "../src/store/openRunStore.ts";
import { POSTGRES_MIGRATIONS } from "../src/store/postgres/migrations.ts";
import type { PostgresRunStore } from "../src/store/postgres/postgresRunStore.ts";
import { SyncPostgresClient } from "../src/store/postgres/syncClient.ts";
import { readUnwritten, UNWRITTEN_FILE } from "../src/store/postgres/unwrittenWrites.ts";
import { PASSWORD, PASSWORD_USER } from "./postgresCluster.ts";
import { storeBackends } from "./storeBackends.ts";

const postgres = storeBackends.find((backend) => backend.name === "PostgreSQL");
if (!postgres) throw new Error("no PostgreSQL backend");
const skip = postgres.skip;
const folder = mkdtempSync(join(tmpdir(), "gradscope-postgres-store-"));
const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));
const cli = (args: string[], env: NodeJS.ProcessEnv = {}) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: folder, env: { ...process.env, ...env } });

test("every SQLite migration has its PostgreSQL dialect, so a schema version means the same tables in both", () => {
  assert.equal(POSTGRES_MIGRATIONS.length, MIGRATIONS.length);
});

test("a wrong password, an unreachable server and a database that is not a gradscope store are refused naming the URL, its password redacted", { skip }, async () => {
  const url = postgres.location("refusals");
  const withPassword = (password: string) => url.replace("postgres@", `${PASSWORD_USER}:${password}@`);
  assert.throws(
    () => openRunStore(withPassword("wrong-pw")),
    (error: Error) =>
      error instanceof StoreOpenError &&
      error.message.startsWith(`gradscope: cannot open the run store ${withPassword("***")}: cannot connect (`) &&
      /password authentication failed for user "gradscope_tester"/.test(error.message) &&
      !error.message.includes("wrong-pw"),
  );
  openRunStore(withPassword(PASSWORD)).close();
  assert.throws(
    () => openRunStore("postgres://nobody:pw@127.0.0.1:1/none"),
    /^StoreOpenError: gradscope: cannot open the run store postgres:\/\/nobody:\*\*\*@127.0.0.1:1\/none: cannot connect \(connect ECONNREFUSED 127.0.0.1:1\); expected a PostgreSQL server/,
  );
  const foreign = postgres.location("foreign");
  await postgres.sql(foreign, "CREATE TABLE invoices (id integer)");
  assert.throws(
    () => openRunStore(foreign),
    /it is not a gradscope run store: its schema has tables \(invoices\) but no schema_version; expected an empty database or one gradscope created$/,
  );
  const empty = postgres.location("empty");
  assert.throws(() => openRunStore(empty, { create: false }), /it has no gradscope run store yet/);
  assert.deepEqual(await postgres.sql(empty, "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"), [], "a command that only reads creates nothing");
  const newer = postgres.location("newer");
  openRunStore(newer).close();
  await postgres.sql(newer, "UPDATE schema_version SET version = 99");
  assert.throws(() => openRunStore(newer), new RegExp(`it has schema version 99; this gradscope understands up to ${MIGRATIONS.length}$`));
});

test("a store from before the coarse rollup levels gets them when opened: its long series answer as SQLite's", { skip }, async () => {
  const url = postgres.location("coarse-migration");
  const before = POSTGRES_MIGRATIONS.length - 1;
  for (const migration of POSTGRES_MIGRATIONS.slice(0, before)) await postgres.sql(url, migration);
  await postgres.sql(url, `CREATE TABLE schema_version (version integer NOT NULL); INSERT INTO schema_version VALUES (${before})`);
  await postgres.sql(url, "INSERT INTO runs (id, name, status, config, started_at) VALUES ('old', 'old', 'completed', '{}', 0)");
  // 20 000 steps written by the older schema's trigger (64-step blocks only), one missing value.
  const value = "CASE WHEN s = 777 THEN NULL ELSE sin(s / 30.0) * (1 + s % 7) END";
  await postgres.sql(url, `INSERT INTO scalars (run_id, key, step, wall_time, value) SELECT 'old', 'train/loss', s, s, ${value} FROM generate_series(0, 19999) s`);
  const sqliteBackend = storeBackends.find((backend) => backend.name === "SQLite");
  if (!sqliteBackend) throw new Error("no SQLite backend");
  const sqlite = openRunStore(sqliteBackend.location("coarse-migration"));
  sqlite.createRun({ id: "old", name: "old", config: {} });
  const rows = await postgres.sql<{ step: number; value: number | null }>(url, "SELECT step, value FROM scalars ORDER BY step");
  for (const { step, value } of rows) sqlite.log("old", "train/loss", Number(step), value ?? Number.NaN);
  sqlite.flush();
  const store = openRunStore(url);
  try {
    const levels = await postgres.sql<{ level: number; blocks: string }>(url, "SELECT level, COUNT(*) AS blocks FROM scalar_coarse_blocks GROUP BY level ORDER BY level");
    assert.deepEqual(
      levels.map(({ level, blocks }) => [level, Number(blocks)]),
      [
        [1, 40],
        [2, 5],
      ],
    );
    // 4096-, 512- and 64-step blocks, with partial ends.
    for (const range of [{ buckets: 2 }, { from: 100, to: 19_000, buckets: 9 }, { buckets: 100 }])
      assert.deepEqual(store.reader.scalarBuckets("old", "train/loss", range), sqlite.reader.scalarBuckets("old", "train/loss", range), JSON.stringify(range));
  } finally {
    store.close();
    sqlite.close();
  }
});

test("the store's connection compiles no plan (JIT): its per-bucket reads are estimated above the threshold but read few rows", { skip }, () => {
  const client = new SyncPostgresClient(postgres.location("jit"), true);
  try {
    assert.deepEqual(client.queryRaw("SHOW jit"), [["off"]]);
  } finally {
    client.close();
  }
});

test("processes connecting to a fresh database at the same time migrate it once, and all of them succeed", { skip }, async () => {
  const url = postgres.location("race");
  const open = `import { openRunStore } from ${JSON.stringify(new URL("../src/store/openRunStore.ts", import.meta.url).href)};
    const [url, at] = process.argv.slice(-2);
    while (Date.now() < Number(at));
    openRunStore(url).close();`;
  const at = Date.now() + 4000;
  const codes = await Promise.all(
    Array.from({ length: 4 }, () => {
      const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", open, url, String(at)], { stdio: ["ignore", "ignore", "pipe"] });
      let stderr = "";
      child.stderr.on("data", (chunk) => {
        stderr += chunk;
      });
      return new Promise<string>((resolve) => child.on("close", (code) => resolve(`${code}${stderr}`)));
    }),
  );
  assert.deepEqual(codes, ["0", "0", "0", "0"]);
  assert.deepEqual(await postgres.sql(url, "SELECT version FROM schema_version"), [{ version: MIGRATIONS.length }]);
});

test("crash marking judges only this machine's processes: a running run of another host stays running", { skip }, async () => {
  const url = postgres.location("hosts");
  const store = openRunStore(url);
  store.createRun({ id: "elsewhere", name: "elsewhere", config: {} });
  store.close();
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number;
  await postgres.sql(url, "UPDATE runs SET pid = ?, hostname = 'another-machine' WHERE id = 'elsewhere'", [dead]);
  const again = openRunStore(url);
  assert.equal(again.getRun("elsewhere").status, "running");
  again.close();
});

test("gradscope train --store postgres://… records a spirals run that gradscope runs lists and the dashboard's API serves", { skip }, async () => {
  const url = postgres.location("cli");
  const config = join(folder, "spirals.yaml");
  writeFileSync(
    config,
    `name: spirals
model: { arch: mlp, hidden: [16], activation: tanh, classes: 2 }
data: { source: spirals, samples: 400, batch_size: 20, validation: 0.1 }
training: { epochs: 2, runs_dir: runs }
optimizer: { name: sgd, lr: 0.3 }
`,
  );
  const trained = cli(["train", "-q", "-c", config, "--store", url]);
  assert.equal(trained.status, 0, trained.stderr);
  const listed = cli(["runs", "--json", "--store", url]);
  assert.equal(listed.status, 0, listed.stderr);
  const [run] = JSON.parse(listed.stdout) as Array<{ id: string; status: string }>;
  assert.equal(run.status, "completed");
  assert.equal(JSON.parse(cli(["runs", "--json"], { GRADSCOPE_STORE_URL: url }).stdout)[0].id, run.id, "GRADSCOPE_STORE_URL names the store too");
  const dashboard = await startDashboard({ store: url });
  try {
    const response = await fetch(new URL(`/api/runs/${run.id}/scalars?key=train/loss&buckets=1000`, dashboard.url));
    assert.equal(response.status, 200);
    const { "train/loss": loss } = (await response.json()) as { "train/loss": { steps: number[]; last: number[] } };
    assert.equal(loss.steps.length, 36, "2 epochs of 18 batches");
    assert.ok(loss.last.every((value) => Number.isFinite(value)));
    // Several series in one request answer as each asked alone; a bad key is refused naming it.
    const get = async (query: string) => (await fetch(new URL(`/api/runs/${run.id}/scalars?${query}`, dashboard.url))).json();
    const both = await get("key=train/loss&key=train/lr&buckets=10");
    assert.deepEqual(Object.keys(both), ["train/loss", "train/lr"]);
    assert.equal(both["train/loss"].steps.length, 10);
    assert.deepEqual(both["train/lr"], (await get("key=train/lr&buckets=10"))["train/lr"]);
    const refused = await fetch(new URL(`/api/runs/${run.id}/scalars?key=train/loss&key=`, dashboard.url));
    assert.equal(refused.status, 400);
    assert.match((await refused.json()).error, /key 2 of 2: expected a series key/);
  } finally {
    await dashboard.close();
  }
});

test("the dashboard opens its connections to the store as it starts: a page's first sweeps request waits for no new one", { skip }, async () => {
  const url = postgres.location("dashboard_connections");
  openRunStore(url).close();
  const observer = new SyncPostgresClient(url, false);
  const connections = () => observer.queryRaw<[number]>("SELECT count(*)::int FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")[0][0];
  const dashboard = await startDashboard({ store: url });
  try {
    assert.equal(connections(), 2, "the runs' connection and the sweeps' one");
    const response = await fetch(new URL("/api/sweeps", dashboard.url));
    assert.equal(response.status, 200);
    assert.deepEqual(await response.json(), { sweeps: [] });
    assert.equal(connections(), 2);
  } finally {
    await dashboard.close();
    observer.close();
  }
});

test("a store URL that cannot be opened exits 2 before anything is created, naming the URL without its password", { skip }, () => {
  const unreachable = "postgres://someone:hunter2@127.0.0.1:1/runs";
  const config = join(folder, "unreachable.yaml");
  writeFileSync(
    config,
    `model: { arch: mlp, hidden: [4], classes: 2 }
data: { source: spirals, samples: 100, batch_size: 20 }
training: { epochs: 1, runs_dir: unreachable-runs }
optimizer: { name: sgd, lr: 0.1 }
`,
  );
  for (const args of [
    ["train", "-q", "-c", config, "--store", unreachable],
    ["runs", "--store", unreachable],
    ["export", "abc", "--format", "csv", "--store", unreachable],
  ]) {
    const result = cli(args);
    assert.equal(result.status, 2, `${args[0]}: ${result.stderr}`);
    assert.match(result.stderr, /cannot open the run store postgres:\/\/someone:\*\*\*@127.0.0.1:1\/runs: cannot connect/);
    assert.doesNotMatch(result.stderr, /hunter2/);
  }
  assert.equal(existsSync(join(folder, "unreachable-runs")), false, "no run directory");
});

test("the PostgreSQL reader answers as the SQLite reader does over a long series: every rollup level, partial ends, rewritten steps, lists and heatmaps", { skip }, () => {
  const sqliteBackend = storeBackends.find((backend) => backend.name === "SQLite");
  if (!sqliteBackend) throw new Error("no SQLite backend");
  const stores = [openRunStore(sqliteBackend.location("parity")), openRunStore(postgres.location("parity"))];
  let seed = 7;
  const random = () => {
    seed = (seed * 16807) % 2147483647;
    return seed / 2147483647;
  };
  const values = Array.from({ length: 9000 }, (_, step) => (step % 97 === 0 ? null : Math.sin(step / 50) + random()));
  for (const store of stores) {
    store.createRun({ id: "long", name: "long", config: {} });
    values.forEach((value, step) => {
      store.log("long", "train/loss", step, value ?? Number.NaN);
      if (step % 3 === 0) store.log("long", "train/lr", step, step / 7);
      // Shorter series, read from a finer rollup level or from their rows in the same request.
      if (step < 1500) store.log("long", "train/short", step, Math.cos(step / 30));
      if (step < 50) store.log("long", "train/tiny", step, step);
      if (step % 10 === 0) store.log("long", "quantities/GradNorm", step, [step, value ?? 0]);
      if (step % 50 === 0) store.log("long", "quantities/GradHist1d", step, { hist: [step, 1], edges: [-step - 1, 0, step + 1] });
    });
    store.flush();
    // A resume rewrites steps 3000-3199 with other values.
    for (let step = 3000; step < 3200; step++) store.log("long", "train/loss", step, -values[step]! || 0);
    store.flush();
  }
  // 9000 steps: 64-step blocks for 10 and 37 buckets, 512-step ones for 2 to 4 (rewritten steps
  // included), 4096-step ones for 1; rows for the short ranges.
  const ranges = [
    { buckets: 1 },
    { buckets: 2 },
    { buckets: 4 },
    { from: 700, to: 8900, buckets: 3 },
    { buckets: 10 },
    { buckets: 37 },
    { from: 123, to: 4321, buckets: 20 },
    { from: 3100, to: 3300, buckets: 7 },
    { from: 10, to: 40, buckets: 100 },
  ];
  for (const range of ranges) {
    const [expected, actual] = stores.map((store) => store.reader.scalarBuckets("long", "train/loss", range));
    assert.deepEqual(actual, expected, JSON.stringify(range));
    // Several series in one call (the dashboard's batched request), of different rollup levels
    // (2 buckets: the loss from 512-step blocks, the short series from 64-step ones) or none:
    // each as asked alone.
    const several = ["train/loss", "train/nothing", "train/short", "train/lr", "train/tiny"];
    const [expectedSeveral, actualSeveral] = stores.map((store) => store.reader.scalarBucketsOf("long", several, range));
    assert.deepEqual(actualSeveral, expectedSeveral, JSON.stringify(range));
    assert.deepEqual(Object.keys(actualSeveral), several);
    for (const key of several) assert.deepEqual(actualSeveral[key], stores[1].reader.scalarBuckets("long", key, range), `${key} ${JSON.stringify(range)}`);
    const [expectedLists, actualLists] = stores.map((store) => store.reader.listBuckets("long", "quantities/GradNorm", range));
    assert.deepEqual(actualLists, expectedLists, JSON.stringify(range));
    const [expectedRows, actualRows] = stores.map((store) => store.reader.heatmapRows("long", "quantities/GradHist1d", range));
    assert.deepEqual(actualRows, expectedRows, JSON.stringify(range));
  }
  const [expectedDistribution, actualDistribution] = stores.map((store) => store.reader.valueDistribution("long", "train/loss", -1, 1, 9, 0.2));
  assert.deepEqual(actualDistribution, expectedDistribution);
  const [expectedKeys, actualKeys] = stores.map((store) => store.keys("long"));
  assert.deepEqual(actualKeys, expectedKeys);
  for (const store of stores) store.close();
});

test("a run store that went offline keeps its writes in the run directory (unwritten.jsonl), and resuming the run replays them: every row once, then the file is removed", {
  skip,
}, () => {
  const url = postgres.location("pg_offline");
  const directory = join(folder, "offline-run");
  mkdirSync(directory);
  const file = join(directory, UNWRITTEN_FILE);
  const store = openRunStore(url) as PostgresRunStore;
  store.createRun({ id: "offline-run", name: "offline", config: {}, directory });
  store.spoolWhenUnreachable(file);
  store.log("offline-run", "train/loss", 0, 1.5);
  store.flush();
  // As when another connection of the process found the server unreachable.
  store.goOffline();
  store.log("offline-run", "train/loss", 1, 1.25);
  store.log("offline-run", "train/loss", 2, 1);
  assert.equal(store.stopRequested("offline-run"), false, "offline, no stop request can be read");
  store.event("offline-run", "stop", "interrupted: the store was away", 3);
  store.finishRun("offline-run", "interrupted", null);
  store.close();
  const reader = openRunStore(url, { create: false });
  try {
    assert.deepEqual(
      reader.scalars("offline-run", "train/loss").map((r) => [r.step, r.value]),
      [[0, 1.5]],
      "only what was written before it went offline",
    );
    assert.equal(reader.getRun("offline-run").status, "running");
    assert.equal(readUnwritten(file).length, 3, "the rows, the event and the run's end, a transaction each");
    reader.resumeRun("offline-run", 3, undefined, directory);
    assert.deepEqual(
      reader.scalars("offline-run", "train/loss").map((r) => [r.step, r.value]),
      [
        [0, 1.5],
        [1, 1.25],
        [2, 1],
      ],
    );
    assert.deepEqual(
      reader
        .events("offline-run")
        .filter((e) => e.kind !== "start")
        .map((e) => [e.kind, e.step]),
      [
        ["stop", 3],
        ["resume", 3],
      ],
    );
    assert.equal(reader.getRun("offline-run").status, "running", "resumed after the replayed end");
    assert.ok(!existsSync(file), "replayed, then removed");
  } finally {
    reader.close();
  }
  // A last line cut short by a crash is left out; a bad line before it names the file and line.
  const line = JSON.stringify({ statements: [{ sql: "SELECT 1", params: [] }], streamLock: false });
  writeFileSync(file, `${line}\n{"statem`);
  assert.equal(readUnwritten(file).length, 1);
  writeFileSync(file, `{"statem\n${line}\n`);
  assert.throws(() => readUnwritten(file), new RegExp(`^Error: gradscope: ${file.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}:1: not a transaction of the run store \\(`));
});

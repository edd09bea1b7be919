import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import ts from "typescript";
import { SCHEMA_VERSION } from "../src/store/database.ts";
import { toCsv, toJsonl } from "../src/store/export.ts";
import { openRunStore } from "../src/store/openRunStore.ts";
import type { RunStore } from "../src/store/runStore.ts";
import { keyRange, SERIES_PREFIXES, seriesFamily, seriesKey, seriesName } from "../src/store/seriesKeys.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { openSweepStore } from "../src/store/sweeps.ts";
import { StoreLogger } from "../src/train/callbacks/storeLogger.ts";
import type { Trainer } from "../src/train/trainer.ts";
import { sourceFiles, storeAtVersion, walkSyntax } from "./helpers.ts";
import { freshStore, storeBackends } from "./storeBackends.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-store-"));
// The store keeps its database to itself: tests of the schema look through a connection of their own.
function inspect<T>(path: string, look: (db: Database.Database) => T): T {
  const db = new Database(path);
  try {
    return look(db);
  } finally {
    db.close();
  }
}

const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));

for (const backend of storeBackends)
  test(`${backend.name}: the store keeps runs, scalars, lists, histograms and events; a second connection reads what was flushed`, { skip: backend.skip }, async () => {
    const path = backend.location("a");
    // A flush interval longer than the test: the second connection looks while the values wait.
    const store = openRunStore(path, { flushMs: 60_000 });
    store.createRun({ id: "r1", name: "first", config: { seed: 1 } });
    store.log("r1", "train/loss", 0, 1.5);
    store.log("r1", "train/loss", 1, 1.25);
    store.log("r1", "quantities/GradNorm", 1, [0.5, 0.25]);
    store.log("r1", "quantities/GradHist1d", 1, { hist: [1, 2], edges: [-1, 0, 1] });
    store.log("r1", "train/grad_norm", 2, Number.NaN);
    const count = async () => Number((await backend.sql<{ n: number }>(path, "SELECT COUNT(*) n FROM scalars"))[0].n);
    assert.equal(await count(), 0, "buffered until flushed");
    store.flush();
    assert.equal(await count(), 3);
    store.event("r1", "notice", "hello", 1);
    store.finishRun("r1", "completed", { test: { test_accuracy: 0.9 } });
    assert.deepEqual(
      store.scalars("r1", "train/loss").map((r) => r.value),
      [1.5, 1.25],
    );
    assert.equal(store.scalars("r1", "train/grad_norm")[0].value, null, "non-finite values are stored as null");
    assert.deepEqual(store.lists("r1", "quantities/GradNorm")[0].value, [0.5, 0.25]);
    assert.deepEqual(store.keys("r1"), { scalars: ["train/grad_norm", "train/loss"], lists: ["quantities/GradNorm"], histograms: ["quantities/GradHist1d"] });
    assert.equal(store.getRun("r").status, "completed", "a unique prefix finds the run");
    assert.deepEqual(
      store.events("r1").map((e) => [e.kind, e.step]),
      [
        ["start", 0],
        ["notice", 1],
      ],
    );
    assert.equal(store.events("r1")[1].message, "hello");
    assert.match(
      toJsonl(store, "r1").split("\n")[1],
      /^\{"step":1,"train\/loss":1.25,"quantities\/GradNorm":\[0.5,0.25\],"quantities\/GradHist1d":\{"hist":\[1,2\],"edges":\[-1,0,1\]\}\}$/,
    );
    assert.deepEqual(toCsv(store, "r1").split("\n").slice(0, 3), ["step,quantities/GradNorm/0,quantities/GradNorm/1,train/grad_norm,train/loss", "0,,,,1.5", "1,0.5,0.25,,1.25"]);
    // With the parameters' names recorded, the CSV's list columns carry them, as the TensorBoard export's tags do.
    store.setParameters("r1", ["0.weight", "0.bias"]);
    assert.deepEqual(toCsv(store, "r1").split("\n")[0], "step,quantities/GradNorm/0.bias,quantities/GradNorm/0.weight,train/grad_norm,train/loss");
    store.deleteRun("r1");
    assert.throws(() => store.getRun("r1"), /no run "r1"/);
    const rollups = backend.name === "PostgreSQL" ? ["scalar_blocks", "scalar_coarse_blocks"] : ["scalar_blocks"];
    for (const table of rollups) assert.deepEqual(await backend.sql(path, `SELECT * FROM ${table} WHERE run_id = 'r1'`), [], `${table} of the deleted run`);
    store.close();
  });

for (const backend of storeBackends)
  test(`${backend.name}: a run or sweep id prefix matches its own _, % and backslash literally and its letters' case (my_run was not found by its name)`, {
    skip: backend.skip,
  }, () => {
    const path = backend.location("prefixes");
    const store = openRunStore(path);
    for (const id of ["my_run-1", "myxrun-1", "100%-1", "a\\b-1", "Upper-1"]) store.createRun({ id, name: id, config: {} });
    assert.equal(store.getRun("my_run").id, "my_run-1", "_ is not a wildcard, and is not dropped");
    assert.equal(store.getRun("myx").id, "myxrun-1");
    assert.throws(() => store.getRun("my_x"), /no run "my_x"/);
    assert.equal(store.getRun("100%").id, "100%-1");
    assert.throws(() => store.getRun("1%"), /no run "1%"/, "% is not a wildcard");
    assert.equal(store.getRun("a\\").id, "a\\b-1");
    assert.throws(() => store.getRun("upper"), /no run "upper"/, "ids are matched with their case");
    store.close();
    const sweeps = openSweepStore(path);
    sweeps.createSweep({ id: "lr_decay-1", name: "lr_decay", spec: {}, base: {}, directory: "/tmp/lr_decay" });
    sweeps.createSweep({ id: "LRx-1", name: "LRx", spec: {}, base: {}, directory: "/tmp/lrx" });
    assert.equal(sweeps.getSweep("lr_").id, "lr_decay-1");
    assert.throws(() => sweeps.getSweep("lrx"), /no sweep "lrx"/);
    sweeps.close();
  });

for (const backend of storeBackends)
  test(`${backend.name}: opening the store marks runs of vanished processes of this machine as crashed`, { skip: backend.skip }, async () => {
    const path = backend.location("vanished");
    const store = openRunStore(path);
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    store.createRun({ id: "gone", name: "gone", config: {} });
    store.createRun({ id: "mine", name: "mine", config: {} });
    await backend.setProcess(path, "gone", dead);
    store.close();
    const again = openRunStore(path);
    assert.equal(again.getRun("gone").status, "crashed");
    assert.equal(again.getRun("mine").status, "running", "a run whose process is alive stays running");
    again.close();
  });

test("a SQLite store with a newer schema is refused untouched", () => {
  const newer = join(folder, "c.db");
  const db = new Database(newer);
  db.pragma("user_version = 99");
  db.close();
  assert.throws(() => new SqliteRunStore(newer), new RegExp(`has schema version 99; this gradscope understands up to ${SCHEMA_VERSION}$`));
  assert.equal(
    inspect(newer, (db) => db.pragma("user_version", { simple: true })),
    99,
  );
});

const longConfig = join(folder, "long.yaml");
writeFileSync(
  longConfig,
  `name: long
model: { arch: mlp, hidden: [16], classes: 2 }
data: { source: spirals, samples: 40000, batch_size: 20 }
training: { epochs: 20, runs_dir: ${JSON.stringify(join(folder, "runs"))} }
optimizer: { name: sgd, lr: 0.1 }
callbacks: { progress: { every: 200 } }
`,
);

test("a reader sees a training run's data while it writes, and a killed trainer leaves a readable store with the run marked crashed", async () => {
  const child = spawn(process.execPath, [bin, "train", "-c", longConfig], { cwd: folder });
  let output = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout.on("data", (chunk) => {
      output += chunk;
      if (/batch 600\//.test(output)) resolve();
    });
    child.on("exit", () => reject(new Error(`exited early: ${output}`)));
  });
  const path = join(folder, "runs", "gradscope.db");
  const deadline = Date.now() + 2000;
  let rows = 0;
  let status = "";
  while (Date.now() < deadline && rows === 0) {
    const reader = new Database(path, { readonly: true, fileMustExist: true });
    rows = (reader.prepare("SELECT COUNT(*) n FROM scalars WHERE key = 'train/loss'").get() as { n: number }).n;
    status = (reader.prepare("SELECT status FROM runs").get() as { status: string }).status;
    reader.close();
    if (rows === 0) await new Promise((r) => setTimeout(r, 100));
  }
  assert.ok(rows > 0, "losses are visible while training runs");
  assert.equal(status, "running");
  child.kill("SIGKILL");
  await new Promise((resolve) => child.on("close", resolve));
  const listed = spawnSync(process.execPath, [bin, "runs", "--json", "--store", path], { encoding: "utf8" });
  assert.equal(listed.status, 0, listed.stderr);
  assert.equal(JSON.parse(listed.stdout)[0].status, "crashed");
});

test("gradscope runs show/delete and export work on a finished run; unknown ids are named", () => {
  const store = join(folder, "runs", "gradscope.db");
  const trained = spawnSync(process.execPath, [bin, "train", "-q", "-c", longConfig, "training.epochs=1", "data.samples=400", "quantities={norm_test: true}"], {
    cwd: folder,
    encoding: "utf8",
  });
  assert.equal(trained.status, 0, trained.stderr);
  const id = /run directory \S+\/(long-\S+)/.exec(trained.stdout)?.[1] as string;
  const shown = JSON.parse(spawnSync(process.execPath, [bin, "runs", "show", id, "--json", "--store", store], { encoding: "utf8" }).stdout);
  assert.equal(shown.status, "completed");
  assert.ok(shown.keys.scalars.includes("quantities/NormTest") && shown.keys.scalars.includes("train/loss"));
  const out = join(folder, "export");
  assert.equal(spawnSync(process.execPath, [bin, "export", id, "--format", "csv", "--out", out, "--store", store]).status, 0);
  assert.match(readFileSync(join(out, `${id}.csv`), "utf8").split("\n")[0], /^step,.*quantities\/NormTest.*train\/loss/);
  const missing = spawnSync(process.execPath, [bin, "runs", "show", "nope", "--store", store], { encoding: "utf8" });
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /no run "nope"/);
  assert.equal(spawnSync(process.execPath, [bin, "runs", "delete", id, "--store", store]).status, 0);
  assert.equal(JSON.parse(spawnSync(process.execPath, [bin, "runs", "--json", "--store", store], { encoding: "utf8" }).stdout).length, 1, "only the crashed run remains");
});

test("SQLite: values logged while another process holds the store's write lock past the busy timeout are kept and committed once it lets go (a flush failed with 'database is locked', dropping them and failing the run)", {
  timeout: 60_000,
}, async () => {
  const path = join(folder, "locked.db");
  const store = openRunStore(path, { flushMs: 50 });
  store.createRun({ id: "l", name: "l", config: {} });
  // Another process takes the write lock for 6 s, past the store's 5 s busy timeout.
  const holder = spawn(
    process.execPath,
    ["-e", `const db = new (require("better-sqlite3"))(${JSON.stringify(path)}); db.exec("BEGIN EXCLUSIVE"); console.log("locked"); setTimeout(() => db.exec("COMMIT"), 6000);`],
    {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
    },
  );
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once("data", () => resolve());
    holder.once("exit", (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  for (let step = 0; step < 3; step++) store.log("l", "train/loss", step, step / 10);
  // The timer's flushes find the lock held and keep the values queued.
  await new Promise((resolve) => setTimeout(resolve, 200));
  store.log("l", "train/loss", 3, 0.3);
  store.flush(); // waits for the lock, which the holder releases at 6 s
  assert.deepEqual(
    store.scalars("l", "train/loss").map((row) => [row.step, row.value]),
    [
      [0, 0],
      [1, 0.1],
      [2, 0.2],
      [3, 0.3],
    ],
  );
  store.close();
  holder.kill();
});

test("SQLite: a timed flush does not wait for another process's write lock: it writes nothing, keeps its rows queued, and they land once per step and key when the lock is gone (each tick waited out the 5 s busy timeout, so training crawled)", {
  timeout: 60_000,
}, async () => {
  const path = join(folder, "locked-timed.db");
  const store = openRunStore(path, { flushMs: 20 });
  store.createRun({ id: "t", name: "t", config: {} });
  // Another process takes the write lock until told to let go, or 4.5 s at most: a timed flush
  // that waited the 5 s busy timeout would see it let go and commit, which the test would catch.
  const holder = spawn(
    process.execPath,
    [
      "-e",
      `const db = new (require("better-sqlite3"))(${JSON.stringify(path)}); db.exec("BEGIN IMMEDIATE"); console.log("locked");
       const release = () => { db.exec("COMMIT"); db.close(); process.exit(0); };
       process.stdin.once("data", release); setTimeout(release, 4500);`,
    ],
    { cwd: fileURLToPath(new URL("..", import.meta.url)) },
  );
  await new Promise<void>((resolve, reject) => {
    holder.stdout.once("data", () => resolve());
    holder.once("exit", (code) => reject(new Error(`the lock holder exited with ${code}`)));
  });
  for (let step = 0; step < 3; step++) store.log("t", "train/loss", step, step / 10);
  // Set after the store's timer with the same delay, this one fires after that timer's flush.
  await new Promise((resolve) => setTimeout(resolve, 20));
  const written = () => inspect(path, (db) => db.prepare("SELECT step, COUNT(*) AS n FROM scalars WHERE run_id = 't' GROUP BY step ORDER BY step").all());
  assert.deepEqual(written(), [], "the timed flush wrote nothing while the lock was held");
  // Training goes on: a step logged again replaces its queued value rather than adding a row.
  store.log("t", "train/loss", 2, 0.25);
  store.log("t", "train/loss", 3, 0.3);
  const exited = new Promise((resolve) => holder.once("exit", resolve));
  holder.stdin.end("release\n");
  await exited;
  store.flush();
  assert.deepEqual(
    store.scalars("t", "train/loss").map((row) => [row.step, row.value]),
    [
      [0, 0],
      [1, 0.1],
      [2, 0.25],
      [3, 0.3],
    ],
  );
  assert.deepEqual(
    written(),
    [0, 1, 2, 3].map((step) => ({ step, n: 1 })),
  );
  store.close();
});

test("gradscope runs delete refuses a running run, whose trainer would go on writing rows no run owns", () => {
  const path = join(folder, "running.db");
  const store = openRunStore(path);
  // This process is the run's trainer: alive, so the CLI's store does not mark the run crashed.
  store.createRun({ id: "live-1", name: "live", config: {} });
  store.close();
  const deleted = spawnSync(process.execPath, [bin, "runs", "delete", "live", "--store", path], { encoding: "utf8" });
  assert.equal(deleted.status, 2, deleted.stderr);
  assert.match(
    deleted.stderr,
    new RegExp(
      `run live-1 is running \\(process ${process.pid}\\); stop it \\(Ctrl-C, or "stop run" on the dashboard\\) before deleting it, or pass --force if its machine is gone`,
    ),
  );
  const reopened = openRunStore(path);
  assert.equal(reopened.getRun("live-1").status, "running", "the run is kept");
  reopened.createRun({ id: "done-1", name: "done", config: {} });
  reopened.finishRun("done-1", "completed", {});
  reopened.close();
  assert.equal(spawnSync(process.execPath, [bin, "runs", "delete", "done", "--store", path]).status, 0, "a finished run is deleted");
  // A PostgreSQL run whose machine is gone stays running: --force deletes it.
  assert.equal(spawnSync(process.execPath, [bin, "runs", "delete", "live", "--force", "--store", path]).status, 0, "--force deletes a running run");
  assert.deepEqual(JSON.parse(spawnSync(process.execPath, [bin, "runs", "--json", "--store", path], { encoding: "utf8" }).stdout), []);
});

for (const backend of storeBackends)
  test(`${backend.name}: the store logger records parameter names and only the hyperparameters a schedule changes`, { skip: backend.skip }, async () => {
    const store = freshStore(backend, "hyper");
    store.createRun({ id: "h", name: "h", config: {} });
    const hyper: Record<string, unknown> = { lr: 0.1, momentum: 0.9, betas: [0.9, 0.999], nesterov: false, weightDecay: 0 };
    const trainer = { model: { namedParameters: () => [["0.weight"], ["0.bias"]] }, optimizer: { paramGroups: [{ hyper }] } } as unknown as Trainer;
    const logger = new StoreLogger(store, "h");
    logger.onTrainBegin(trainer);
    for (let step = 0; step < 4; step++) {
      if (step >= 2) {
        hyper.momentum = 0.9 - 0.1 * (step - 1);
        hyper.betas = [0.8, 0.999];
      }
      logger.onBatchEnd(trainer, { step, loss: 1, lr: 0.1 });
    }
    store.flush();
    assert.deepEqual(store.getRun("h").parameters, ["0.weight", "0.bias"]);
    assert.deepEqual(
      store.keys("h").scalars.filter((k) => k.startsWith("hyper/")),
      ["hyper/betas/0", "hyper/momentum"],
      "constant ones (weight decay, betas[1]) are not logged",
    );
    assert.deepEqual(
      store.scalars("h", "hyper/momentum").map((r) => [r.step, Number(r.value?.toFixed(6))]),
      [
        [0, 0.9],
        [2, 0.8],
        [3, 0.7],
      ],
    );
    store.close();
  });

for (const backend of storeBackends)
  test(`${backend.name}: writing a step again replaces it: one row per (run, key, step), the last written, and the rollup follows`, { skip: backend.skip }, async () => {
    const store = freshStore(backend, "upsert");
    store.createRun({ id: "u", name: "u", config: {} });
    for (const step of [0, 1, 2]) store.log("u", "train/loss", step, step + 10);
    store.log("u", "quantities/GradNorm", 1, [1, 2]);
    store.log("u", "quantities/GradHist1d", 1, { hist: [1], edges: [0, 1] });
    store.flush();
    // A resumed run writes steps 1 and 2 again; step 1 with another value (e.g. after an override).
    store.log("u", "train/loss", 1, -5);
    store.log("u", "train/loss", 2, 12);
    store.log("u", "quantities/GradNorm", 1, [3, 4]);
    store.log("u", "quantities/GradHist1d", 1, { hist: [7], edges: [0, 2] });
    store.flush();
    assert.deepEqual(
      store.scalars("u", "train/loss").map((r) => [r.step, r.value]),
      [
        [0, 10],
        [1, -5],
        [2, 12],
      ],
    );
    assert.deepEqual(
      store.lists("u", "quantities/GradNorm").map((r) => r.value),
      [[3, 4]],
    );
    assert.deepEqual(
      store.histograms("u", "quantities/GradHist1d").map((r) => [r.counts, r.edges]),
      [[[7], [0, 2]]],
    );
    assert.deepEqual(
      (await backend.sql<Record<string, number>>(store.location, "SELECT min, max, last_step, last_value FROM scalar_blocks WHERE run_id = 'u'")).map((row) =>
        Object.values(row).map(Number),
      ),
      [[-5, 12, 2, 12]],
    );
    if (backend.name === "PostgreSQL") {
      // The coarse levels follow the rewritten block (SQLite keeps none: its reader groups blocks).
      const coarse = await backend.sql<Record<string, number>>(
        store.location,
        "SELECT level, block, min, max, last_step, last_value FROM scalar_coarse_blocks WHERE run_id = 'u' ORDER BY level",
      );
      assert.deepEqual(
        coarse.map((row) => Object.values(row).map(Number)),
        [
          [1, 0, -5, 12, 2, 12],
          [2, 0, -5, 12, 2, 12],
        ],
      );
    }
    store.close();
  });

test("a store that an older gradscope filled with duplicate rows migrates to one row per (run, key, step), keeping the last written", () => {
  const path = join(folder, "duplicates.db");
  const old = storeAtVersion(path, 3, "d");
  // Steps 1000 and 1001 written twice, as a resume after a kill did: [1000, 1000, 1001, 1001, ...].
  const scalar = old.prepare("INSERT INTO scalars (run_id, key, step, wall_time, value) VALUES ('d', 'train/loss', ?, ?, ?)");
  for (const [step, value] of [
    [999, 5],
    [1000, 100],
    [1001, -100],
    [1000, 4],
    [1001, 3],
    [1002, 2],
  ])
    scalar.run(step, step, value);
  const list = old.prepare("INSERT INTO lists (run_id, key, step, wall_time, value) VALUES ('d', 'quantities/GradNorm', ?, 0, ?)");
  list.run(1000, "[1]");
  list.run(1000, "[2]");
  const histogram = old.prepare("INSERT INTO histograms (run_id, key, step, wall_time, edges, counts) VALUES ('d', 'quantities/GradHist1d', ?, 0, '[0,1]', ?)");
  histogram.run(1000, "[1]");
  histogram.run(1000, "[9]");
  old.close();
  const store = new SqliteRunStore(path);
  assert.deepEqual(
    store.scalars("d", "train/loss").map((r) => [r.step, r.value]),
    [
      [999, 5],
      [1000, 4],
      [1001, 3],
      [1002, 2],
    ],
  );
  assert.deepEqual(
    store.lists("d", "quantities/GradNorm").map((r) => r.value),
    [[2]],
  );
  assert.deepEqual(
    store.histograms("d", "quantities/GradHist1d").map((r) => r.counts),
    [[9]],
  );
  // Steps 999..1002 span blocks 15 (960-1023): the rollup forgets the overwritten 100 and -100.
  assert.deepEqual(
    inspect(path, (db) => db.prepare("SELECT block, min, max, last_step, last_value FROM scalar_blocks WHERE run_id = 'd'").all()),
    [{ block: 15, min: 2, max: 5, last_step: 1002, last_value: 2 }],
  );
  assert.equal(
    inspect(path, (db) => db.pragma("user_version", { simple: true })),
    SCHEMA_VERSION,
  );
  store.close();
});

test("processes opening a fresh store at the same time migrate it once, and all of them succeed", async () => {
  const open = `import { SqliteRunStore } from ${JSON.stringify(new URL("../src/store/sqliteRunStore.ts", import.meta.url).href)};
    const [path, at] = process.argv.slice(-2);
    while (Date.now() < Number(at));
    new SqliteRunStore(path).close();`;
  for (let trial = 0; trial < 3; trial++) {
    const path = join(folder, `race-${trial}.db`);
    // Every process starts, then waits for the same instant to open the store.
    const at = Date.now() + 1500;
    const children = Array.from({ length: 6 }, () =>
      spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", open, path, String(at)], { stdio: ["ignore", "ignore", "pipe"] }),
    );
    const results = await Promise.all(
      children.map(
        (child) =>
          new Promise<{ code: number | null; stderr: string }>((resolve) => {
            let stderr = "";
            child.stderr.on("data", (chunk) => {
              stderr += chunk;
            });
            child.on("close", (code) => resolve({ code, stderr }));
          }),
      ),
    );
    for (const result of results) assert.equal(result.code, 0, `trial ${trial}: ${result.stderr}`);
    assert.equal(
      inspect(path, (db) => db.pragma("user_version", { simple: true })),
      SCHEMA_VERSION,
    );
  }
});

test("a file that is not a run store is refused with its path, and left untouched", () => {
  const path = join(folder, "garbage.db");
  const garbage = Buffer.from("this is not an SQLite database, just some text that happens to be here".repeat(100));
  writeFileSync(path, garbage);
  assert.throws(() => new SqliteRunStore(path), new RegExp(`^StoreOpenError: gradscope: cannot open the run store ${path}: file is not a database$`));
  assert.deepEqual(readFileSync(path), garbage);
  assert.deepEqual(
    readdirSync(folder).filter((name) => name.startsWith("garbage")),
    ["garbage.db"],
    "no -wal or -shm file beside it",
  );
});

test("openRunStore refuses a SQLite path whose folder is missing or a file, naming the path and what it expected, and makes no folder (it made every missing one)", () => {
  const missing = join(folder, "nowhere", "deeper");
  const expected = (problem: string) =>
    new RegExp(`^StoreOpenError: gradscope: cannot open the run store ${missing}/x\\.db: ${problem}; expected the path of a store file in an existing folder$`);
  assert.throws(() => openRunStore(join(missing, "x.db")), expected(`the folder ${missing} does not exist`));
  assert.equal(readdirSync(folder).includes("nowhere"), false, "no folder was made");
  writeFileSync(join(folder, "nowhere"), "a file where the folder would be");
  assert.throws(() => openRunStore(join(missing, "x.db")), expected(`the folder ${missing} does not exist`));
  const besideFile = join(folder, "nowhere", "x.db");
  assert.throws(() => openRunStore(besideFile), new RegExp(`cannot open the run store ${besideFile}: ${join(folder, "nowhere")} is not a folder;`));
  // In an existing folder the store creates its file, as before.
  const created = join(folder, "created.db");
  openRunStore(created).close();
  assert.equal(
    inspect(created, (db) => db.pragma("user_version", { simple: true })),
    SCHEMA_VERSION,
  );
});

for (const backend of storeBackends)
  test(`${backend.name}: a crashed run ends at its last write, not when the crash is noticed, and its events record start, resume, stop and crash`, {
    skip: backend.skip,
  }, async () => {
    const path = backend.location("crash");
    const store = openRunStore(path);
    store.createRun({ id: "c", name: "c", config: {} });
    store.event("c", "stop", "interrupted (SIGINT)", 3);
    store.finishRun("c", "interrupted", null);
    store.resumeRun("c", 3);
    store.log("c", "train/loss", 4, 1);
    store.flush();
    const lastWrite = Number((await backend.sql<{ last_write: number }>(path, "SELECT last_write FROM runs WHERE id = 'c'"))[0].last_write);
    // The run's process "dies": another pid that no longer exists.
    const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number;
    await backend.setProcess(path, "c", dead);
    store.close();
    await new Promise((resolve) => setTimeout(resolve, 300));
    const later = openRunStore(path);
    const run = later.getRun("c");
    assert.equal(run.status, "crashed");
    assert.equal(run.endedAt, lastWrite);
    const events = later.events("c");
    assert.deepEqual(
      events.map((e) => [e.kind, e.step]),
      [
        ["start", 0],
        ["stop", 3],
        ["resume", 3],
        ["crash", null],
      ],
    );
    assert.equal(events[3].wallTime, lastWrite);
    assert.match(events[3].message, new RegExp(`the process \\(pid ${dead}\\) ended without finishing the run`));
    later.close();
    const again = openRunStore(path);
    assert.equal(again.events("c").length, 4, "a crash is recorded once");
    again.close();
  });

for (const backend of storeBackends)
  test(`${backend.name}: the store logger carries what it knows of the hyperparameters through a checkpoint, so a resumed run logs the rows of an uninterrupted one`, {
    skip: backend.skip,
  }, async () => {
    const momentumAt = (step: number) => (step < 4 ? 0.9 : 0.8);
    const trainer = (hyper: Record<string, unknown>) => ({ model: { namedParameters: () => [["w"]] }, optimizer: { paramGroups: [{ hyper }] } }) as unknown as Trainer;
    const logSteps = (store: RunStore, logger: StoreLogger, from: number, to: number) => {
      const hyper: Record<string, unknown> = { lr: 0.1 };
      for (let step = from; step < to; step++) {
        hyper.momentum = momentumAt(step);
        logger.onBatchEnd(trainer(hyper), { step, loss: 1, lr: 0.1 });
      }
      store.flush();
    };
    const store = freshStore(backend, "hyper-resume");
    store.createRun({ id: "straight", name: "straight", config: {} });
    logSteps(store, new StoreLogger(store, "straight"), 0, 6);
    store.createRun({ id: "resumed", name: "resumed", config: {} });
    const before = new StoreLogger(store, "resumed");
    logSteps(store, before, 0, 3);
    // The checkpoint's state goes through JSON-like encoding; a fresh logger continues from it.
    const after = new StoreLogger(store, "resumed");
    after.loadStateDict(structuredClone(before.stateDict()));
    logSteps(store, after, 3, 6);
    const rows = (id: string) => store.scalars(id, "hyper/momentum").map((r) => [r.step, r.value]);
    assert.deepEqual(rows("straight"), [
      [0, 0.9],
      [4, 0.8],
    ]);
    assert.deepEqual(rows("resumed"), rows("straight"));
    store.close();
  });

for (const backend of storeBackends)
  test(`${backend.name}: the reader reduces a scalar series over a step range: point by point when short, min/max/last buckets when long`, { skip: backend.skip }, async () => {
    const store = freshStore(backend, "reader-scalars");
    store.createRun({ id: "s", name: "s", config: {} });
    for (let step = 0; step < 100; step++) store.log("s", "train/loss", step, step === 42 ? 1000 : step);
    store.flush();
    const short = store.reader.scalarBuckets("s", "train/loss", { from: 10, to: 13, buckets: 10 });
    assert.deepEqual(short, { steps: [10, 11, 12, 13], last: [10, 11, 12, 13], min: [10, 11, 12, 13], max: [10, 11, 12, 13] });
    // 100 steps in 4 buckets of 25: [0, 24], [25, 49], [50, 74], [75, 99].
    const long = store.reader.scalarBuckets("s", "train/loss", { buckets: 4 });
    assert.deepEqual(long, { steps: [24, 49, 74, 99], last: [24, 49, 74, 99], min: [0, 25, 50, 75], max: [24, 1000, 74, 99] });
    assert.deepEqual(store.reader.scalarBuckets("s", "train/nothing", { buckets: 4 }), { steps: [], last: [], min: [], max: [] });
    assert.equal(store.reader.lastStep("s", "train/loss"), 99);
    assert.equal(store.reader.lastStep("s", "train/nothing"), null);
    store.close();
  });

for (const backend of storeBackends)
  test(`${backend.name}: the reader answers lists, histograms at a step, histogram steps, heatmap rows, value distributions and a family's last values`, {
    skip: backend.skip,
  }, async () => {
    const store = freshStore(backend, "reader-kinds");
    store.createRun({ id: "k", name: "k", config: {} });
    for (const step of [0, 1, 2, 3]) {
      store.log("k", "quantities/GradNorm", step, [step, 2 * step]);
      store.log("k", "quantities/GradHist1d", 10 * step, { hist: [step, 1], edges: [-step - 1, 0, step + 1] });
      store.log("k", "quantities/Alpha", step, [-2, -0.5, 0.5, 2][step]);
      store.log("k", "epoch/loss", step, 4 - step);
    }
    store.log("k", "epoch/val_loss", 1, 7);
    store.log("k", "quantities/GradHist2d", 5, {
      hist: [
        [1, 2],
        [3, 4],
      ],
      edges: [
        [0, 1, 2],
        [0, 1, 2],
      ],
    });
    store.flush();
    const { reader } = store;
    assert.deepEqual(reader.listBuckets("k", "quantities/GradNorm", { from: 1, buckets: 10 }), {
      steps: [1, 2, 3],
      values: [
        [1, 2],
        [2, 4],
        [3, 6],
      ],
    });
    assert.deepEqual(reader.listBuckets("k", "quantities/GradNorm", { buckets: 2 }), {
      steps: [1, 3],
      values: [
        [1, 2],
        [3, 6],
      ],
    });
    assert.deepEqual(reader.histogramSteps("k", "quantities/GradHist1d"), [0, 10, 20, 30]);
    assert.deepEqual(reader.histogramAt("k", "quantities/GradHist1d", 25), { step: 20, edges: [-3, 0, 3], counts: [2, 1] }, "the last one at or before the step");
    assert.equal(reader.histogramAt("k", "quantities/GradHist1d")?.step, 30, "the newest without a step");
    assert.equal(reader.histogramAt("k", "quantities/GradHist1d", 0)?.step, 0);
    assert.equal(reader.histogramAt("k", "quantities/Missing"), null);
    assert.deepEqual(reader.heatmapRows("k", "quantities/GradHist1d", { from: 10, buckets: 2 }), {
      steps: [20, 30],
      ranges: [
        [-3, 3],
        [-4, 4],
      ],
      counts: [
        [2, 1],
        [3, 1],
      ],
    });
    assert.throws(() => reader.heatmapRows("k", "quantities/GradHist2d", { buckets: 2 }), /^RangeError: quantities\/GradHist2d is a 2-D histogram/);
    // α of -2, -0.5, 0.5, 2 in 2 bins over [-1, 1]: the outliers clamp into the end bins; the last quarter is the 2.
    assert.deepEqual(reader.valueDistribution("k", "quantities/Alpha", -1, 1, 2, 0.25), {
      lo: -1,
      hi: 1,
      all: [2, 2],
      last: [0, 1],
      meanAll: 0,
      meanLast: 2,
      below: true,
      above: true,
      count: 4,
    });
    assert.deepEqual(reader.lastValues("k", "epoch/"), { loss: 1, val_loss: 7 });
    store.close();
  });

for (const backend of storeBackends)
  test(`${backend.name}: the reader pages the rows written after a cursor: at most a page of each table per call, until it reaches the target`, {
    skip: backend.skip,
  }, async () => {
    const store = freshStore(backend, "reader-paging");
    const { reader } = store;
    store.createRun({ id: "p", name: "p", config: {} });
    const start = reader.currentCursor();
    for (let step = 0; step < 5; step++) store.log("p", "train/loss", step, step / 10);
    store.log("p", "quantities/GradNorm", 0, [1, 2]);
    store.log("p", "quantities/GradHist1d", 0, { hist: [1], edges: [0, 1] });
    store.flush();
    store.event("p", "notice", "hello", 4);
    const end = reader.currentCursor();
    assert.deepEqual([end.scalars - start.scalars, end.lists - start.lists, end.histograms - start.histograms, end.events - start.events], [5, 1, 1, 1]);
    const first = reader.changesBetween(start, end, 2);
    assert.deepEqual(first.changes.scalars, [
      ["p", "train/loss", 0, 0],
      ["p", "train/loss", 1, 0.1],
    ]);
    assert.deepEqual(first.changes.lists, [["p", "quantities/GradNorm", 0, [1, 2]]]);
    assert.deepEqual(first.changes.histograms, [["p", "quantities/GradHist1d", 0]]);
    assert.deepEqual(
      first.changes.events.map((e) => [e.run, e.kind, e.step, e.message]),
      [["p", "notice", 4, "hello"]],
    );
    assert.deepEqual(first.reached, { ...end, scalars: start.scalars + 2 }, "only the scalars have more than a page");
    const second = reader.changesBetween(first.reached, end, 2);
    assert.deepEqual(
      second.changes.scalars.map(([, , step]) => step),
      [2, 3],
    );
    assert.deepEqual([second.changes.lists, second.changes.histograms, second.changes.events], [[], [], []]);
    const third = reader.changesBetween(second.reached, end, 2);
    assert.deepEqual(
      third.changes.scalars.map(([, , step]) => step),
      [4],
    );
    assert.deepEqual(third.reached, end);
    assert.deepEqual(reader.runStates(), [["p", "running", null, null, 0]]);
    store.requestStop("p");
    assert.equal(reader.runStates()[0][3] !== null, true, "a stop request changes the run's state");
    store.close();
  });

test("series keys are built from their family and name, and read back", () => {
  assert.equal(seriesKey.quantity("NormTest"), "quantities/NormTest");
  assert.equal(seriesKey.quantity("GradientNoiseScale", "smoothed"), "quantities/GradientNoiseScale/smoothed");
  assert.deepEqual(
    [seriesKey.train("loss"), seriesKey.epoch("val_loss"), seriesKey.hyper("momentum"), seriesKey.system("rss_mb")],
    ["train/loss", "epoch/val_loss", "hyper/momentum", "system/rss_mb"],
  );
  assert.equal(seriesFamily("hyper/betas/0"), "hyper");
  assert.equal(seriesFamily("custom/q0"), null);
  assert.equal(seriesName("quantities/GradHist1d/0.weight"), "GradHist1d/0.weight");
  assert.equal(seriesName("custom/q0"), "custom/q0");
  assert.deepEqual(keyRange("epoch/"), { from: "epoch/", to: "epoch0" });
});

// Every string literal (and template text) of a TypeScript file: comments and code aside.
function stringsOf(file: string): string[] {
  const strings: string[] = [];
  walkSyntax(file, (node) => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateLiteralToken(node)) strings.push(node.text);
  });
  return strings;
}

test("the series keys module is the only place in src/ that spells a family's prefix", () => {
  const src = fileURLToPath(new URL("../src", import.meta.url));
  const keysModule = join(src, "store", "seriesKeys.ts");
  // A prefix starts a string or follows a quote or a space in it (SQL); a path such as "../train/x" is not one.
  const prefix = new RegExp(`(^|[\\s'"(])(${Object.values(SERIES_PREFIXES).join("|")})`);
  const spelled = sourceFiles(src)
    .filter((file) => file !== keysModule)
    .flatMap((file) =>
      stringsOf(file)
        .filter((text) => prefix.test(text))
        .map((text) => `${file.slice(src.length + 1)}: ${JSON.stringify(text)}`),
    );
  assert.deepEqual(spelled, []);
  assert.ok(
    stringsOf(keysModule).some((text) => prefix.test(text)),
    "the scan finds the prefixes where they are spelled",
  );
});

for (const backend of storeBackends)
  test(`${backend.name}: a run resumed in another folder (a sweep's trial on another machine) records that folder; a resume without one keeps it`, {
    skip: backend.skip,
  }, () => {
    const store = openRunStore(backend.location("moved"));
    try {
      store.createRun({ id: "m", name: "m", config: {}, directory: "/machine-a/runs/m" });
      store.finishRun("m", "interrupted", null);
      store.resumeRun("m", 3, undefined, "/machine-b/runs/m");
      assert.equal(store.getRun("m").directory, "/machine-b/runs/m");
      store.finishRun("m", "interrupted", null);
      store.resumeRun("m", 5);
      assert.equal(store.getRun("m").directory, "/machine-b/runs/m");
    } finally {
      store.close();
    }
  });

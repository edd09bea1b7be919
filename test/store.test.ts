import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { SCHEMA_VERSION } from "../src/store/database.ts";
import { toCsv, toJsonl } from "../src/store/export.ts";
import { RunStore } from "../src/store/runStore.ts";
import { StoreLogger } from "../src/train/callbacks/storeLogger.ts";
import type { Trainer } from "../src/train/trainer.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-store-"));
const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));

test("the store keeps runs, scalars, lists, histograms and events; a second connection reads what was flushed", () => {
  const path = join(folder, "a.db");
  const store = new RunStore(path);
  store.createRun({ id: "r1", name: "first", config: { seed: 1 } });
  store.log("r1", "train/loss", 0, 1.5);
  store.log("r1", "train/loss", 1, 1.25);
  store.log("r1", "quantities/GradNorm", 1, [0.5, 0.25]);
  store.log("r1", "quantities/GradHist1d", 1, { hist: [1, 2], edges: [-1, 0, 1] });
  store.log("r1", "train/grad_norm", 2, Number.NaN);
  const reader = new Database(path, { readonly: true });
  assert.equal((reader.prepare("SELECT COUNT(*) n FROM scalars").get() as { n: number }).n, 0, "buffered until flushed");
  store.flush();
  assert.equal((reader.prepare("SELECT COUNT(*) n FROM scalars").get() as { n: number }).n, 3);
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
  assert.equal(store.events("r1")[0].message, "hello");
  assert.match(
    toJsonl(store, "r1").split("\n")[1],
    /^\{"step":1,"train\/loss":1.25,"quantities\/GradNorm":\[0.5,0.25\],"quantities\/GradHist1d":\{"hist":\[1,2\],"edges":\[-1,0,1\]\}\}$/,
  );
  assert.deepEqual(toCsv(store, "r1").split("\n").slice(0, 3), ["step,quantities/GradNorm/0,quantities/GradNorm/1,train/grad_norm,train/loss", "0,,,,1.5", "1,0.5,0.25,,1.25"]);
  store.deleteRun("r1");
  assert.throws(() => store.getRun("r1"), /no run "r1"/);
  store.close();
  reader.close();
});

test("opening the store marks runs of vanished processes as crashed; a newer schema is refused untouched", () => {
  const path = join(folder, "b.db");
  const store = new RunStore(path);
  const dead = spawnSync(process.execPath, ["-e", "0"]).pid as number;
  store.db.prepare("INSERT INTO runs (id, name, status, config, started_at, pid) VALUES ('gone', 'gone', 'running', '{}', 0, ?)").run(dead);
  store.createRun({ id: "mine", name: "mine", config: {} });
  store.close();
  const again = new RunStore(path);
  assert.equal(again.getRun("gone").status, "crashed");
  assert.equal(again.getRun("mine").status, "running", "a run whose process is alive stays running");
  again.close();
  const newer = join(folder, "c.db");
  const db = new Database(newer);
  db.pragma("user_version = 99");
  db.close();
  assert.throws(() => new RunStore(newer), new RegExp(`has schema version 99; this gradscope understands up to ${SCHEMA_VERSION}$`));
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

test("the store logger records parameter names and only the hyperparameters a schedule changes", () => {
  const store = new RunStore(join(folder, "hyper.db"));
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

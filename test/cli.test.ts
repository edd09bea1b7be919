import assert from "node:assert/strict";
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { type AddressInfo, createServer } from "node:net";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { loadCheckpoint } from "../src/train/checkpoint.ts";
import { claimRunDirectory, freeRunDirectory, safeRunName } from "../src/train/runDirectory.ts";

// The CLI as users run it: bin/gradscope.js on the compiled dist/ (npm test builds it first).
const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));
const folder = mkdtempSync(join(tmpdir(), "gradscope-cli-"));
const file = (name: string, text: string) => {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
};
const run = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", cwd: folder });

const tiny = file(
  "tiny.yaml",
  `name: tiny
seed: 2
model: { arch: mlp, hidden: [16], activation: tanh, classes: 2 }
data: { source: spirals, samples: 400, batch_size: 20, validation: 0.1 }
training: { epochs: 3, runs_dir: runs }
optimizer: { name: sgd, lr: 0.2, momentum: 0.5 }
callbacks: { progress: { every: 5 } }
`,
);

// Run directories in a runs folder (which also holds the gradscope.db store).
const directoriesIn = (parent: string) =>
  readdirSync(parent)
    .map((name) => join(parent, name))
    .filter((path) => statSync(path).isDirectory());
const runDirectories = () => directoriesIn(join(folder, "runs"));
const finalWeights = (directory: string) => loadCheckpoint(join(directory, "checkpoints", "latest.gsckpt")).model;

test("gradscope train runs a config end to end and fills the run directory", () => {
  const result = run(["train", "-c", tiny]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /gradscope: tiny: \d+ parameters, 360 training examples, 40 validation, 80 test/);
  assert.match(result.stdout, /epoch 3\/3 .*val_accuracy/);
  assert.match(result.stdout, /test: test_loss \S+\s+test_accuracy/);
  const [directory] = runDirectories();
  for (const name of ["config.yaml", "summary.json", "metrics.csv", "log.jsonl", "checkpoints/latest.gsckpt"]) assert.ok(existsSync(join(directory, name)), name);
  const summary = JSON.parse(readFileSync(join(directory, "summary.json"), "utf8"));
  assert.equal(summary.status, "completed");
  assert.equal(summary.epochs, 3);
  assert.match(readFileSync(join(directory, "config.yaml"), "utf8"), /name: tiny/);
});

test("config and data errors exit with 2 and name the file, the place and the problem", () => {
  const bad = file("bad.yaml", `extends: tiny.yaml\ntraining:\n  epochs: 0\n  optimiser: sgd\n`);
  const result = run(["train", "-c", bad]);
  assert.equal(result.status, 2);
  assert.match(result.stderr, new RegExp(`${bad}:3:11: training.epochs: Too small`));
  assert.match(result.stderr, new RegExp(`${bad}:4:3: training.optimiser: unknown key`));
  const csv = run(["train", "-c", tiny, "data={source: csv, path: nowhere.csv, classes: 2}"]);
  assert.equal(csv.status, 2);
  assert.match(csv.stderr, /data={source: csv, path: nowhere.csv, classes: 2}": data.path: CSV file nowhere.csv does not exist/);
  const idxFolder = join(folder, "idx");
  spawnSync("mkdir", ["-p", idxFolder]);
  writeFileSync(join(idxFolder, "train-images-idx3-ubyte"), Buffer.from([9, 9, 9, 9]));
  const idx = run(["train", "-c", tiny, `data={source: idx, path: ${idxFolder}, classes: 10}`]);
  assert.equal(idx.status, 2);
  assert.match(idx.stderr, /train-images-idx3-ubyte has a bad magic number \(09 09 09 09\)/);
  assert.equal(run(["train", "-c", tiny, "--no-such-flag"]).status, 2);
  assert.equal(run(["frobnicate"]).status, 2);
});

test("--print-config shows the resolved config, schema prints the JSON Schema, --help works", () => {
  const printed = run(["train", "-c", tiny, "--print-config", "optimizer.lr=0.5"]);
  assert.equal(printed.status, 0);
  assert.match(printed.stdout, /lr: 0.5/);
  assert.match(printed.stdout, /eval_batch_size: 1000/);
  // tiny.yaml's spirals: their own fields, not the idx, csv or blobs ones the flat data section has.
  assert.match(printed.stdout, /samples: 400\n {2}noise: 0.05\n/);
  assert.doesNotMatch(printed.stdout, /train_images|transpose|test_fraction|dims|std/);
  const schema = run(["schema"]);
  assert.equal(schema.status, 0);
  assert.equal(JSON.parse(schema.stdout).title, "gradscope training config");
  const help = run(["train", "--help"]);
  assert.equal(help.status, 0);
  assert.match(help.stdout, /--resume <run-dir>/);
});

function waitForOutput(child: ChildProcess, pattern: RegExp): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = "";
    child.stdout?.on("data", (chunk) => {
      text += chunk;
      if (pattern.test(text)) resolve();
    });
    child.on("exit", () => reject(new Error(`exited before printing ${pattern}: ${text}`)));
  });
}

test("Ctrl-C saves a checkpoint and exits 130; --resume then ends with the weights of an uninterrupted run", async () => {
  const long = file(
    "long.yaml",
    `extends: tiny.yaml\nname: long\ndata: { samples: 20000 }\ntraining: { epochs: 4, runs_dir: long-runs }\ncallbacks: { progress: { every: 20 } }\n`,
  );
  const straight = run(["train", "-c", long, "training.runs_dir=straight-runs"]);
  assert.equal(straight.status, 0, straight.stderr);
  const child = spawn(process.execPath, [bin, "train", "-c", long], { cwd: folder });
  let stdout = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  await waitForOutput(child, /epoch 2\/4 {2}batch 20\//); // training takes about a second; stop it in its middle
  child.kill("SIGINT");
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 130, stdout);
  const stopped = /interrupted at epoch (\d), batch (\d+); checkpoint saved\. Resume with: gradscope train --resume /.exec(stdout);
  assert.ok(stopped, stdout.slice(-300));
  assert.ok(Number(stopped[1]) < 4 || Number(stopped[2]) < 900, "stopped before the end");
  const [interruptedRun] = directoriesIn(join(folder, "long-runs"));
  const resumed = run(["train", "--resume", interruptedRun]);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`resuming .* at epoch ${stopped[1]}, batch ${stopped[2]}`));
  const [straightRun] = directoriesIn(join(folder, "straight-runs"));
  const expected = finalWeights(straightRun);
  const actual = finalWeights(interruptedRun);
  for (const name of Object.keys(expected)) assert.deepEqual(actual[name].data, expected[name].data, name);
  const evaluated = run(["eval", "-c", long, "--checkpoint", join(interruptedRun, "checkpoints", "latest.gsckpt")]);
  assert.equal(evaluated.status, 0, evaluated.stderr);
  assert.ok(JSON.parse(evaluated.stdout).test_accuracy > 0.5);
});

// The runs a store holds (none when there is no store file).
const storedRuns = (path: string): Array<{ id: string; directory: string; status: string }> => {
  if (!existsSync(path)) return [];
  const db = new Database(path, { readonly: true });
  try {
    return db.prepare("SELECT id, directory, status FROM runs ORDER BY id").all() as Array<{ id: string; directory: string; status: string }>;
  } finally {
    db.close();
  }
};

test("errors found while building the run exit with 2 and a clear message before any run directory or store row exists", async () => {
  const runsDir = join(folder, "checked-runs");
  // Mistakes that only building the run finds leave nothing at all: no runs folder, no store
  // file (opening the store created it, and it stayed, empty).
  const mistakes: Array<[string, string[], RegExp]> = [
    ["a negative learning rate", ["optimizer.lr=-0.1"], /optimizer\.lr.*-0\.1|lr must be .*-0\.1/],
    ["one class for two", ["model.classes=1"], /its output is \[1\] per example, but the data has 2 classes/],
    [
      "two outputs for the mse loss's one target",
      ["training.loss=mse", "training.metrics=[]"],
      /its output is \[2\] per example, but the mse loss compares it with the data's 1 target value per example/,
    ],
    ["cosine without t_max", ["scheduler={name: cosine}"], /t_?[mM]ax/],
    ["CABS with Adam", ["optimizer={name: adam, lr: 0.01}", "quantities={cabs: true}"], /CABS only supports zero-momentum SGD \(as Cockpit\); the optimizer is Adam/],
  ];
  for (const [what, args, message] of mistakes) {
    const result = run(["train", "-q", "-c", tiny, `training.runs_dir=${runsDir}`, ...args]);
    assert.equal(result.status, 2, `${what}: ${result.stderr}`);
    assert.match(result.stderr, message, what);
    assert.equal(existsSync(runsDir), false, `${what}: no runs folder, no store file`);
  }
  const busy = createServer();
  await new Promise<void>((resolve) => busy.listen(0, "127.0.0.1", resolve));
  const busyPort = (busy.address() as AddressInfo).port;
  const garbage = file("garbage.db", "not a database, but a file someone put here\n".repeat(50));
  const garbageBytes = readFileSync(garbage);
  const cases: Array<[string, string[], RegExp]> = [
    ["a busy --port", ["--dashboard", "--port", String(busyPort)], new RegExp(`port ${busyPort} on 127\\.0\\.0\\.1 is in use`)],
    ["a garbage store", [`store.path=${garbage}`], new RegExp(`cannot open the run store ${garbage}: file is not a database`)],
  ];
  try {
    const busyFirst = run(["train", "-q", "-c", tiny, `training.runs_dir=${runsDir}`, ...cases[0][1]]);
    assert.equal(busyFirst.status, 2, busyFirst.stderr);
    assert.match(busyFirst.stderr, cases[0][2]);
    assert.equal(existsSync(runsDir), false, "a busy --port for a new store: no runs folder, no store file");
    for (const [what, args, message] of cases) {
      const result = run(["train", "-q", "-c", tiny, `training.runs_dir=${runsDir}`, ...args]);
      assert.equal(result.status, 2, `${what}: ${result.stderr}`);
      assert.match(result.stderr, message, what);
      assert.deepEqual(existsSync(runsDir) ? directoriesIn(runsDir) : [], [], `${what}: no run directory`);
      assert.deepEqual(storedRuns(join(runsDir, "gradscope.db")), [], `${what}: no run in the store`);
    }
    assert.deepEqual(readFileSync(garbage), garbageBytes, "the garbage store is left untouched");
    const ui = run(["ui", "--store", garbage]);
    assert.equal(ui.status, 2);
    assert.match(ui.stderr, new RegExp(`cannot open the run store ${garbage}: file is not a database`));
    const store = join(folder, "runs", "gradscope.db");
    const busyUi = run(["ui", "--store", store, "--port", String(busyPort)]);
    assert.equal(busyUi.status, 2);
    assert.match(busyUi.stderr, new RegExp(`port ${busyPort} on 127\\.0\\.0\\.1 is in use`));
  } finally {
    busy.close();
  }
});

test("runs of one name started at the same moment get a directory and a store row each", async () => {
  const runsDir = join(folder, "same-second");
  const children = Array.from({ length: 4 }, () => spawn(process.execPath, [bin, "train", "-q", "-c", tiny, `training.runs_dir=${runsDir}`, "training.epochs=1"], { cwd: folder }));
  const codes = await Promise.all(children.map((child) => new Promise<number | null>((resolve) => child.on("close", resolve))));
  assert.deepEqual(codes, [0, 0, 0, 0]);
  const directories = directoriesIn(runsDir).sort();
  assert.equal(directories.length, 4);
  assert.deepEqual(
    storedRuns(join(runsDir, "gradscope.db")).map((r) => [r.directory, r.status]),
    directories.map((d) => [d, "completed"]),
  );
  for (const directory of directories) assert.equal(JSON.parse(readFileSync(join(directory, "summary.json"), "utf8")).status, "completed");
});

test("run names become ids that neither read as an option nor hide nor outgrow a file name (-abs-…, ..-…, 300 characters failed to mkdir)", () => {
  assert.equal(safeRunName("my run/1"), "my-run-1");
  assert.equal(safeRunName("/abs"), "abs");
  assert.equal(safeRunName("../escape"), "escape");
  assert.equal(safeRunName(".."), "run");
  assert.equal(safeRunName(""), "run");
  assert.equal(safeRunName("x".repeat(300)), "x".repeat(200));
  assert.equal(safeRunName("lr_0.1"), "lr_0.1");
});

test("a run directory is claimed atomically: a second claim of it fails and changes nothing; ids the store has are skipped", () => {
  const runsDir = join(folder, "claims");
  const free = freeRunDirectory(runsDir, "claimed");
  assert.equal(claimRunDirectory(free, { seed: 1 }), true);
  assert.equal(claimRunDirectory(free, { seed: 2 }), false, "another run created it first");
  assert.match(readFileSync(join(free, "config.yaml"), "utf8"), /seed: 1/);
  const next = freeRunDirectory(runsDir, "claimed");
  assert.notEqual(next, free);
  const taken = new Set([basename(next)]);
  const skipping = freeRunDirectory(runsDir, "claimed", (id) => taken.has(id));
  assert.ok(skipping !== free && skipping !== next, `${skipping} is neither claimed nor in the store`);
});

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { buildData, buildTraining, type TrainingSetup } from "../src/config/build.ts";
import { loadConfig } from "../src/config/load.ts";
import { liveTensorCount } from "../src/engine/tensor.ts";
import { confusionTable } from "../src/metrics/confusion.ts";
import type { Callback } from "../src/train/callback.ts";
import { captureCheckpoint, loadCheckpoint, restoreCheckpoint, saveCheckpoint } from "../src/train/checkpoint.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-train-"));
const configFile = join(folder, "tiny.yaml");
writeFileSync(
  configFile,
  `seed: 5
model: { layers: [{ type: linear, out: 16 }, { type: tanh }, { type: dropout, p: 0.1 }, { type: linear, out: 2 }] }
data: { source: spirals, samples: 300, batch_size: 16, validation: 0.2 }
training: { epochs: 3, accumulate: 2, clip_grad_norm: 5 }
optimizer: { name: adam, lr: 0.01 }
scheduler: { name: one_cycle, max_lr: 0.05, total_steps: 60 }
callbacks: { checkpoint: { every: 1, keep_last: 2, monitor: val_accuracy, mode: max } }
`,
);

let runCount = 0;
function setup(overrides: string[] = [], extra: Callback[] = []): { s: TrainingSetup; directory: string } {
  const directory = join(folder, `run-${runCount++}`);
  mkdirSync(directory);
  const loaded = loadConfig([configFile], overrides);
  const s = buildTraining(loaded, buildData(loaded), directory);
  s.trainer.options.callbacks.push(...extra);
  return { s, directory };
}

const weights = (s: TrainingSetup) => s.model.parameters().map((p) => p.data.slice());
const dispose = (s: TrainingSetup) => {
  s.optimizer.dispose();
  s.model.dispose();
};

test("stopping mid-epoch, saving, and resuming into fresh objects ends with bit-identical weights", async () => {
  const straight = setup();
  const result = await straight.s.trainer.fit(straight.s.data.train, straight.s.data.validation);
  assert.equal(result.status, "completed");
  const expected = weights(straight.s);
  const history = straight.s.trainer.history;
  dispose(straight.s);

  const stopAt: Callback = { name: "stop_at", onBatchEnd: (trainer, logs) => (logs.epoch === 2 && logs.batch === 6 ? trainer.requestStop("test") : undefined) };
  const first = setup([], [stopAt]);
  assert.equal((await first.s.trainer.fit(first.s.data.train, first.s.data.validation)).status, "stopped");
  assert.deepEqual(first.s.trainer.position, { epoch: 1, batch: 8, step: 12 }); // 8 steps in epoch 1, then stops at an accumulation boundary
  const path = join(first.directory, "stopped.gsckpt");
  saveCheckpoint(path, captureCheckpoint({ ...first.s, config: {} }));
  dispose(first.s);

  const second = setup();
  restoreCheckpoint(loadCheckpoint(path), second.s);
  assert.equal((await second.s.trainer.fit(second.s.data.train, second.s.data.validation)).status, "completed");
  assert.deepEqual(weights(second.s), expected);
  const untimed = (logs: Record<string, number>[]) => logs.map(({ epoch_seconds, ...rest }) => rest);
  assert.deepEqual(untimed(second.s.trainer.history), untimed(history));
  assert.deepEqual(readdirSync(join(second.directory, "checkpoints")).sort(), ["best.gsckpt", "epoch-0002.gsckpt", "epoch-0003.gsckpt", "latest.gsckpt"]);
  dispose(second.s);
});

test("a training epoch leaks no tensors", async () => {
  const { s } = setup(["training.epochs=1"]);
  const before = liveTensorCount();
  await s.trainer.fit(s.data.train, s.data.validation);
  s.trainer.evaluate(s.data.test);
  assert.equal(liveTensorCount(), before + s.optimizer.parameters().length * 2, "only Adam's two moment buffers per parameter remain");
  dispose(s);
});

test("early stopping stops after `patience` epochs without improvement and restores the best weights", async () => {
  const { s } = setup(["training.epochs=30", "callbacks.early_stopping={monitor: val_loss, patience: 2, min_delta: 10, restore_best_weights: true}", "scheduler=null"]);
  let bestWeights: Float32Array[] = [];
  s.trainer.options.callbacks.unshift({
    name: "watch",
    onEpochEnd: (t, logs) => {
      if (logs.epoch === 1) bestWeights = t.model.parameters().map((p) => p.data.slice());
    },
  });
  const result = await s.trainer.fit(s.data.train, s.data.validation);
  assert.equal(result.status, "stopped");
  assert.match(result.reason ?? "", /early stopping: val_loss has not improved for 2 epochs \(best .* at epoch 1\)/);
  assert.equal(s.trainer.position.epoch, 3);
  assert.deepEqual(weights(s), bestWeights);
  dispose(s);
});

test("the NaN guard stops before the update and names the step and the first parameter", async () => {
  const { s } = setup();
  s.trainer.options.callbacks.unshift({ name: "poison", onBatchBegin: (t, logs) => (logs.step === 3 ? t.model.parameters()[2].data.fill(Number.NaN) : undefined) });
  const result = await s.trainer.fit(s.data.train, s.data.validation);
  assert.equal(result.status, "failed");
  assert.match(result.reason ?? "", /non-finite gradient at epoch 1, batch 6, step 3: first in parameter 0.weight/);
  dispose(s);
});

test("loggers write one CSV row and one JSONL epoch line per epoch", async () => {
  const { s, directory } = setup(["training.epochs=2", "loggers.jsonl.every=5"]);
  await s.trainer.fit(s.data.train, s.data.validation);
  const csv = readFileSync(join(directory, "metrics.csv"), "utf8").trim().split("\n");
  assert.equal(csv.length, 3);
  assert.ok(csv[0].startsWith("epoch,step,loss,lr,epoch_seconds,accuracy,val_loss,val_accuracy"), csv[0]);
  const lines = readFileSync(join(directory, "log.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  assert.equal(lines.filter((l) => l.kind === "epoch").length, 2);
  assert.ok(lines.some((l) => l.kind === "batch" && l.step === 5));
  dispose(s);
});

test("a corrupt or truncated checkpoint is refused with its path, and a failed save keeps the old file", () => {
  const { s, directory } = setup();
  const path = join(directory, "c.gsckpt");
  saveCheckpoint(path, captureCheckpoint({ ...s, config: { a: 1 } }));
  const good = readFileSync(path);
  writeFileSync(path, good.subarray(0, good.length - 100));
  assert.throws(() => loadCheckpoint(path), new RegExp(`checkpoint ${path} is truncated`));
  writeFileSync(path, "not a checkpoint");
  assert.throws(() => loadCheckpoint(path), /is not a gradscope checkpoint/);
  writeFileSync(path, good);
  assert.throws(() => saveCheckpoint(join(directory, "no-such-dir", "c.gsckpt"), captureCheckpoint({ ...s, config: {} })));
  assert.ok(existsSync(path));
  assert.deepEqual(loadCheckpoint(path).config, { a: 1 });
  dispose(s);
});

test("a quantities section computes Cockpit quantities during training into quantities.jsonl", async () => {
  const { s, directory } = setup([
    "training.epochs=1",
    "scheduler=null",
    "training.accumulate=1",
    "quantities={norm_test: {every: 3}, alpha: true, distance: true, grad_hist_1d: {bins: 10, range: [-1, 1]}}",
  ]);
  await s.trainer.fit(s.data.train, s.data.validation);
  const lines = readFileSync(join(directory, "quantities.jsonl"), "utf8")
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
  const steps = (name: string) => lines.filter((l) => l.quantity === name).map((l) => l.step);
  assert.deepEqual(steps("NormTest"), [0, 3, 6, 9, 12]);
  assert.deepEqual(
    steps("Alpha"),
    Array.from({ length: 14 }, (_, i) => i),
    "Alpha for every step but the last",
  );
  assert.equal(
    lines.find((l) => l.quantity === "GradHist1d")?.value.hist.reduce((a: number, b: number) => a + b, 0),
    16 * s.model.parameterCount(),
  );
  assert.ok(lines.every((l) => l.quantity !== "Distance" || l.value.length === s.model.parameters().length));
  dispose(s);
  assert.throws(() => setup(["quantities={norm_tset: true}"]), /quantities.norm_tset: unknown key \(did you mean "norm_test"\?\)/);
});

// A config file of its own in the test folder; returns its path.
function configNamed(name: string, text: string): string {
  const path = join(folder, name);
  writeFileSync(path, text);
  return path;
}

async function fitConfig(path: string, overrides: string[] = []): Promise<TrainingSetup> {
  const directory = join(folder, `run-${runCount++}`);
  mkdirSync(directory);
  const loaded = loadConfig([path], overrides);
  const s = buildTraining(loaded, buildData(loaded), directory);
  await s.trainer.fit(s.data.train, s.data.validation);
  return s;
}

test("bce_with_logits with the default accuracy scores one logit per example as class 1 when it is > 0", async () => {
  const path = configNamed(
    "binary.yaml",
    `seed: 1
model: { layers: [{ type: linear, out: 16 }, { type: tanh }, { type: linear, out: 1 }] }
data: { source: blobs, samples: 400, classes: 2, dims: 2, std: 0.5, batch_size: 20, validation: 0.2 }
training: { epochs: 4, loss: bce_with_logits, metrics: [accuracy, confusion_matrix, top_k_accuracy] }
optimizer: { name: adam, lr: 0.05 }
`,
  );
  for (const classes of [2, 1]) {
    const s = await fitConfig(path, [`data.classes=${classes}`]);
    const last = s.trainer.history[s.trainer.history.length - 1];
    assert.ok(last.val_accuracy > (classes === 2 ? 0.9 : 0.99), `classes ${classes}: val_accuracy ${last.val_accuracy}`);
    // top-k with k = 5 ≥ 2 classes always hits.
    assert.equal(last.val_top_5_accuracy, 1);
    const { logs, matrices } = s.trainer.evaluateWithMatrices(s.data.test, "test_");
    const matrix = matrices.test_confusion_matrix;
    assert.equal(matrix.length, 2);
    assert.equal(
      matrix.flat().reduce((a, b) => a + b, 0),
      s.data.test.dataset.length,
    );
    assert.equal((matrix[0][0] + matrix[1][1]) / s.data.test.dataset.length, logs.test_accuracy);
    dispose(s);
  }
});

test("the mse loss with classes 0 (or omitted) reports mae, mse, rmse and r2; a classification metric is refused", async () => {
  const csv = join(folder, "regression.csv");
  const rows = Array.from({ length: 200 }, (_, i) => {
    const x = (i % 40) / 10 - 2;
    const z = Math.floor(i / 40) / 2;
    return `${x},${z},${(2 * x - z + 0.5).toFixed(4)}`;
  });
  writeFileSync(csv, `x,z,y\n${rows.join("\n")}\n`);
  const regressionConfig = (name: string, classes: string) =>
    configNamed(
      name,
      `seed: 2
model: { layers: [{ type: linear, out: 1 }] }
data: { source: csv, path: ${csv}, ${classes}batch_size: 10, validation: 0.2 }
training: { epochs: 20, loss: mse }
optimizer: { name: sgd, lr: 0.05 }
`,
    );
  const path = regressionConfig("regression.yaml", "classes: 0, ");
  for (const config of [path, regressionConfig("regression-no-classes.yaml", "")]) {
    const s = await fitConfig(config);
    const last = s.trainer.history[s.trainer.history.length - 1];
    assert.ok(Math.abs(last.val_mse - last.val_loss) <= 1e-6 * last.val_loss, `val_mse ${last.val_mse} is the mean squared error, as val_loss`);
    assert.ok(Math.abs(last.val_rmse - Math.sqrt(last.val_mse)) < 1e-12);
    assert.ok(last.val_mae > 0 && last.val_mae <= last.val_rmse);
    assert.ok(last.val_r2 > 0.99, `a linear target is fitted: r2 ${last.val_r2}`);
    assert.equal(last.val_accuracy, undefined);
    dispose(s);
  }
  assert.throws(
    () => loadConfigAndBuild(path, ["training.metrics=[mae, accuracy]"]),
    /training\.metrics\[1\]: metric accuracy scores classification, but the mse loss trains regression; its metrics: mae, mse, rmse, r2/,
  );
  assert.throws(() => loadConfigAndBuild(path, ["training.loss=cross_entropy"]), /data.classes: 0 means regression targets, which the cross_entropy loss cannot train/);
  // An arch's default 10 outputs against one regression target: refused while building, naming the fix.
  assert.throws(
    () => loadConfigAndBuild(path, ["model={arch: mlp, hidden: [4]}"]),
    /model: its output is \[10\] per example, but the mse loss compares it with the data's 1 target value per example; give the model 1 output \(model.classes: 1 for a named architecture\)/,
  );
});

// MixUp and CutMix make the targets class probabilities, [classes] per example: bce_with_logits
// then compares one logit per class with them (timm's BCE with mixup), as the loader's
// targetSize says, though the data set's own targets are one label each.
test("bce_with_logits with mixup trains one logit per class against the mixed class probabilities", async () => {
  const path = configNamed(
    "bce-mixup.yaml",
    `seed: 3
model: { layers: [{ type: linear, out: 3 }] }
data: { source: blobs, samples: 120, classes: 3, dims: 2, std: 0.5, batch_size: 20, augment: [{ type: mixup, alpha: 0.4 }] }
training: { epochs: 2, loss: bce_with_logits, metrics: [] }
optimizer: { name: sgd, lr: 0.1 }
`,
  );
  const s = await fitConfig(path);
  assert.equal(s.data.train.targetSize, 3);
  assert.equal(s.trainer.history.length, 2);
  for (const epoch of s.trainer.history) assert.ok(Number.isFinite(epoch.loss) && epoch.loss > 0, `loss ${epoch.loss}`);
  dispose(s);
});

function loadConfigAndBuild(path: string, overrides: string[]): void {
  const loaded = loadConfig([path], overrides);
  const s = buildTraining(loaded, buildData(loaded), folder);
  dispose(s);
}

test("a confusion_matrix metric reaches summary.json, the console and gradscope eval", async () => {
  const path = configNamed(
    "confusion.yaml",
    `seed: 4
model: { arch: mlp, hidden: [16], classes: 3 }
data: { source: blobs, samples: 300, classes: 3, dims: 2, std: 0.4, batch_size: 30 }
training: { epochs: 2, metrics: [accuracy, { name: confusion_matrix }], runs_dir: ${join(folder, "confusion-runs")} }
optimizer: { name: adam, lr: 0.05 }
store: { enabled: false }
`,
  );
  // The CLI in a process of its own: capturing this process's stdout would also take the test
  // runner's report of the tests before this one.
  const runs = join(folder, "confusion-runs");
  const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));
  const cli = (args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8" });
  const training = cli(["train", "-c", path, "--quiet"]);
  const trained = training.status;
  const run = join(runs, readdirSync(runs)[0]);
  const evaluation = cli(["eval", "-c", path, "--checkpoint", join(run, "checkpoints", "latest.gsckpt")]);
  const evaluated = evaluation.status;
  const printed = [training.stdout, ...evaluation.stdout.trimEnd().split("\n")];
  assert.equal(trained, 0, training.stderr);
  assert.equal(evaluated, 0, evaluation.stderr);
  const summary = JSON.parse(readFileSync(join(run, "summary.json"), "utf8"));
  const matrix: number[][] = summary.test.test_confusion_matrix;
  assert.equal(matrix.length, 3);
  assert.equal(
    matrix.flat().reduce((a, b) => a + b, 0),
    60,
    "the 60 test points",
  );
  assert.equal((matrix[0][0] + matrix[1][1] + matrix[2][2]) / 60, summary.test.test_accuracy);
  assert.ok(printed.join("").includes(`test_confusion_matrix:\n${confusionTable(matrix)}\n`), "printed after the test line");
  assert.deepEqual(JSON.parse(printed[printed.length - 1]).test_confusion_matrix, matrix, "eval prints it in its JSON");
});

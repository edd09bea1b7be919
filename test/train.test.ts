import assert from "node:assert/strict";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildData, buildTraining, type TrainingSetup } from "../src/config/build.ts";
import { loadConfig } from "../src/config/load.ts";
import { liveTensorCount } from "../src/engine/tensor.ts";
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

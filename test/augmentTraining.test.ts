import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { trainCommand } from "../src/cli/train.ts";
import { buildData, buildTraining, type TrainingSetup } from "../src/config/build.ts";
import { ConfigError, loadConfig } from "../src/config/load.ts";
import type { Callback } from "../src/train/callback.ts";
import { captureCheckpoint, loadCheckpoint, restoreCheckpoint, saveCheckpoint } from "../src/train/checkpoint.ts";

const folder = mkdtempSync(join(tmpdir(), "gradscope-augment-"));
const configFile = join(folder, "augmented.yaml");
writeFileSync(
  configFile,
  `seed: 3
model: { arch: mlp, hidden: [16] }
data:
  source: fashion-mnist-sample
  limit: 240
  test_limit: 100
  batch_size: 32
  augment:
    - { type: random_crop, padding: 2, padding_mode: edge }
    - { type: random_flip }
    - { type: random_erasing, p: 0.5 }
    - { type: mixup, alpha: 0.4, p: 0.5 }
    - { type: cutmix, p: 0.5 }
  transforms: [{ type: normalize, mean: 0.28, std: 0.35 }, { type: flatten }]
training: { epochs: 2, label_smoothing: 0.1 }
optimizer: { name: sgd, lr: 0.05, momentum: 0.9 }
`,
);

let runs = 0;
function setup(overrides: string[], extra: Callback[] = []): { s: TrainingSetup; directory: string } {
  const directory = join(folder, `run-${runs++}`);
  mkdirSync(directory);
  const loaded = loadConfig([configFile], overrides);
  const s = buildTraining(loaded, buildData(loaded), directory);
  s.trainer.options.callbacks.push(...extra);
  return { s, directory };
}

const weights = (s: TrainingSetup) => s.model.parameters().map((p) => [...p.data]);
async function finish(s: TrainingSetup): Promise<number[][]> {
  const result = await s.trainer.fit(s.data.train);
  assert.equal(result.status, "completed");
  const trained = weights(s);
  await s.data.train.close();
  s.optimizer.dispose();
  s.model.dispose();
  return trained;
}

test("training on MixUp/CutMix soft targets gives the same weights with prefetch 0 and 2, and after a mid-epoch resume", async () => {
  const here = setup(["data.prefetch=0"]);
  const trainer = here.s.trainer;
  const expected = await finish(here.s);
  const logs = trainer.history;
  assert.equal(logs.length, 2);
  for (const epoch of logs) {
    assert.ok(Number.isFinite(epoch.loss) && epoch.loss > 0, `loss ${epoch.loss}`);
    // Accuracy counts the argmax of the soft targets, so it is a fraction of examples.
    assert.ok(epoch.accuracy >= 0 && epoch.accuracy <= 1, `accuracy ${epoch.accuracy}`);
  }
  assert.deepEqual(await finish(setup(["data.prefetch=2"]).s), expected);

  const stopAt: Callback = { name: "stop_at", onBatchEnd: (trainer, l) => (l.epoch === 2 && l.batch === 3 ? trainer.requestStop("test") : undefined) };
  const first = setup(["data.prefetch=2"], [stopAt]);
  assert.equal((await first.s.trainer.fit(first.s.data.train)).status, "stopped");
  assert.deepEqual(first.s.trainer.position, { epoch: 1, batch: 4, step: 12 });
  const path = join(first.directory, "stopped.gsckpt");
  saveCheckpoint(path, captureCheckpoint({ ...first.s, config: {} }));
  await first.s.data.train.close();
  first.s.optimizer.dispose();
  first.s.model.dispose();
  const second = setup(["data.prefetch=3"]);
  restoreCheckpoint(loadCheckpoint(path), second.s);
  assert.deepEqual(await finish(second.s), expected);
});

test("MixUp or a random crop in data.transforms, which evaluation would also see, is refused with its place in the config", () => {
  assert.throws(
    () => buildData(loadConfig([configFile], ["data.transforms=[{type: flatten}, {type: mixup}]"])),
    /data.transforms\[1\]: mixup blends examples and their labels, which only training batches may do; put it in data.augment/,
  );
  assert.throws(
    () => buildData(loadConfig([configFile], ["data.transforms=[{type: random_crop, padding: 2}]"])),
    /data.transforms\[0\]: random_crop is random, and data.transforms apply to validation and test batches too; put it in data.augment/,
  );
  assert.throws(
    () => buildData(loadConfig([configFile], ["data.augment=[{type: cutout, sise: 8}]"])),
    /data.augment.*transform cutout has no option "sise"; its options: size, p, value/,
  );
});

test("a CIFAR-100 label other than fine or coarse is located at data.label", () => {
  const path = join(folder, "cifar100.yaml");
  writeFileSync(path, "model: { arch: mlp }\ndata: { source: cifar100, path: /nonexistent, label: middle }\ntraining: { epochs: 1 }\noptimizer: { name: sgd, lr: 0.1 }\n");
  assert.throws(() => buildData(loadConfig([path])), /cifar100.yaml:2:54: data.label: CIFAR-100 labels are fine or coarse, got middle/);
});

test("data.prefetch auto prepares augmented or large training batches on a worker thread, 2 ahead, and small plain ones on the training thread", () => {
  const augmented = buildData(loadConfig([configFile]));
  assert.equal(augmented.train.options.prefetch, 2);
  const plain = buildData(loadConfig([configFile], ["data.augment=[]"]));
  assert.equal(plain.train.options.prefetch, 0, "normalize and flatten are applied once, ahead: a batch of 32 × 784 values is only gathered");
  assert.equal(buildData(loadConfig([configFile], ["data.augment=[]", "data.batch_size=84"])).train.options.prefetch, 2, "84 × 784 values: a gather worth a worker");
  assert.equal(buildData(loadConfig([configFile], ["data.augment=[]", "data.prefetch=3"])).train.options.prefetch, 3, "a number is kept as it is");
  assert.throws(() => loadConfig([configFile], ["data.prefetch=soon"]), /data.prefetch: got "soon"; expected auto or /);
});

test("a process that trains run after run (a sweep's trial host) keeps no prefetch worker of an ended run", async () => {
  const threads = () => readdirSync("/proc/self/task").length;
  const train = () =>
    trainCommand({ configs: [configFile], overrides: ["training.epochs=1", "data.limit=64", "store.enabled=false", `training.runs_dir=${join(folder, "runs")}`], quiet: true });
  assert.equal(await train(), 0);
  const afterFirst = threads();
  for (let run = 0; run < 3; run++) assert.equal(await train(), 0);
  assert.equal(threads(), afterFirst, "each run's prefetch worker ended with its run");
});

test("an image augmentation on data without images is a config error before any run starts; after flatten it says to move it", () => {
  const spirals = fileURLToPath(new URL("../examples/spirals.yaml", import.meta.url));
  assert.throws(
    () => buildData(loadConfig([spirals], ["data.augment=[{type: random_crop, padding: 2}]"])),
    (error: Error) => error instanceof ConfigError && /data: transform random_crop needs image inputs \[C, H, W\], got \[2\]$/.test(error.message),
  );
  assert.throws(
    () => buildData(loadConfig([configFile], ["data.augment=[{type: flatten}, {type: random_flip}]"])),
    /data: transform random_flip needs image inputs \[C, H, W\], got \[784\] \(put it before flatten\)$/,
  );
});

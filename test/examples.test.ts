import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { debianFashionMnist } from "../src/data/sources.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const runs = mkdtempSync(join(tmpdir(), "gradscope-examples-"));

function train(config: string, overrides: string[]): { status: number | null; stdout: string; summary: { test: Record<string, number> } } {
  const result = spawnSync(process.execPath, ["bin/gradscope.js", "train", "-q", "-c", config, `training.runs_dir=${runs}`, ...overrides], { cwd: root, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  const name = /run directory (\S+)/.exec(result.stdout)?.[1] as string;
  return { status: result.status, stdout: result.stdout, summary: JSON.parse(readFileSync(join(name, "summary.json"), "utf8")) };
}

test("examples/spirals.yaml learns the spirals, and the README's predict command runs on its best checkpoint", () => {
  const { stdout, summary } = train("examples/spirals.yaml", []);
  assert.ok(summary.test.test_accuracy >= 0.95, `test accuracy ${summary.test.test_accuracy}`);
  // README: gradscope predict -c examples/spirals.yaml --checkpoint runs/<id>/checkpoints/best.gsckpt --out predictions.csv
  const directory = /run directory (\S+)/.exec(stdout)?.[1] as string;
  const out = join(runs, "spirals-predictions.csv");
  const predicted = spawnSync(
    process.execPath,
    ["bin/gradscope.js", "predict", "-c", "examples/spirals.yaml", "--checkpoint", join(directory, "checkpoints", "best.gsckpt"), "--out", out],
    { cwd: root, encoding: "utf8" },
  );
  assert.equal(predicted.status, 0, predicted.stderr);
  const rows = readFileSync(out, "utf8").trim().split("\n");
  assert.deepEqual([rows[0], rows.length], ["index,class,p_0,p_1", 1 + 410]);
});

// The Debian data set when installed (.ci/run installs it), else the bundled 3000-image sample.
const fullData = existsSync(debianFashionMnist);

test(`a short run of examples/fashion-mnist-mlp.yaml (2 epochs) reaches ${fullData ? "0.80 on the full test set" : "0.65 on the bundled sample"}`, () => {
  const { stdout, summary } = train("examples/fashion-mnist-mlp.yaml", ["training.epochs=2", "data.limit=15000", "scheduler=null"]);
  assert.match(stdout, fullData ? /14250 training examples, 750 validation, 10000 test/ : /bundled sample/);
  assert.ok(summary.test.test_accuracy >= (fullData ? 0.8 : 0.65), `test accuracy ${summary.test.test_accuracy}`);
});

test("examples/fashion-mnist-2c2d.yaml builds the DeepOBS 2c2d and trains a few steps", () => {
  const { stdout, summary } = train("examples/fashion-mnist-2c2d.yaml", ["training.epochs=1", "data.limit=256", "data.test_limit=200", "data.validation=0.25"]);
  assert.match(stdout, /fashion-mnist-2c2d: 3274634 parameters/);
  assert.ok(Number.isFinite(summary.test.test_loss));
  assert.ok(readdirSync(runs).length >= 2);
});

test("examples/fashion-mnist-resnet20.yaml builds ResNet-20 for one input channel and takes a step with the economy quantities", () => {
  const result = spawnSync(
    process.execPath,
    [
      "bin/gradscope.js",
      "train",
      "-q",
      "-c",
      "examples/fashion-mnist-resnet20.yaml",
      `training.runs_dir=${runs}`,
      "data.source=fashion-mnist-sample",
      "training.epochs=1",
      "data.limit=8",
      "data.batch_size=8",
      "data.test_limit=8",
    ],
    { cwd: root, encoding: "utf8" },
  );
  assert.equal(result.status, 0, result.stderr);
  // 269,722 for three input channels less the stem's 2 × 16 × 3 × 3 = 288 weights.
  const header = /fashion-mnist-resnet20: 269434 parameters, 8 training examples, 8 test; run directory (\S+)/.exec(result.stdout);
  assert.ok(header, result.stdout);
  const summary = JSON.parse(readFileSync(join(header[1], "summary.json"), "utf8"));
  assert.equal(summary.steps, 1);
  assert.ok(Number.isFinite(summary.history[0].loss), `loss ${summary.history[0].loss}`);
  // Its batch norms train in train mode: the per-sample quantities say they are skipped, the rest
  // run. One line names them and the 19 layers once, with no Node warning header or trace hint.
  const warnings = result.stderr.split("\n").filter((line) => line !== "");
  assert.equal(warnings.length, 1, result.stderr);
  assert.match(
    warnings[0],
    /^gradscope: Alpha, GradHist1d, InnerTest, NormTest, OrthoTest are skipped: per-sample gradients are not defined through batch norm in train mode \(layers 1, 3\.0\.main\.1, [^)]*\)$/,
  );
  assert.equal(/\(layers ([^)]*)\)/.exec(warnings[0])?.[1].split(", ").length, 19, warnings[0]);
});

test("examples/programmatic.ts trains a custom loss with the economy quantities through the Learner and records the run", () => {
  const result = spawnSync(process.execPath, ["--import", "tsx", "examples/programmatic.ts", runs], { cwd: root, encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  const ended = /completed: test accuracy ([\d.]+), mean norm test ([\d.]+) over (\d+) steps; run (\S+)/.exec(result.stdout);
  assert.ok(ended, result.stdout);
  assert.ok(Number(ended[1]) > 0.75, result.stdout);
  assert.ok(Number(ended[2]) > 0, `mean norm test ${ended[2]}`);
  // 38 batches an epoch for 8 epochs, tracked every 5 steps: steps 0, 5, ..., 300.
  assert.equal(Number(ended[3]), 61);
  assert.match(result.stdout, /^dashboard: http:\/\/127\.0\.0\.1:\d+\//m);
  assert.equal(JSON.parse(readFileSync(join(ended[4], "summary.json"), "utf8")).status, "completed");
});

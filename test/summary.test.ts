import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { Linear } from "../src/nn/layers.ts";
import { buildModel } from "../src/nn/spec.ts";

// The CLI as users run it: bin/gradscope.js on the compiled dist/ (npm test builds it first).
const bin = fileURLToPath(new URL("../bin/gradscope.js", import.meta.url));
const folder = mkdtempSync(join(tmpdir(), "gradscope-summary-"));
const run = (args: string[]) => spawnSync(process.execPath, [bin, "summary", ...args], { encoding: "utf8", cwd: folder, timeout: 60_000 });

interface SummaryJson {
  input_shape: number[];
  output_shape: number[];
  layers: Array<{ name: string; type: string; output_shape: number[]; params: number; mult_adds: number }>;
  total_params: number;
  total_mult_adds: number;
}

const json = (args: string[]): SummaryJson => {
  const result = run([...args, "--json"]);
  assert.equal(result.status, 0, result.stderr);
  return JSON.parse(result.stdout) as SummaryJson;
};

test("summary --arch resnet18 --json lists every layer with torchvision's total and conv multiply-adds computed by hand", () => {
  const summary = json(["--arch", "resnet18", "--variant", "imagenet", "--input", "3,224,224", "--classes", "1000"]);
  assert.equal(summary.total_params, 11689512);
  assert.deepEqual(summary.output_shape, [1000]);
  assert.equal(
    summary.layers.reduce((total, layer) => total + layer.params, 0),
    summary.total_params,
  );
  const layer = (name: string) => summary.layers.find((l) => l.name === name);
  // The 7x7 stem: 64 filters of 3x7x7 weights, each used at 112x112 output pixels.
  assert.deepEqual(layer("0"), { name: "0", type: "conv2d", output_shape: [64, 112, 112], params: 64 * 3 * 7 * 7, mult_adds: 64 * 3 * 7 * 7 * 112 * 112 });
  // The first conv of stage 2: 3x3, stride 2, 64 -> 128 channels at 28x28.
  assert.deepEqual(layer("5.0.main.0"), { name: "5.0.main.0", type: "conv2d", output_shape: [128, 28, 28], params: 128 * 64 * 9, mult_adds: 128 * 64 * 9 * 28 * 28 });
  assert.deepEqual(layer("5.0.shortcut.1"), { name: "5.0.shortcut.1", type: "batchnorm2d", output_shape: [128, 28, 28], params: 256, mult_adds: 0 });
  assert.deepEqual(summary.layers.at(-1), { name: "10", type: "linear", output_shape: [1000], params: 513000, mult_adds: 512000 });
  assert.equal(
    summary.total_mult_adds,
    summary.layers.reduce((total, l) => total + l.mult_adds, 0),
  );
  // torchinfo reports 1.81 G mult-adds for resnet18 at 224x224.
  assert.equal((summary.total_mult_adds / 1e9).toFixed(2), "1.81");
});

test("summary prints a table with the layers and the totals", () => {
  const result = run(["--arch", "resnet20", "--input", "3,32,32"]);
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /Layer \(type\)\s+Output shape\s+Param #\s+Mult-adds/);
  assert.match(result.stdout, /\n0 \(conv2d\)\s+\[16, 32, 32\]\s+432\s+442,368\n/);
  assert.match(result.stdout, /4\.0\.shortcut\.0 \(subsample_pad\)\s+\[32, 16, 16\]\s+0\s+0\n/);
  assert.match(result.stdout, /Total params: 269,722 \(269\.72 k\)/);
});

test("summary -c shows a config's model, its input shape taken from the data or from --input", () => {
  const config = join(folder, "spirals.yaml");
  writeFileSync(config, "model: { arch: mlp, hidden: [8], classes: 2 }\ndata: { source: spirals, samples: 50 }\ntraining: { epochs: 1 }\noptimizer: { name: sgd, lr: 0.1 }\n");
  const fromData = json(["-c", config]);
  assert.deepEqual(fromData.input_shape, [2]);
  assert.deepEqual(
    fromData.layers.map((l) => [l.name, l.type, l.params, l.mult_adds]),
    [
      ["0", "linear", 24, 16],
      ["1", "relu", 0, 0],
      ["2", "linear", 18, 16],
    ],
  );
  const overridden = json(["-c", config, "--input", "5", "model.hidden=[4]"]);
  assert.equal(overridden.total_params, 5 * 4 + 4 + 4 * 2 + 2);
});

test("summary refuses a missing --input, an unknown architecture and a bad shape, naming them", () => {
  const refused = (args: string[], message: RegExp) => {
    const result = run(args);
    assert.equal(result.status, 2, result.stderr);
    assert.match(result.stderr, message);
  };
  refused([], /summary needs -c FILE or --arch NAME/);
  refused(["--arch", "resnet18"], /summary --arch resnet18: needs --input/);
  refused(["--arch", "resnt18", "--input", "3,32,32"], /model\.arch: unknown architecture "resnt18" \(did you mean "resnet18"\?\)/);
  refused(["--arch", "resnet18", "--input", "3,x,32"], /--input 3,x,32: expected the per-example shape/);
});

test("model.summary() of a built model names its layers; a module built by hand has none", () => {
  const { model } = buildModel({ layers: [{ type: "conv2d", out_channels: 4, kernel_size: 3, groups: 2 }, { type: "flatten" }, { type: "linear", out: 3 }] }, [2, 5, 5]);
  const summary = model.summary();
  // A grouped conv: each of 4 filters sees 2/2 = 1 input channel, 3x3, at 3x3 output pixels.
  assert.deepEqual(
    summary.layers.map((l) => [l.name, l.outputShape, l.parameters, l.multiplyAdds]),
    [
      ["0", [4, 3, 3], 4 * 9 + 4, 4 * 9 * 9],
      ["1", [36], 0, 0],
      ["2", [3], 36 * 3 + 3, 36 * 3],
    ],
  );
  assert.equal(summary.totalParameters, model.parameterCount());
  assert.throws(() => new Linear(2, 3).summary(), /summary: this module was not built from a model spec/);
});

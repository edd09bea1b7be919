import assert from "node:assert/strict";
import { test } from "node:test";
import { tensor } from "../src/engine/creation.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { scope } from "../src/engine/scope.ts";
import type { LayerSpec, ModelSpec } from "../src/nn/spec.ts";
import { buildModel } from "../src/nn/spec.ts";
import { SGD } from "../src/optim/sgd.ts";
import { collectQuantityValues, createQuantities, QuantityTracker, type QuantityValue } from "../src/quantities/index.ts";
import { randomValues } from "./helpers.ts";

// Cockpit's economy quantities (its first-order ones) on the blocks the model zoo is built of:
// computed, not skipped, wherever per-sample gradients are defined (no batch norm, or batch norm
// in eval mode), and skipped by name, naming the layers, through a train-mode batch norm.

// The ones that need per-sample gradients (Alpha's noise estimate projects them on the step).
const perSampleQuantities = ["Alpha", "GradHist1d", "InnerTest", "NormTest", "OrthoTest"];
const economy = ["Distance", "GradNorm", "Loss", "UpdateSize", ...perSampleQuantities];

// Every number in a quantity's value (a scalar, a per-layer list or a histogram's edges and counts).
const numbersIn = (value: QuantityValue): number[] => (typeof value === "number" ? [value] : Array.isArray(value) ? value : [...value.edges.flat(), ...value.hist.flat()]);

/**
 * Two SGD steps on a batch of 3 with the economy quantities tracked at both (Alpha and
 * UpdateSize of step 0 complete at step 1); returns the values by step and the warnings.
 */
function trackTwoSteps(spec: ModelSpec, inputShape: number[], classes: number, mode: "train" | "eval") {
  const { model } = buildModel(spec, inputShape, 7);
  if (mode === "eval") model.eval();
  const optimizer = new SGD(model.parameters(), { lr: 0.01, momentum: 0.9 });
  const tracker = new QuantityTracker(createQuantities("economy", 1), model, optimizer);
  const warnings: string[] = [];
  tracker.warn = (message) => warnings.push(message);
  const values = collectQuantityValues(tracker);
  const size = inputShape.reduce((a, b) => a * b, 1);
  for (const step of [0, 1]) {
    scope(() => {
      const x = tensor(randomValues(3 * size, 20 + step), [3, ...inputShape]);
      const targets = tensor([0, 1, classes - 1], [3], "int32");
      tracker.backward(mean(crossEntropy(model.forward(x), targets)), step);
    });
    optimizer.step();
    optimizer.zeroGrad();
  }
  tracker.dispose();
  optimizer.dispose?.();
  model.dispose();
  return { values, warnings };
}

function assertEconomyComputed(what: string, values: Map<number, Record<string, QuantityValue>>, warnings: string[]): void {
  assert.deepEqual(warnings, [], `${what}: no quantity is skipped`);
  const first = values.get(0) ?? {};
  for (const name of economy) {
    assert.ok(name in first, `${what}: ${name} at step 0 (got ${Object.keys(first).join(", ")})`);
    assert.ok(numbersIn(first[name]).every(Number.isFinite), `${what}: ${name} is finite: ${JSON.stringify(first[name])}`);
  }
  assert.ok(
    numbersIn(first.GradHist1d).some((count) => count > 0),
    `${what}: GradHist1d counts gradient elements`,
  );
}

const conv = (out: number, kernel: number, extra: Record<string, unknown> = {}): LayerSpec => ({ type: "conv2d", out_channels: out, kernel_size: kernel, ...extra });

// Without batch norm: a residual block with a strided projection shortcut, one with the
// option-A subsample-and-pad shortcut, an Inception-style concat (one branch pooling), a
// DenseNet-style concat with its identity branch, a depthwise-separable and a grouped
// convolution, average, adaptive and global pooling, and the activations the architectures use.
const everyBlock: ModelSpec = {
  layers: [
    conv(8, 3, { padding: 1 }),
    { type: "relu" },
    {
      type: "residual",
      main: [conv(16, 3, { stride: 2, padding: 1 }), { type: "silu" }, conv(16, 3, { padding: 1 })],
      shortcut: [conv(16, 1, { stride: 2 })],
      post: [{ type: "relu" }],
    },
    {
      type: "residual",
      main: [conv(24, 3, { stride: 2, padding: 1 }), { type: "gelu" }, conv(24, 3, { padding: 1 })],
      shortcut: [{ type: "subsample_pad", out_channels: 24 }],
      post: [{ type: "relu6" }],
    },
    {
      type: "concat",
      dim: 1,
      branches: [
        [conv(8, 1)],
        [conv(8, 1), { type: "hardswish" }, conv(8, 3, { padding: 1 })],
        [{ type: "maxpool2d", kernel_size: 3, stride: 1, padding: 1 }, conv(8, 1), { type: "elu" }],
      ],
    },
    { type: "concat", dim: 1, branches: [[], [conv(8, 1), { type: "mish" }, conv(8, 3, { padding: 1 })]] },
    conv(32, 3, { padding: 1, groups: 32 }),
    { type: "selu" },
    conv(32, 1),
    { type: "softplus" },
    conv(32, 3, { padding: 1, groups: 4 }),
    { type: "leaky_relu" },
    { type: "avgpool2d", kernel_size: 2 },
    { type: "adaptive_avgpool2d", output_size: 2 },
    conv(16, 1),
    { type: "global_avgpool2d" },
    { type: "flatten" },
    { type: "linear", out: 5 },
  ],
};

test("the economy quantities are computed on LeNet-5 (modern and classic) and finite", () => {
  for (const variant of ["modern", "classic"]) {
    const { values, warnings } = trackTwoSteps({ arch: "lenet5", variant, classes: 47 }, [1, 28, 28], 47, "train");
    assertEconomyComputed(`lenet5 ${variant}`, values, warnings);
  }
});

test("the economy quantities are computed through residual, concat, depthwise, grouped and pooling blocks without batch norm", () => {
  const { values, warnings } = trackTwoSteps(everyBlock, [3, 16, 16], 5, "train");
  assertEconomyComputed("every block", values, warnings);
});

test("with batch norm in eval mode the economy quantities are computed on ResNet-20 and MobileNetV2 (CIFAR variants)", () => {
  for (const arch of ["resnet20", "mobilenet_v2"]) {
    const { values, warnings } = trackTwoSteps({ arch, variant: "cifar", classes: 10 }, [3, 16, 16], 10, "eval");
    assertEconomyComputed(`${arch} in eval mode`, values, warnings);
  }
});

test("through ResNet-20's train-mode batch norms the per-sample quantities are skipped in one warning naming them and the layers once, and the rest run", () => {
  const { values, warnings } = trackTwoSteps({ arch: "resnet20", classes: 10 }, [3, 16, 16], 10, "train");
  assert.equal(warnings.length, 1, warnings.join("\n"));
  const [, names, layers] = /^gradscope: (.*) are skipped: per-sample gradients are not defined through batch norm in train mode \(layers (.*)\)$/.exec(warnings[0]) ?? [];
  assert.deepEqual(names?.split(", ").sort(), perSampleQuantities, warnings[0]);
  assert.match(layers ?? "", /^1, 3\.0\.main\.1, 3\.0\.main\.4, .*, 5\.2\.main\.4$/);
  assert.equal(layers?.split(", ").length, 19, layers);
  const first = values.get(0) ?? {};
  for (const name of economy.filter((q) => !perSampleQuantities.includes(q))) {
    assert.ok(numbersIn(first[name] ?? Number.NaN).every(Number.isFinite), `${name} at step 0: ${JSON.stringify(first[name])}`);
  }
  for (const name of perSampleQuantities) assert.ok(!(name in first), `${name} is not recorded`);
});

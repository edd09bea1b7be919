import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { buildData, buildTraining } from "../src/config/build.ts";
import { loadConfig } from "../src/config/load.ts";
import { backward, noGrad } from "../src/engine/autograd.ts";
import { parameter, tensor } from "../src/engine/creation.ts";
import { hessianVectorProduct } from "../src/engine/curvature/hvp.ts";
import { backwardWithExtensions } from "../src/engine/extensions/index.ts";
import { adaptiveAvgPool2d, adaptiveWindows } from "../src/engine/ops/adaptivePool.ts";
import { type Conv2dOptions, conv2d } from "../src/engine/ops/conv2d.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean, sum } from "../src/engine/ops/reduce.ts";
import { elu, gelu, hardswish, mish, relu6, selu, silu, softplus } from "../src/engine/ops/unary.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import { liveTensorCount, type Tensor } from "../src/engine/tensor.ts";
import { fansOf, gainOf, initializeTensor } from "../src/nn/init.ts";
import type { Module } from "../src/nn/module.ts";
import { buildModel, type LayerSpec, type ModelSpec } from "../src/nn/spec.ts";
import { collectQuantityValues, createQuantities, QuantityTracker } from "../src/quantities/index.ts";
import { SqliteRunStore } from "../src/store/sqliteRunStore.ts";
import { storeRecording } from "../src/train/callbacks/storeRecording.ts";
import { assertClose, randomValues } from "./helpers.ts";

// A ResNet BasicBlock with a projection shortcut, as a user writes it in YAML.
const basicBlock: LayerSpec = {
  type: "residual",
  main: [
    { type: "conv2d", out_channels: 8, kernel_size: 3, stride: 2, padding: 1, bias: false },
    { type: "batchnorm2d" },
    { type: "relu" },
    { type: "conv2d", out_channels: 8, kernel_size: 3, padding: 1, bias: false },
    { type: "batchnorm2d" },
  ],
  shortcut: [{ type: "conv2d", out_channels: 8, kernel_size: 1, stride: 2, bias: false }, { type: "batchnorm2d" }],
  post: [{ type: "relu" }],
  zero_init_last_bn: true,
};

test("a residual block in the layer list has PyTorch's parameter names, its output shape, and a zero-initialized last batch norm", () => {
  const { model, outputShape } = buildModel({ layers: [basicBlock, { type: "global_avgpool2d" }, { type: "flatten" }, { type: "linear", out: 3 }] }, [4, 6, 6], 1);
  assert.deepEqual(outputShape, [3]);
  assert.deepEqual(
    model.namedParameters().map(([name]) => name),
    [
      "0.main.0.weight",
      "0.main.1.weight",
      "0.main.1.bias",
      "0.main.3.weight",
      "0.main.4.weight",
      "0.main.4.bias",
      "0.shortcut.0.weight",
      "0.shortcut.1.weight",
      "0.shortcut.1.bias",
      "3.weight",
      "3.bias",
    ],
  );
  assert.deepEqual(
    model
      .namedBuffers()
      .map(([name]) => name)
      .filter((name) => name.endsWith("running_mean")),
    ["0.main.1.running_mean", "0.main.4.running_mean", "0.shortcut.1.running_mean"],
  );
  const weights = new Map(model.namedParameters());
  assert.ok(
    weights
      .get("0.main.4.weight")
      ?.toArray()
      .every((v) => v === 0),
  );
  assert.ok(
    weights
      .get("0.main.1.weight")
      ?.toArray()
      .every((v) => v === 1),
  );
  scope(() => {
    const out = model.forward(tensor(randomValues(2 * 4 * 36, 3), [2, 4, 6, 6]));
    assert.deepEqual(out.shape, [2, 3]);
  });
  model.dispose();
});

test("concat branches join along the channels in order; an empty branch is the identity (DenseNet)", () => {
  const spec: ModelSpec = {
    layers: [
      {
        type: "concat",
        branches: [[], [{ type: "conv2d", out_channels: 3, kernel_size: 3, padding: 1 }], [{ type: "maxpool2d", kernel_size: 3, stride: 1, padding: 1 }]],
      },
    ],
  };
  const { model, outputShape } = buildModel(spec, [2, 5, 5], 2);
  assert.deepEqual(outputShape, [7, 5, 5]);
  assert.deepEqual(
    model.namedParameters().map(([name]) => name),
    ["0.branches.1.0.weight", "0.branches.1.0.bias"],
  );
  scope(() => {
    const x = tensor(randomValues(2 * 2 * 25, 4), [2, 2, 5, 5]);
    const out = model.forward(x).toArray();
    // Sample 1's first two channels are its input, unchanged.
    assert.deepEqual(out.slice(7 * 25, 7 * 25 + 50), x.toArray().slice(50, 100));
  });
  model.dispose();
});

test("model-level and per-layer inits follow torch.nn.init's formulas; bias_init zeros the biases", () => {
  const spec: ModelSpec = {
    init: { type: "kaiming_normal", mode: "fan_out", nonlinearity: "relu" },
    bias_init: "zeros",
    layers: [
      { type: "conv2d", out_channels: 64, kernel_size: 3, padding: 1 },
      { type: "relu" },
      { type: "flatten" },
      { type: "linear", out: 200, init: "xavier_uniform" },
      { type: "linear", out: 10, init: { type: "normal", std: 0.01 } },
    ],
  };
  const { model } = buildModel(spec, [32, 4, 4], 7);
  const p = new Map(model.namedParameters());
  const std = (values: number[]) => Math.sqrt(values.reduce((s, v) => s + v * v, 0) / values.length);
  const conv = p.get("0.weight")?.toArray() ?? [];
  assertClose([std(conv)], [Math.SQRT2 / Math.sqrt(64 * 9)], 0.03, 0, "kaiming_normal fan_out std");
  const xavier = p.get("3.weight")?.toArray() ?? [];
  const bound = Math.sqrt(6 / (64 * 16 + 200));
  const largestXavier = xavier.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assert.ok(largestXavier <= bound * (1 + 1e-6) && largestXavier > 0.99 * bound, "xavier_uniform fills ±√(6/(fan_in + fan_out))");
  assertClose([std(p.get("4.weight")?.toArray() ?? [])], [0.01], 0.05, 0, "normal std");
  for (const name of ["0.bias", "3.bias", "4.bias"])
    assert.ok(
      p
        .get(name)
        ?.toArray()
        .every((v) => v === 0),
      `${name} is zero`,
    );
  model.dispose();
  // Fans of a depthwise conv weight [C, 1, 3, 3] count in_channels/groups, as PyTorch does.
  assert.deepEqual(fansOf([32, 1, 3, 3]), { fanIn: 9, fanOut: 288 });
  assert.equal(gainOf("leaky_relu", 0.2), Math.sqrt(2 / 1.04));
  assert.equal(gainOf("tanh"), 5 / 3);
  scope(() => {
    const w = tensor(new Array(4000).fill(0), [100, 40]);
    initializeTensor(w, { type: "kaiming_uniform", nonlinearity: "relu" }, new Random(1));
    const largest = w.toArray().reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    const kaimingBound = Math.SQRT2 * Math.sqrt(3 / 40);
    assert.ok(largest <= kaimingBound * (1 + 1e-6) && largest > 0.99 * kaimingBound, `kaiming_uniform bound ${kaimingBound}, largest ${largest}`);
  });
});

test("spec errors name the field and what was expected", () => {
  const fails = (spec: ModelSpec, shape: number[], pattern: RegExp) => assert.throws(() => buildModel(spec, shape), pattern);
  fails(
    { layers: [{ type: "residual", main: [{ type: "conv2d", out_channels: 4, kernel_size: 3, stride: 2, padding: 1 }], shortcut: null }] },
    [4, 6, 6],
    /model\.layers\[0\]: main maps \[4, 6, 6\] to \[4, 3, 3\] but the identity shortcut keeps \[4, 6, 6\]/,
  );
  fails({ layers: [{ type: "residual", layers: [{ type: "relu" }] }] }, [4], /model\.layers\[0\]\.layers: a residual takes main/);
  fails(
    { layers: [{ type: "concat", branches: [[], [{ type: "maxpool2d", kernel_size: 2 }]] }] },
    [2, 4, 4],
    /model\.layers\[0\]\.branches\[1\]: gives \[2, 2, 2\], which does not match branch 0's \[2, 4, 4\]/,
  );
  fails(
    { layers: [{ type: "conv2d", out_channels: 6, kernel_size: 3, groups: 4 }] },
    [8, 5, 5],
    /model\.layers\[0\]\.groups: is 4; in_channels 8 and out_channels 6 must both be divisible/,
  );
  fails({ layers: [{ type: "maxpool2d", kernel_size: 2, ceil_mode: true }] }, [1, 4, 4], /model\.layers\[0\]\.ceil_mode: only false is supported, got true/);
  fails(
    { layers: [{ type: "linear", out: 2, init: "kaiming_normall" }] },
    [3],
    /model\.layers\[0\]\.init: unknown weight init "kaiming_normall" \(did you mean "kaiming_normal"\?\)/,
  );
  fails({ layers: [{ type: "linear", out: 2, init: { type: "kaiming_normal", mode: "fan_avg" } }] }, [3], /init\.mode: expected "fan_in" or "fan_out"/);
  fails({ layers: [{ type: "hardswich" }] }, [3], /model\.layers\[0\]\.type: unknown layer type "hardswich" \(did you mean "hardswish"\?\)/);
  fails({ layers: [{ type: "adaptive_avgpool2d", output_size: [5, 1] }] }, [1, 4, 4], /output_size: \[5, 1\] must lie between 1 and the 4x4 input/);
  fails({ layers: [{ type: "residual", main: [{ type: "relu" }], zero_init_last_bn: true }] }, [3], /zero_init_last_bn: the residual's main path has no batch norm/);
});

// Inputs away from every kink (0, ±3, 6), where finite differences are exact to O(h²).
const smooth = [-5.1, -3.4, -2.2, -1.3, -0.7, -0.2, 0.3, 0.9, 1.6, 2.5, 3.7, 5.2];

const activations: Array<[string, (x: Tensor) => Tensor]> = [
  ["silu", silu],
  ["gelu", (x) => gelu(x)],
  ["gelu_tanh", (x) => gelu(x, "tanh")],
  ["hardswish", hardswish],
  ["elu", (x) => elu(x, 0.7)],
  ["selu", selu],
  ["mish", mish],
  ["softplus", (x) => softplus(x, 2, 20)],
  ["relu6", relu6],
];

/** σ'(x) for each x, by autodiff. */
function derivative(f: (x: Tensor) => Tensor, xs: number[]): number[] {
  return scope(() => {
    const x = parameter(xs, [xs.length]);
    backward(sum(f(x)));
    return x.grad?.toArray() ?? [];
  });
}

test("the new activations' derivatives and curvature (σ'' in Hessian-vector products) match central differences", () => {
  const h = 1e-3;
  for (const [name, f] of activations) {
    const values = (xs: number[]) => scope(() => f(tensor(xs, [xs.length])).toArray());
    const plus = smooth.map((v) => v + h);
    const minus = smooth.map((v) => v - h);
    const [up, down] = [values(plus), values(minus)];
    const firstByDifferences = up.map((u, i) => (u - down[i]) / (2 * h));
    assertClose(derivative(f, smooth), firstByDifferences, 2e-3, 2e-3, `${name}'`);
    const [slopeUp, slopeDown] = [derivative(f, plus), derivative(f, minus)];
    const secondByDifferences = slopeUp.map((u, i) => (u - slopeDown[i]) / (2 * h));
    // The Hessian of S = Σ σ(x_i) is diag(σ''(x)); H·1 is its diagonal.
    const hessianDiagonal = scope(() => {
      const x = parameter(smooth, [smooth.length]);
      const objective = sum(f(x));
      return hessianVectorProduct(objective, [x], [tensor(new Array(smooth.length).fill(1), [smooth.length])])[0].toArray();
    });
    assertClose(hessianDiagonal, secondByDifferences, 2e-3, 3e-3, `${name}''`);
  }
});

test("activation values at the kinks follow PyTorch: relu6' is 0 at 0 and 6, hardswish' is 0 at −3 and 1 at 3, selu' is scale·α at 0, mish' is 0.6", () => {
  assert.deepEqual(derivative(relu6, [0, 6, 3]), [0, 0, 1]);
  assert.deepEqual(derivative(hardswish, [-3, 3]), [0, 1]);
  assertClose(derivative(selu, [0]), [1.0507009873554805 * 1.6732632423543772], 1e-6, 0);
  assertClose(derivative(mish, [0]), [0.6], 1e-6, 0);
  assertClose(derivative(silu, [0]), [0.5], 1e-7, 0);
  assertClose(
    derivative((x) => elu(x), [0]),
    [1],
    1e-7,
    0,
  );
  assert.ok(
    Object.is(
      scope(() => hardswish(tensor([-3], [1])).toArray()[0]),
      -0,
    ),
  );
});

test("adaptive average pooling averages overlapping windows of unequal size; its gradient is the adjoint", () => {
  assert.deepEqual(adaptiveWindows(5, 2), [
    [0, 3],
    [2, 5],
  ]);
  assert.deepEqual(adaptiveWindows(7, 3), [
    [0, 3],
    [2, 5],
    [4, 7],
  ]);
  scope(() => {
    const xs = randomValues(2 * 3 * 5 * 7, 6);
    const x = parameter(xs, [2, 3, 5, 7]);
    const out = adaptiveAvgPool2d(x, [2, 3]);
    assert.deepEqual(out.shape, [2, 3, 2, 3]);
    // Cell (0, 1) of plane 0 averages rows 0–2 and columns 2–4.
    let window = 0;
    for (let r = 0; r < 3; r++) for (let c = 2; c < 5; c++) window += xs[r * 7 + c];
    assertClose([out.toArray()[1]], [window / 9], 1e-6, 1e-7);
    const g = randomValues(out.size, 7);
    backward(out, { gradient: tensor(g, out.shape) });
    const inner = out.toArray().reduce((s, v, i) => s + v * g[i], 0);
    const adjoint = (x.grad?.toArray() ?? []).reduce((s, v, i) => s + v * xs[i], 0);
    assertClose([adjoint], [inner], 1e-5, 1e-6, "⟨pool(x), g⟩ = ⟨x, poolᵀ(g)⟩");
    assert.throws(() => adaptiveAvgPool2d(x, [6, 1]), /adaptive_avgpool2d: output size \[6, 1\] must be between 1 and the input's 5x7/);
  });
});

// Residual (depthwise-separable main path, identity shortcut, Mish after the sum), a DenseNet
// concat, global pooling and a classifier: every block type, no batch norm.
const blocks: ModelSpec = {
  layers: [
    { type: "conv2d", out_channels: 2, kernel_size: 3, padding: 1 },
    {
      type: "residual",
      main: [{ type: "conv2d", out_channels: 2, kernel_size: 3, padding: 1, groups: 2 }, { type: "silu" }, { type: "conv2d", out_channels: 2, kernel_size: 1 }],
      shortcut: null,
      post: [{ type: "mish" }],
    },
    {
      type: "concat",
      branches: [
        [],
        [
          { type: "conv2d", out_channels: 1, kernel_size: 1 },
          { type: "gelu", approximate: "tanh" },
        ],
      ],
    },
    { type: "adaptive_avgpool2d", output_size: [2, 1] },
    { type: "flatten" },
    { type: "elu" },
    { type: "linear", out: 3 },
  ],
};
const samples = 3;
const inputValues = randomValues(samples * 16, 21);
const targets = [0, 2, 1];

function lossOf(model: Module, from: number, count: number): Tensor {
  const x = tensor(inputValues.slice(from * 16, (from + count) * 16), [count, 1, 4, 4]);
  return mean(crossEntropy(model.forward(x), tensor(targets.slice(from, from + count), [count], "int32")));
}

test("per-sample gradients, batchL2 and sumGradSquared flow through residual, concat, depthwise conv and adaptive pooling", () => {
  const { model } = buildModel(blocks, [1, 4, 4], 3);
  const params = model.parameters();
  const loop = targets.map((_, i) =>
    scope(() => {
      model.zeroGrad();
      backward(lossOf(model, i, 1));
      return params.map((p) => p.grad?.toArray() ?? []);
    }),
  );
  model.zeroGrad();
  scope(() => {
    const stats = backwardWithExtensions(lossOf(model, 0, samples), { individualGradients: true, batchL2: true, sumGradSquared: true });
    for (const [k, p] of params.entries()) {
      const s = stats.get(p);
      assertClose(
        s?.individualGradients?.toArray() ?? [],
        loop.flatMap((g) => g[k]),
        1e-4,
        1e-6,
        `individual gradients of ${p.name}`,
      );
      const l2 = loop.map((g) => g[k].reduce((t, v) => t + v * v, 0));
      assertClose(s?.batchL2 ?? [], l2, 1e-4, 1e-8, `batchL2 of ${p.name}`);
      const squares = loop[0][k].map((_, j) => loop.reduce((t, g) => t + g[k][j] ** 2, 0));
      assertClose(s?.sumGradSquared?.toArray() ?? [], squares, 1e-4, 1e-8, `sumGradSquared of ${p.name}`);
    }
  });
  model.dispose();
});

test("diag_h through residual, concat and the new activations is the exact Hessian diagonal H·e_j", () => {
  const { model } = buildModel(blocks, [1, 4, 4], 4);
  const params = model.parameters();
  scope(() => {
    const loss = lossOf(model, 0, samples);
    const byProducts = params.map((p, k) =>
      Array.from({ length: p.size }, (_, j) =>
        scope(() => {
          const directions = params.map((q) => tensor(new Array(q.size).fill(0), q.shape));
          directions[k].data[j] = 1;
          return hessianVectorProduct(loss, params, directions)[k].toArray()[j];
        }),
      ),
    );
    const stats = backwardWithExtensions(loss, { diagonalCurvature: { kind: "diag_h" } });
    for (const [k, p] of params.entries()) assertClose(stats.get(p)?.diagonalCurvature?.toArray() ?? [], byProducts[k], 1e-3, 1e-6, `diag_h of ${p.name}`);
  });
  model.dispose();
});

test("per-sample statistics under a train-mode batch norm inside a block name the layer by its path", () => {
  const { model } = buildModel({ layers: [basicBlock, { type: "global_avgpool2d" }, { type: "flatten" }, { type: "linear", out: 3 }] }, [4, 6, 6], 1);
  scope(() => {
    const loss = mean(crossEntropy(model.forward(tensor(randomValues(2 * 4 * 36, 3), [2, 4, 6, 6])), tensor([0, 2], [2], "int32")));
    assert.throws(() => backwardWithExtensions(loss, { batchL2: true }), /per-sample gradients are not defined for batch norm in train mode \(layer 0\.shortcut\.1\)/);
  });
  model.eval();
  scope(() => {
    const loss = mean(crossEntropy(model.forward(tensor(randomValues(2 * 4 * 36, 3), [2, 4, 6, 6])), tensor([0, 2], [2], "int32")));
    const stats = backwardWithExtensions(loss, { batchL2: true });
    assert.equal(stats.get(model.parameters()[0])?.batchL2?.length, 2, "in eval mode the block's statistics are defined");
  });
  model.dispose();
});

test("the direct depthwise kernel matches the same convolution as a dense conv with block-diagonal weights, in every geometry", () => {
  const geometries: Array<{ channels: number; multiplier: number; size: [number, number]; kernel: [number, number]; options: Conv2dOptions }> = [
    { channels: 3, multiplier: 1, size: [9, 11], kernel: [3, 3], options: { padding: 1 } },
    { channels: 2, multiplier: 1, size: [7, 6], kernel: [3, 3], options: { stride: 2, padding: 1 } },
    { channels: 2, multiplier: 2, size: [6, 5], kernel: [3, 3], options: { padding: 1 } },
    { channels: 2, multiplier: 1, size: [8, 9], kernel: [3, 3], options: { dilation: 2, padding: 2 } },
    { channels: 3, multiplier: 1, size: [8, 8], kernel: [5, 5], options: { padding: 2 } },
    { channels: 2, multiplier: 1, size: [5, 3], kernel: [3, 1], options: { padding: [1, 0], stride: [1, 2] } },
    { channels: 2, multiplier: 1, size: [4, 4], kernel: [3, 3], options: { padding: 0 } },
    { channels: 2, multiplier: 1, size: [5, 12], kernel: [3, 3], options: { stride: [2, 1], padding: 1 } },
  ];
  for (const [index, { channels, multiplier, size, kernel, options }] of geometries.entries()) {
    const outChannels = channels * multiplier;
    const taps = kernel[0] * kernel[1];
    const xs = randomValues(2 * channels * size[0] * size[1], 30 + index);
    const ws = randomValues(outChannels * taps, 40 + index);
    // The dense weight [out, in, kh, kw] is zero except where output o reads input o / multiplier.
    const dense = new Array(outChannels * channels * taps).fill(0);
    for (let o = 0; o < outChannels; o++) for (let t = 0; t < taps; t++) dense[(o * channels + Math.floor(o / multiplier)) * taps + t] = ws[o * taps + t];
    const run = (weights: number[], shape: number[], groups: number) =>
      scope(() => {
        const x = parameter(xs, [2, channels, ...size]);
        const w = parameter(weights, shape);
        const y = conv2d(x, w, null, { ...options, groups });
        backward(y, { gradient: tensor(randomValues(y.size, 50 + index), y.shape) });
        return { y: y.toArray(), dx: x.grad?.toArray() ?? [], dw: w.grad?.toArray() ?? [] };
      });
    const direct = run(ws, [outChannels, 1, ...kernel], channels);
    const reference = run(dense, [outChannels, channels, ...kernel], 1);
    const what = `geometry ${index}`;
    assertClose(direct.y, reference.y, 1e-5, 1e-6, `${what} output`);
    assertClose(direct.dx, reference.dx, 1e-5, 1e-6, `${what} input gradient`);
    const diagonal = ws.map((_, k) => {
      const [o, t] = [Math.floor(k / taps), k % taps];
      return reference.dw[(o * channels + Math.floor(o / multiplier)) * taps + t];
    });
    assertClose(direct.dw, diagonal, 1e-5, 1e-6, `${what} weight gradient`);
  }
});

test("without a graph, containers free each intermediate once it is consumed: a deep network's evaluation holds its output, not every activation", () => {
  // Thirty ReLUs in a row, residual blocks (identity and projected shortcuts) and a concat: with
  // the graph every activation stays alive for backward; without it only the output is left.
  const spec: ModelSpec = {
    layers: [
      ...Array.from({ length: 30 }, () => ({ type: "relu" }) as LayerSpec),
      { type: "residual", main: [{ type: "relu" }, { type: "tanh" }], shortcut: null, post: [{ type: "relu" }] },
      { type: "residual", main: [{ type: "conv2d", out_channels: 3, kernel_size: 1 }], shortcut: [{ type: "conv2d", out_channels: 3, kernel_size: 1 }] },
      { type: "concat", branches: [[{ type: "relu" }], [], [{ type: "tanh" }, { type: "relu" }]] },
    ],
  };
  const { model } = buildModel(spec, [2, 4, 4], 3);
  const x = tensor(randomValues(2 * 2 * 16, 4), [2, 2, 4, 4]);
  scope(() => {
    const before = liveTensorCount();
    const recorded = model.forward(x);
    const withGraph = liveTensorCount() - before;
    const evaluated = noGrad(() => model.forward(x));
    const withoutGraph = liveTensorCount() - before - withGraph;
    assert.ok(withGraph > 35, `the recorded pass keeps its activations (${withGraph})`);
    assert.equal(withoutGraph, 1, "only the output is left");
    assert.deepEqual(evaluated.toArray(), recorded.toArray());
  });
  model.dispose();
  x.dispose();
});

test("with a train-mode batch norm in a block, the quantities that need per-sample gradients or curvature are skipped by name and the others still run", () => {
  const { model } = buildModel({ layers: [basicBlock, { type: "global_avgpool2d" }, { type: "flatten" }, { type: "linear", out: 3 }] }, [4, 6, 6], 1);
  const tracker = new QuantityTracker(createQuantities("full", 1), model, { name: "SGD", paramGroups: [{ hyper: { lr: 0.1, momentum: 0 } }] });
  const warnings: string[] = [];
  tracker.warn = (message) => warnings.push(message);
  // A recorded run also stores each warning as an event of its step.
  const store = new SqliteRunStore(join(mkdtempSync(join(tmpdir(), "gradscope-skips-")), "gradscope.db"));
  store.createRun({ id: "skips", name: "skips", config: {} });
  storeRecording(store, "skips").recordQuantities(tracker);
  const values = collectQuantityValues(tracker);
  for (const step of [0, 1]) {
    scope(() => {
      const x = tensor(randomValues(2 * 4 * 36, 10 + step), [2, 4, 6, 6]);
      tracker.backward(mean(crossEntropy(model.forward(x), tensor([0, 2], [2], "int32"))), step);
    });
  }
  assert.deepEqual(Object.keys(values.get(0) ?? {}).sort(), ["Distance", "GradNorm", "Loss", "UpdateSize"]);
  assert.deepEqual(Object.keys(values.get(1) ?? {}).sort(), ["Distance", "GradNorm", "Loss"]);
  // One warning for the quantities the batch norm keeps from per-sample gradients (naming the
  // layers once), one for the curvature the batch norm cannot carry; none repeated at step 1.
  assert.deepEqual(warnings, [
    "gradscope: Alpha, GradHist1d, InnerTest, NormTest, OrthoTest, TICDiag, HessTrace, GradHist2d are skipped: per-sample gradients are not defined through batch norm in train mode (layers 0.main.1, 0.main.4, 0.shortcut.1)",
    'gradscope: HessMaxEV is skipped: a Hessian-vector product needs second-order rules, which op "batchnorm" does not have',
  ]);
  const events = store.events("skips").filter((e) => e.kind === "warning");
  assert.deepEqual(
    events.map((e) => e.message),
    warnings.map((w) => w.replace(/^gradscope: /, "")),
  );
  assert.ok(events.some((e) => e.step === 0 && e.message.startsWith("Alpha, GradHist1d, InnerTest, NormTest")));
  store.close();
  tracker.dispose();
  model.dispose();
});

test("a ResNet written in the YAML layer list builds through the config, and a bad field in a block names its file:line:col", () => {
  const folder = mkdtempSync(join(tmpdir(), "gradscope-zoo-"));
  const write = (name: string, block: string) => {
    const path = join(folder, name);
    writeFileSync(
      path,
      `model:
  init: { type: kaiming_normal, mode: fan_out, nonlinearity: relu }
  layers:
    - { type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false }
    - { type: batchnorm2d }
    - { type: relu }
    - type: residual
      main:
${block}
      shortcut: null
      post: [{ type: relu }]
      zero_init_last_bn: true
    - { type: global_avgpool2d }
    - { type: flatten }
    - { type: linear, out: 10 }
data: { source: fashion-mnist-sample }
training: { epochs: 1 }
optimizer: { name: sgd, lr: 0.1 }
`,
    );
    return path;
  };
  const good = write(
    "resnet.yaml",
    `        - { type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false }
        - { type: batchnorm2d }
        - { type: relu }
        - { type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false }
        - { type: batchnorm2d }`,
  );
  const loaded = loadConfig([good]);
  const { model } = buildTraining(loaded, buildData(loaded), folder);
  assert.deepEqual(
    model
      .namedParameters()
      .map(([name]) => name)
      .slice(3, 9),
    ["3.main.0.weight", "3.main.1.weight", "3.main.1.bias", "3.main.3.weight", "3.main.4.weight", "3.main.4.bias"],
  );
  assert.ok(
    new Map(model.namedParameters())
      .get("3.main.4.weight")
      ?.toArray()
      .every((v) => v === 0),
  );
  model.dispose();
  const bad = write("bad.yaml", "        - { type: conv2d, out_channels: 8, kernel_size: 3, padding: 1, init: xavier }");
  const badLoaded = loadConfig([bad]);
  assert.throws(() => buildTraining(badLoaded, buildData(badLoaded), folder), new RegExp(`${bad}:9:\\d+: model.layers\\[3\\].main\\[0\\].init: unknown weight init "xavier"`));
});

import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { goldenValues, readGolden, toTensor } from "../src/conformance/golden.ts";
import type { LayerCase } from "../src/conformance/layers.ts";
import { backward } from "../src/engine/autograd.ts";
import { parameter, tensor, zeros } from "../src/engine/creation.ts";
import { convGramBatchDot, convGramBatchL2, gramRouteCheaper } from "../src/engine/extensions/convClosedForms.ts";
import { backwardWithExtensions, type ExtensionRequest, type Histogram2dSpec, histogram1d, histogram2d } from "../src/engine/extensions/index.ts";
import { forEachConvWeightChunk, individualGradients } from "../src/engine/extensions/individualGradients.ts";
import { LayerContext } from "../src/engine/extensions/layerContext.ts";
import { RankOneLinear, symmetricFromLower } from "../src/engine/extensions/linearClosedForms.ts";
import { rankOneHistogram1d, rankOneHistogram2d, tensorHistogram1d, tensorHistogram2d } from "../src/engine/extensions/linearHistogram.ts";
import { batchDot, batchL2, type StatisticRules, sumGradSquared } from "../src/engine/extensions/statistics.ts";
import { type Conv2dOptions, type Conv2dRecord, conv2d, conv2dHyper } from "../src/engine/ops/conv2d.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean, sum } from "../src/engine/ops/reduce.ts";
import { slice } from "../src/engine/ops/shape.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import { liveTensorCount, type Tensor } from "../src/engine/tensor.ts";
import { buildModel } from "../src/nn/spec.ts";
import { assertClose, randomValues } from "./helpers.ts";

const spec = {
  layers: [
    { type: "conv2d", out_channels: 3, kernel_size: 3, padding: 1 },
    { type: "relu" },
    { type: "flatten" },
    { type: "linear", out: 6 },
    { type: "tanh" },
    { type: "linear", out: 4 },
  ],
};
const batch = 5;

// g_i by a literal loop: one forward/backward per sample, as Cockpit's self-check does.
function perSampleLoop(model: ReturnType<typeof buildModel>["model"], xs: number[], ys: number[]): number[][] {
  return ys.map((_, i) =>
    scope(() => {
      model.zeroGrad();
      const x = tensor(xs.slice(i * 36, (i + 1) * 36), [1, 1, 6, 6]);
      backward(mean(crossEntropy(model.forward(x), tensor([ys[i]], [1], "int32"))));
      return model.parameters().flatMap((p) => p.grad?.toArray() ?? []);
    }),
  );
}

test("batchL2, batchDot, meanProjections, sumGradSquared and projections equal the per-sample loop for a mean loss (g_i unscaled)", () => {
  const { model } = buildModel(spec, [1, 6, 6], 3);
  const xs = randomValues(batch * 36, 11);
  const ys = [0, 3, 1, 2, 3];
  const loop = perSampleLoop(model, xs, ys);
  const params = model.parameters();
  const offsets = params.map((_, k) => params.slice(0, k).reduce((s, p) => s + p.size, 0));
  scope(() => {
    model.zeroGrad();
    const directions = new Map(params.map((p, k) => [p, tensor(randomValues(p.size, 50 + k), p.shape)]));
    const loss = mean(crossEntropy(model.forward(tensor(xs, [batch, 1, 6, 6])), tensor(ys, [batch], "int32")));
    // Without materialized gradients, conv layers take the general path from their own copies.
    const alone = backwardWithExtensions(loss, { meanProjections: true });
    model.zeroGrad();
    // Without batchDot, conv weights' batchL2 is reduced from chunks of per-sample gradients and
    // sumGradSquared is summed one sample at a time.
    const reduced = backwardWithExtensions(loss, { batchL2: true, sumGradSquared: true });
    model.zeroGrad();
    const stats = backwardWithExtensions(loss, {
      batchL2: true,
      batchDot: true,
      meanProjections: true,
      batchMaxAbs: true,
      sumGradSquared: true,
      projections: directions,
      individualGradients: true,
    });
    params.forEach((p, k) => {
      const rows = loop.map((g) => g.slice(offsets[k], offsets[k] + p.size));
      const dot = (a: number[], b: ArrayLike<number>) => a.reduce((s, v, j) => s + v * b[j], 0);
      const s = stats.get(p);
      assert.ok(s, `statistics for ${p.name}`);
      assertClose(
        s.batchL2 ?? [],
        rows.map((r) => dot(r, r)),
        1e-4,
        1e-7,
        `batchL2 ${k}`,
      );
      assertClose(
        s.batchDot ?? [],
        rows.flatMap((a) => rows.map((b) => dot(a, b))),
        1e-4,
        1e-7,
        `batchDot ${k}`,
      );
      assertClose([s.batchMaxAbs ?? Number.NaN], [Math.max(...rows.flat().map(Math.abs))], 1e-6, 0, `batchMaxAbs ${k}`);
      const meanGradient = Array.from({ length: p.size }, (_, j) => rows.reduce((t, r) => t + r[j], 0) / batch);
      for (const [what, values] of [
        ["meanProjections", s.meanProjections],
        ["meanProjections alone", alone.get(p)?.meanProjections],
      ] as const) {
        assertClose(
          values ?? [],
          rows.map((r) => dot(r, meanGradient)),
          1e-4,
          1e-7,
          `${what} ${k}`,
        );
      }
      for (const [what, values] of [
        ["sumGradSquared", s.sumGradSquared?.data],
        ["sumGradSquared without materializing", reduced.get(p)?.sumGradSquared?.data],
      ] as const) {
        assertClose(
          values ?? [],
          Array.from({ length: p.size }, (_, j) => rows.reduce((t, r) => t + r[j] * r[j], 0)),
          1e-4,
          1e-8,
          `${what} ${k}`,
        );
      }
      assertClose(
        reduced.get(p)?.batchL2 ?? [],
        rows.map((r) => dot(r, r)),
        1e-4,
        1e-7,
        `batchL2 without materializing ${k}`,
      );
      assertClose(
        s.projections ?? [],
        rows.map((r) => dot(r, (directions.get(p) as { data: Float32Array }).data)),
        1e-4,
        1e-6,
        `projections ${k}`,
      );
      assertClose(s.individualGradients?.data ?? [], rows.flat(), 1e-4, 1e-6, `individualGradients ${k}`);
      // The batch gradient is the mean of the per-sample gradients.
      assertClose(
        p.grad?.data ?? [],
        Array.from({ length: p.size }, (_, j) => rows.reduce((t, r) => t + r[j], 0) / batch),
        1e-4,
        1e-7,
        `grad ${k}`,
      );
    });
  });
  model.dispose();
});

test("projections, immediate and deferred past the step, equal the per-sample loop for every layer kind", () => {
  // Embedding, LayerNorm and a Linear with a middle axis on token sequences, a BatchNorm in eval
  // mode; the conv model above covers Conv2d.
  const sequenceSpec = {
    layers: [
      { type: "embedding", num_embeddings: 7, embedding_dim: 4, padding_idx: 0 },
      { type: "layernorm" },
      { type: "linear", out: 5 },
      { type: "tanh" },
      { type: "flatten" },
      { type: "batchnorm1d" },
      { type: "linear", out: 3 },
    ],
  };
  const length = 3;
  const { model } = buildModel(sequenceSpec, [length], 4);
  model.eval();
  const tokens = [1, 0, 3, 6, 2, 2, 5, 1, 0, 4, 4, 6, 3, 0, 0];
  const ys = [0, 2, 1, 2, 0];
  const forward = (first: number, count: number) => model.forward(tensor(tokens.slice(first * length, (first + count) * length), [count, length], "int32"));
  const loop = ys.map((y, i) =>
    scope(() => {
      model.zeroGrad();
      backward(mean(crossEntropy(forward(i, 1), tensor([y], [1], "int32"))));
      return model.parameters().map((p) => p.grad?.toArray() ?? []);
    }),
  );
  const params = model.parameters();
  const directions = params.map((p, k) => randomValues(p.size, 70 + k));
  const dot = (a: number[], b: ArrayLike<number>) => a.reduce((t, v, j) => t + v * b[j], 0);
  const { immediate, deferred } = scope(() => {
    model.zeroGrad();
    const loss = mean(crossEntropy(forward(0, ys.length), tensor(ys, [ys.length], "int32")));
    const request = { projections: new Map(params.map((p, k) => [p, tensor(directions[k], p.shape)])), deferredProjections: true };
    const stats = backwardWithExtensions(loss, request);
    return { immediate: params.map((p) => stats.get(p)?.projections), deferred: params.map((p) => stats.get(p)?.deferredProjection) };
  });
  const live = liveTensorCount();
  params.forEach((p, k) => {
    const expected = loop.map((g) => dot(g[k], directions[k]));
    assertClose(immediate[k] ?? [], expected, 1e-4, 1e-6, `projections of ${p.name}`);
    // The step's tensors are gone; the deferred projection works from its own copies.
    const direction = tensor(directions[k], p.shape);
    assertClose(deferred[k]?.project(direction) ?? [], expected, 1e-4, 1e-6, `deferred projections of ${p.name}`);
    direction.dispose();
  });
  assert.equal(liveTensorCount(), live, "projecting later leaves no tensor behind");
  model.dispose();
});

test("nothing is computed when nothing is requested, and a loss that is not a batch mean needs an explicit scale", () => {
  const { model } = buildModel(spec, [1, 6, 6], 3);
  scope(() => {
    const out = model.forward(tensor(randomValues(batch * 36, 2), [batch, 1, 6, 6]));
    const losses = crossEntropy(out, tensor([0, 1, 2, 3, 0], [batch], "int32"));
    assert.equal(backwardWithExtensions(mean(losses), {}).size, 0);
    const partial = mean(slice(losses, [0], [2]));
    assert.throws(() => backwardWithExtensions(sum(losses), { batchL2: true }), /need the loss as the mean of a per-sample loss vector/);
    assert.equal(backwardWithExtensions(partial, { batchL2: true }).get(model.parameters()[0])?.batchL2?.length, batch);
  });
  model.dispose();
});

test("batch norm in train mode refuses per-sample statistics, naming the reason", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 4 }, { type: "batchnorm1d" }, { type: "linear", out: 2 }] }, [3], 1);
  scope(() => {
    const loss = mean(crossEntropy(model.forward(tensor(randomValues(12, 1), [4, 3])), tensor([0, 1, 0, 1], [4], "int32")));
    assert.throws(() => backwardWithExtensions(loss, { batchL2: true }), /batch norm in train mode/);
  });
  model.dispose();
});

test("symmetricFromLower mirrors the products of two lower triangles, tiles and the ragged edge alike", () => {
  const n = 11; // two whole 4×4 tile rows, then three rows past them
  scope(() => {
    const first = tensor(randomValues(n * n, 41), [n, n]);
    const second = tensor(randomValues(n * n, 42), [n, n]);
    for (const other of [second, null]) {
      const full = symmetricFromLower(first, other, 0.3);
      for (let i = 0; i < n; i++) {
        for (let j = 0; j <= i; j++) {
          const expected = 0.3 * first.data[i * n + j] * (other ? other.data[i * n + j] : 1);
          assert.equal(full[i * n + j], expected, `(${i}, ${j})`);
          assert.equal(full[j * n + i], expected, `(${j}, ${i})`);
        }
      }
    }
  });
});

test("hist1d follows torch.histc: clamping into the end bins, v == hi in the last bin, float32 arithmetic", () => {
  const counts = histogram1d(new Float32Array([-5, -1, -0.5, 0, 0.49, 0.5, 1, 7, -1e-9]), { bins: 4, range: [-1, 1] });
  // −5,−1 → 0; −0.5 → 1; 0, 0.49, −1e-9 (1 − 1e-9 rounds to 1 in float32) → 2; 0.5, 1, 7 → 3
  assert.deepEqual([...counts], [2, 1, 3, 3]);
  assert.equal(
    counts.reduce((a, b) => a + b, 0),
    9,
  );
});

test("hist2d follows Cockpit: values clamp to the centres of the extreme bins and each gradient row pairs with θ", () => {
  const gradients = new Float32Array([-9, 0.1, 9, 0.6]); // N = 2 samples of a 2-element parameter
  const parameters = new Float32Array([-0.9, 5]);
  const counts = histogram2d(gradients, parameters, {
    bins: [2, 2],
    range: [
      [-1, 1],
      [-1, 1],
    ],
  });
  // hist[ix][iy]: (−9→x bin 0, θ −0.9→y bin 0), (0.1→1, 5→1), (9→1, −0.9→0), (0.6→1, 5→1)
  assert.deepEqual([...counts], [1, 0, 1, 2]);
});

test("hist1d of Linear layers, counted from δ and a, equals binning the materialized per-sample gradients exactly", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 9 }, { type: "relu" }, { type: "linear", out: 3 }] }, [7], 5);
  const rows = 6; // not a power of two, so s·δ·a rounds
  const xs = randomValues(rows * 7, 21).map((v, i) => (i % 5 === 0 ? 0 : 3 * v));
  const ranges: Array<{ bins: number; range: [number, number] }> = [
    { bins: 20, range: [-1, 1] },
    { bins: 7, range: [-0.05, 0.05] }, // narrow: most rows straddle several edges
    { bins: 5, range: [0.01, 0.3] }, // asymmetric: 0 clamps into the first bin
  ];
  for (const spec of ranges) {
    scope(() => {
      const loss = mean(crossEntropy(model.forward(tensor(xs, [rows, 7])), tensor([0, 2, 1, 1, 0, 2], [rows], "int32")));
      const stats = backwardWithExtensions(loss, { hist1d: spec, individualGradients: true });
      for (const p of model.parameters()) {
        const s = stats.get(p);
        const expected = histogram1d(s?.individualGradients?.data ?? new Float32Array(), spec);
        assert.deepEqual([...(s?.hist1d ?? [])], [...expected], `${p.name} with ${spec.bins} bins on ${spec.range}`);
        assert.equal(
          expected.reduce((a, b) => a + b, 0),
          p.size * rows,
        );
      }
      model.zeroGrad();
    });
  }
  model.dispose();
});

test("hist2d in WASM, rank-one from δ and a or from materialized gradients, equals the TypeScript reference exactly", () => {
  const specs: Histogram2dSpec[] = [
    {
      bins: [20, 20],
      range: [
        [-1, 1],
        [-2, 2],
      ],
    },
    {
      bins: [7, 5],
      range: [
        [-0.05, 0.05],
        [-0.3, 0.1],
      ],
    }, // narrow: most values clamp or straddle edges
  ];
  const { model } = buildModel(spec, [1, 6, 6], 3);
  const xs = randomValues(batch * 36, 12);
  for (const histogramSpec of specs) {
    scope(() => {
      const loss = mean(crossEntropy(model.forward(tensor(xs, [batch, 1, 6, 6])), tensor([0, 3, 1, 2, 3], [batch], "int32")));
      const stats = backwardWithExtensions(loss, { hist2d: histogramSpec, individualGradients: true });
      for (const p of model.parameters()) {
        const s = stats.get(p);
        const expected = histogram2d(s?.individualGradients?.data ?? new Float32Array(), p.data, histogramSpec);
        assert.deepEqual([...(s?.hist2d ?? [])], [...expected], `${p.name} with ${histogramSpec.bins} bins`);
        assert.equal(
          expected.reduce((a, b) => a + b, 0),
          p.size * batch,
        );
      }
      model.zeroGrad();
    });
  }
  model.dispose();
  scope(() => {
    // Odd lengths for the scalar tails, a NaN and infinities among the products of sample 0;
    // zero output gradients (whole rows of zeros) with finite activations in sample 1, also
    // against an x range without 0, where the zeros clamp into the first bin.
    const delta = tensor([0.5, -2, Number.POSITIVE_INFINITY, 0, 1, 3, 0.25, 0, 1.5, 0, -0, 2, 0, -1], [2, 7]);
    const activations = tensor([1, Number.NaN, -1, 0, 0.5, 2, 1, 0, 3, 0.25, -1, 2, 0, 1, 1.5, -2, 0.5, 1], [2, 9]);
    const weight = tensor(randomValues(63, 13), [7, 9]);
    const f = Math.fround;
    const products = Float32Array.from({ length: 126 }, (_, k) => {
      const [i, o, j] = [Math.floor(k / 63), Math.floor(k / 9) % 7, k % 9];
      return f(3 * f(delta.data[i * 7 + o] * activations.data[i * 9 + j]));
    });
    for (const xRange of [
      [-3, 3],
      [1.5, 4],
    ] as const) {
      const histogramSpec: Histogram2dSpec = { bins: [6, 4], range: [[...xRange], [-1, 1]] };
      const expected = [...histogram2d(products, weight.data, histogramSpec)];
      assert.deepEqual([...rankOneHistogram2d(new RankOneLinear(delta, activations, 3), "weight", weight, histogramSpec)], expected, `x range ${xRange}`);
      assert.deepEqual([...tensorHistogram2d(tensor(products, [2, 7, 9]), weight, histogramSpec)], expected, `x range ${xRange}`);
      assert.ok(expected.reduce((a, b) => a + b, 0) < 126, "NaN products are not counted");
    }
  });
});

test("the rank-one hist1d equals binning every product, for either sign of the scale and for products that underflow", () => {
  const f = Math.fround;
  const [batch, outFeatures, inFeatures] = [5, 50, 37];
  // Long rows and columns (SIMD loops and tails), zero rows and zero columns, both signs.
  const delta = randomValues(batch * outFeatures, 31).map((v, i) => (i % 3 === 0 ? 0 : v));
  const activations = randomValues(batch * inFeatures, 32).map((v, i) => (i % 4 === 0 ? 0 : v));
  const cases: Array<{ scale: number; deltaMagnitude: number; spec: { bins: number; range: [number, number] } }> = [
    { scale: 1 / 128, deltaMagnitude: 1, spec: { bins: 20, range: [-1, 1] } }, // many rows straddle the edge just below 0
    { scale: -0.37, deltaMagnitude: 1, spec: { bins: 9, range: [-0.2, 0.3] } }, // falling products, several edges per row
    // δ·a subnormal: the product stays flat over many ulps of a.
    { scale: 3, deltaMagnitude: 1e-43, spec: { bins: 8, range: [-1e-42, 1e-42] } },
  ];
  for (const { scale, deltaMagnitude, spec } of cases) {
    scope(() => {
      const d = tensor(
        delta.map((v) => v * deltaMagnitude),
        [batch, outFeatures],
      );
      const a = tensor(activations, [batch, inFeatures]);
      const products: number[] = [];
      for (let i = 0; i < batch; i++) {
        for (let o = 0; o < outFeatures; o++) for (let j = 0; j < inFeatures; j++) products.push(f(f(scale) * f(d.data[i * outFeatures + o] * a.data[i * inFeatures + j])));
      }
      const expected = [...histogram1d(new Float32Array(products), spec)];
      assert.ok(expected.filter((count) => count > 0).length >= 2, `products spread over bins for scale ${scale}`);
      assert.deepEqual([...rankOneHistogram1d(new RankOneLinear(d, a, scale), "weight", spec)], expected, `scale ${scale}, range ${spec.range}`);
      // Swapped roles put the longer vector in the other place.
      assert.deepEqual([...rankOneHistogram1d(new RankOneLinear(a, d, scale), "weight", spec)], expected, `scale ${scale}, roles swapped`);
    });
  }
});

test("the rank-one hist1d skips NaN products and bins infinities like torch.histc", () => {
  scope(() => {
    const delta = tensor([0.5, -2, Number.POSITIVE_INFINITY, 0, 1, 3, 0.25, -0.125, 0, 1, 2, 3, 4, 5, 6, 7, -1, -2], [2, 9]);
    const activations = tensor([1, Number.NaN, -1, 0, 0.5, 2, 1, 0], [2, 4]);
    const spec = { bins: 6, range: [-3, 3] as [number, number] };
    const counts = rankOneHistogram1d(new RankOneLinear(delta, activations, 3), "weight", spec);
    const f = Math.fround;
    const products: number[] = [];
    for (let i = 0; i < 2; i++) {
      for (let o = 0; o < 9; o++) for (let j = 0; j < 4; j++) products.push(f(3 * f(delta.data[i * 9 + o] * activations.data[i * 4 + j])));
    }
    assert.deepEqual([...counts], [...histogram1d(new Float32Array(products), spec)]);
    assert.ok(counts.reduce((a, b) => a + b, 0) < products.length, "NaN products are not counted");
    assert.deepEqual([...tensorHistogram1d(tensor(products, [products.length]), spec)], [...histogram1d(new Float32Array(products), spec)]);
  });
});

// The conv2d rules of the statistic table, against per-sample gradients given as rows [N][D].
interface ConvStatistics {
  batchL2: ArrayLike<number>;
  batchDot: ArrayLike<number>;
  sumGradSquared: ArrayLike<number>;
}

function statisticsOfRows(rows: number[][]): ConvStatistics {
  const dot = (a: number[], b: number[]) => a.reduce((s, v, j) => s + v * b[j], 0);
  return {
    batchL2: rows.map((r) => dot(r, r)),
    batchDot: rows.flatMap((a) => rows.map((b) => dot(a, b))),
    sumGradSquared: rows[0].map((_, j) => rows.reduce((s, r) => s + r[j] * r[j], 0)),
  };
}

const rowsOf = (values: ArrayLike<number>, batch: number): number[][] => {
  const size = values.length / batch;
  return Array.from({ length: batch }, (_, i) => Array.from(values).slice(i * size, (i + 1) * size));
};

// Weight: the Gram routes (forced, whatever the cost model picks) and the chunked pass's
// sumGradSquared; bias: the table's conv2d closed forms.
function convClosedForms(layer: Conv2dRecord, gradOut: Tensor, scale: number, role: "weight" | "bias"): ConvStatistics {
  const context = new LayerContext(layer, gradOut, scale, { batchL2: true, sumGradSquared: true });
  const parameter = (role === "weight" ? layer.weight : layer.bias) as Tensor;
  const viaTable = <T>(rules: StatisticRules<T>): T => (rules.closedForms.conv2d?.(layer, context, role, parameter) as T) ?? assert.fail(`no conv2d ${role} rule`);
  const squares = viaTable(sumGradSquared);
  const result = {
    batchL2: role === "weight" ? convGramBatchL2(layer, gradOut, scale) : viaTable(batchL2),
    batchDot: role === "weight" ? convGramBatchDot(layer, gradOut, scale) : viaTable(batchDot),
    sumGradSquared: squares.toArray(),
  };
  squares.dispose();
  context.dispose();
  return result;
}

function assertStatisticsClose(actual: ConvStatistics, expected: ConvStatistics, what: string): void {
  // float32 Grams against float64 sums: relative to the largest entry of each statistic.
  for (const key of ["batchL2", "batchDot", "sumGradSquared"] as const) {
    const largest = Math.max(...Array.from(expected[key], Math.abs));
    assertClose(actual[key], expected[key], 1e-4, 1e-5 * largest, `${what} ${key}`);
  }
}

const convGeometries: Array<{ name: string; input: number[]; weight: number[]; options: Conv2dOptions; bias: boolean }> = [
  { name: "plain 3x3", input: [4, 2, 7, 7], weight: [3, 2, 3, 3], options: {}, bias: true },
  { name: "stride 2, padding 1", input: [4, 2, 7, 7], weight: [3, 2, 3, 3], options: { stride: 2, padding: 1 }, bias: true },
  { name: "dilation 2", input: [4, 2, 8, 8], weight: [3, 2, 3, 3], options: { dilation: 2 }, bias: true },
  { name: "groups 2", input: [4, 4, 6, 6], weight: [6, 2, 3, 3], options: { groups: 2, padding: 1 }, bias: true },
  { name: "depthwise", input: [3, 4, 5, 5], weight: [4, 1, 3, 3], options: { groups: 4 }, bias: true },
  { name: "no bias", input: [4, 2, 6, 6], weight: [3, 2, 3, 3], options: {}, bias: false },
  { name: "mixed 2x3", input: [3, 3, 7, 6], weight: [4, 3, 2, 3], options: { stride: [2, 1], padding: [1, 2], dilation: [1, 2] }, bias: true },
  { name: "1x1 output", input: [5, 8, 3, 3], weight: [16, 8, 3, 3], options: {}, bias: true },
];

test("conv2d's Gram batchL2/batchDot and its per-sample sumGradSquared equal the materialized per-sample gradients on every geometry, dense or sparse", () => {
  for (const [k, g] of convGeometries.entries()) {
    for (const zeroFraction of [0, 0.8]) {
      const live = liveTensorCount();
      scope(() => {
        const x = tensor(
          randomValues(
            g.input.reduce((a, b) => a * b),
            10 + k,
          ),
          g.input,
        );
        const weight = parameter(
          randomValues(
            g.weight.reduce((a, b) => a * b),
            20 + k,
          ),
          g.weight,
          "weight",
        );
        const bias = g.bias ? parameter(randomValues(g.weight[0], 30 + k), [g.weight[0]], "bias") : null;
        const out = conv2d(x, weight, bias, g.options);
        const layer = out.node?.layer;
        assert.ok(layer?.kind === "conv2d");
        const random = new Random(40 + k);
        // Output gradients as sparse as ReLU and max-pooling leave them take the sparse kernels.
        const gradOut = tensor(
          randomValues(out.size, 50 + k).map((v) => (random.uniform() < zeroFraction ? 0 : v)),
          out.shape,
        );
        const scale = 2.5;
        for (const { parameter: p, gradients } of individualGradients(layer, gradOut, scale)) {
          const role = p === weight ? "weight" : "bias";
          const what = `${g.name}, ${zeroFraction} zeros, ${role}`;
          assertStatisticsClose(convClosedForms(layer, gradOut, scale, role), statisticsOfRows(rowsOf(gradients.data, g.input[0])), what);
          if (role === "weight") {
            const context = new LayerContext(layer, gradOut, scale, { batchL2: true });
            const expected = statisticsOfRows(rowsOf(gradients.data, g.input[0]));
            const chunkedBatchL2 = context.convWeightReductions(layer).batchL2 ?? [];
            assertClose(chunkedBatchL2, expected.batchL2, 1e-4, 1e-5 * Math.max(...Array.from(expected.batchL2)), `${what}, batchL2 of the chunked pass`);
            context.dispose();
            // Chunks of two samples, the last one short where N is odd.
            const chunked: number[] = [];
            forEachConvWeightChunk(layer, gradOut, scale, (first, chunk) => chunked.splice(first * weight.size, chunk.size, ...chunk.data), 2 * weight.size);
            assertClose(chunked, gradients.data, 1e-6, 1e-7, `${what}, chunked`);
          }
        }
      });
      assert.equal(liveTensorCount(), live, `${g.name}: tensors freed`);
    }
  }
});

test("conv2d's closed forms reproduce layers.json's per-sample statistics (golden data)", () => {
  const golden = readGolden<LayerCase>(fileURLToPath(new URL("../reference/layers.json", import.meta.url)));
  const cases = golden.cases.filter((c) => c.op === "conv2d" && c.per_sample_grad_params);
  assert.ok(cases.length >= 5, "the conv2d cases of layers.json");
  for (const c of cases) {
    scope(() => {
      const h = c.hyper as Record<string, never>;
      const params = Object.fromEntries(Object.entries(c.params).map(([name, value]) => [name, parameter(goldenValues(value), value.shape, name)]));
      const out = conv2d(toTensor(c.input), params.weight, params.bias ?? null, { stride: h.stride, padding: h.padding, dilation: h.dilation, groups: h.groups });
      const layer = out.node?.layer;
      assert.ok(layer?.kind === "conv2d");
      for (const [name, perSample] of Object.entries(c.per_sample_grad_params ?? {})) {
        const role = name === "weight" ? "weight" : "bias";
        const expected = statisticsOfRows(rowsOf(goldenValues(perSample), perSample.shape[0]));
        assertStatisticsClose(convClosedForms(layer, toTensor(c.grad_output), 1, role), expected, `${c.name} ${name}`);
      }
    });
  }
});

test("the cost model keeps fmnist_2c2d's convs on the materialized route and sends small output planes to the Gram route", () => {
  const hyper = (input: number[], weight: number[], padding: number) => scope(() => conv2dHyper(zeros(input), zeros(weight), { padding }));
  // fmnist_2c2d at batch 128: P = 784 and 196 output positions against K·out = 800 and 51200.
  for (const h of [hyper([128, 1, 28, 28], [32, 1, 5, 5], 2), hyper([128, 32, 14, 14], [64, 32, 5, 5], 2)]) {
    assert.equal(gramRouteCheaper(h, "batchL2"), false);
    assert.equal(gramRouteCheaper(h, "batchDot"), false);
  }
  // A ResNet's last stage (7×7 planes, 256 channels): batchL2 by Grams, batchDot materialized.
  const late = hyper([128, 256, 7, 7], [256, 256, 3, 3], 1);
  assert.equal(gramRouteCheaper(late, "batchL2"), true);
  assert.equal(gramRouteCheaper(late, "batchDot"), false);
  // 8×8 planes of 64 channels: by Grams, unless the output gradient is mostly zero, which
  // makes materializing cheaper.
  const middle = hyper([128, 64, 10, 10], [64, 64, 3, 3], 0);
  assert.equal(gramRouteCheaper(middle, "batchL2", false), true);
  assert.equal(gramRouteCheaper(middle, "batchL2", true), false);
  // A 1×1 output: both by Grams.
  const point = hyper([128, 64, 3, 3], [128, 64, 3, 3], 0);
  assert.equal(gramRouteCheaper(point, "batchL2"), true);
  assert.equal(gramRouteCheaper(point, "batchDot"), true);
});

test("backwardWithExtensions takes conv2d's Gram route where it is cheaper, with the materialized route's values and no tensor left behind", () => {
  const pointSpec = { layers: [{ type: "conv2d", out_channels: 16, kernel_size: 3 }, { type: "relu" }, { type: "flatten" }, { type: "linear", out: 3 }] };
  const { model } = buildModel(pointSpec, [8, 3, 3], 5);
  const n = 6;
  const xs = randomValues(n * 72, 61);
  const ys = [0, 1, 2, 2, 1, 0];
  const run = (request: ExtensionRequest) =>
    scope(() => {
      model.zeroGrad();
      const loss = mean(crossEntropy(model.forward(tensor(xs, [n, 8, 3, 3])), tensor(ys, [n], "int32")));
      let conv: Conv2dRecord | undefined;
      const stats = backwardWithExtensions(loss, request);
      for (let node = loss.node; node && !conv; node = node.inputs[0]?.node ?? null) if (node.layer?.kind === "conv2d") conv = node.layer;
      assert.ok(conv && gramRouteCheaper(conv.hyper, "batchL2") && gramRouteCheaper(conv.hyper, "batchDot"), "the Gram route is the cheaper one here");
      const values = model.parameters().map((p) => {
        const s = stats.get(p);
        const squares = s?.sumGradSquared?.toArray() ?? [];
        s?.sumGradSquared?.dispose();
        s?.individualGradients?.dispose();
        return { batchL2: s?.batchL2 ?? [], batchDot: s?.batchDot ?? [], sumGradSquared: squares };
      });
      return values;
    });
  const closedRequest = { batchL2: true, batchDot: true, sumGradSquared: true };
  run(closedRequest);
  // Counted after the parameters' .grad exist.
  const live = liveTensorCount();
  const closed = run(closedRequest);
  assert.equal(liveTensorCount(), live);
  // Asking for the individual gradients materializes them, and every statistic reduces them.
  const materialized = run({ batchL2: true, batchDot: true, sumGradSquared: true, individualGradients: true });
  for (const [k, expected] of materialized.entries()) assertStatisticsClose(closed[k], expected, `parameter ${k}`);
  assert.equal(liveTensorCount(), live);
  model.dispose();
});

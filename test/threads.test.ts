import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { cnnSpec } from "../bench/workloads.ts";
import { main } from "../src/cli/main.ts";
import { buildData, buildTraining, type TrainingSetup } from "../src/config/build.ts";
import { loadConfig } from "../src/config/load.ts";
import { backward, noGrad } from "../src/engine/autograd.ts";
import { setBackend } from "../src/engine/backend.ts";
import { ones, parameter, tensor, zeros } from "../src/engine/creation.ts";
import { gramRouteCheaper } from "../src/engine/extensions/convClosedForms.ts";
import { ConvColumnSquares } from "../src/engine/extensions/convCurvature.ts";
import { histogram1d } from "../src/engine/extensions/histograms.ts";
import { backwardWithExtensions } from "../src/engine/extensions/index.ts";
import { RankOneLinear } from "../src/engine/extensions/linearClosedForms.ts";
import { rankOneHistogram1d, rankOneHistogram2d, tensorHistogram1d, tensorHistogram2d } from "../src/engine/extensions/linearHistogram.ts";
import { MIN_CHANNEL_ELEMENTS_PER_THREAD } from "../src/engine/kernels/channels.ts";
import { MIN_ELEMENTWISE_PER_THREAD, MIN_UPDATE_ELEMENTS_PER_THREAD } from "../src/engine/kernels/elementwise.ts";
import { type GemmArgs, gemm, gemmRowsOfB, gramLower, MIN_GEMM_WORK_PER_THREAD, startGramLower } from "../src/engine/kernels/gemm.ts";
import { dotProduct, elementSum, MIN_REDUCTION_PER_THREAD, quotientSum, rowDots, squaredDistance, squaredNorm } from "../src/engine/kernels/reductions.ts";
import { engineMemory } from "../src/engine/memory.ts";
import { batchNorm } from "../src/engine/ops/batchnorm.ts";
import { add, div, mul, sub } from "../src/engine/ops/binary.ts";
import { type Conv2dOptions, type Conv2dRecord, conv2d, conv2dHyper, isMostlyZero } from "../src/engine/ops/conv2d.ts";
import { perSampleWeightGradients } from "../src/engine/ops/convSamples.ts";
import { layerNorm } from "../src/engine/ops/layernorm.ts";
import { linear } from "../src/engine/ops/linear.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { avgPool2d, maxPool2d, maxPool2dRelu } from "../src/engine/ops/pool.ts";
import { mean, sum } from "../src/engine/ops/reduce.ts";
import { reshape } from "../src/engine/ops/shape.ts";
import { exp, leakyRelu, relu, sigmoid, sqrt, tanh } from "../src/engine/ops/unary.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import { sizeOf } from "../src/engine/shapes.ts";
import { liveTensorCount, Tensor } from "../src/engine/tensor.ts";
import { partsFor, splitRange } from "../src/engine/threads/partition.ts";
import { type BackgroundCall, ThreadPool } from "../src/engine/threads/pool.ts";
import { awaitAllBackground, awaitBackground, setThreads, threadCount } from "../src/engine/threads/settings.ts";
import { buildModel } from "../src/nn/spec.ts";
import { createOptimizer, optimizerNames } from "../src/optim/registry.ts";
import { SGD } from "../src/optim/sgd.ts";
import { captureCheckpoint, loadCheckpoint, restoreCheckpoint, saveCheckpoint } from "../src/train/checkpoint.ts";
import { randomValues } from "./helpers.ts";

// These are the WASM kernels' tests (and the WASM pool's): with the native addon built, `auto`
// would send the products to the BLAS, which test/native.test.ts covers.
setBackend("wasm");

const threadCounts = [1, 2, 4];

// The bytes `compute` leaves in `out` at each thread count.
function bytesAtEachThreadCount(out: Tensor, compute: () => void): Buffer[] {
  const before = threadCount();
  try {
    return threadCounts.map((threads) => {
      setThreads(threads);
      out.data.fill(Number.NaN);
      compute();
      return Buffer.from(out.data.slice().buffer);
    });
  } finally {
    setThreads(before);
  }
}

function assertSameBytes(results: Buffer[], what: string): void {
  for (const [i, bytes] of results.entries()) assert.ok(bytes.equals(results[0]), `${what}: ${threadCounts[i]} threads differ from 1 thread`);
}

// Every shape is big enough to be split over four threads, and none is a whole number of
// register tiles, so parts end inside a tile row or column at the product's edges.
const shapes: Array<[number, number, number]> = [
  [133, 61, 517],
  [67, 203, 301],
  [9, 700, 333],
  [301, 13, 700],
  [31, 33, 4100], // C of 1023 entries over a long K: the dot-product path
  [7, 5, 70001], // the dot path with fewer 2x4 tiles than threads
];

test("GEMM is bit-identical at 1, 2 and 4 threads for every transpose, alpha and beta, on both paths", () => {
  for (const [m, n, k] of shapes) {
    assert.ok(partsFor(m * n * k, MIN_GEMM_WORK_PER_THREAD) > 1 || threadCount() === 1, `${m}x${n}x${k} is split`);
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        scope(() => {
          const a = tensor(randomValues(m * k, m), transA ? [k, m] : [m, k]);
          const b = tensor(randomValues(k * n, n), transB ? [n, k] : [k, n]);
          const c0 = randomValues(m * n, k);
          const c = new Tensor([m, n]);
          for (const [alpha, beta] of [
            [1, 0],
            [0.5, 1.5],
          ]) {
            const args: GemmArgs = { transA, transB, m, n, k, alpha, a: a.ptr, lda: a.shape[1], b: b.ptr, ldb: b.shape[1], beta, c: c.ptr, ldc: n };
            const results = bytesAtEachThreadCount(c, () => {
              c.data.set(c0);
              gemm(args);
            });
            assert.ok(!Number.isNaN(c.data[m * n - 1]), "the last entry is written");
            assertSameBytes(results, `gemm ${m}x${n}x${k} transA=${transA} transB=${transB} alpha=${alpha} beta=${beta}`);
          }
          c.dispose();
        });
      }
    }
  }
});

test("the gathered-rows GEMM and the Gram lower triangle are bit-identical at 1, 2 and 4 threads", () => {
  scope(() => {
    const [m, n, k] = [133, 203, 301];
    const b = tensor(randomValues(2 * k * n, 1), [2 * k, n]);
    const rows = tensor(
      Array.from({ length: k }, (_, i) => (i * 7 + 3) % (2 * k)),
      [k],
      "int32",
    );
    const a = tensor(randomValues(m * k, 2), [m, k]);
    const c = new Tensor([m, n]);
    const c0 = randomValues(m * n, 3);
    const gathered = bytesAtEachThreadCount(c, () => {
      c.data.set(c0);
      gemmRowsOfB({ m, n, k, alpha: 0.5, a: a.ptr, lda: k, b: b.ptr, ldb: n, rowsOfB: rows.ptr, beta: 1.5, c: c.ptr, ldc: n });
    });
    assertSameBytes(gathered, "gemmRowsOfB");

    const [gramRows, length] = [93, 1001];
    const x = tensor(randomValues(gramRows * length, 4), [gramRows, length]);
    const g = new Tensor([gramRows, gramRows]);
    const lower = (bytes: Buffer) => {
      const values = new Float32Array(bytes.buffer, bytes.byteOffset, gramRows * gramRows);
      return Buffer.from(
        Float32Array.from({ length: (gramRows * (gramRows + 1)) / 2 }, (_, index) => {
          const i = Math.floor((Math.sqrt(8 * index + 1) - 1) / 2);
          return values[i * gramRows + (index - (i * (i + 1)) / 2)];
        }).buffer,
      );
    };
    const grams = bytesAtEachThreadCount(g, () => gramLower(x.ptr, gramRows, length, g.ptr)).map(lower);
    assert.ok(!new Float32Array(grams[0].buffer).some(Number.isNaN), "every entry of the lower triangle is written");
    assertSameBytes(grams, "gramLower");

    c.dispose();
    g.dispose();
  });
});

test("every optimizer's update is bit-identical at 1, 2 and 4 threads", () => {
  const size = 3 * MIN_UPDATE_ELEMENTS_PER_THREAD + 37; // four parts, the last ending in a scalar tail
  for (const name of optimizerNames) {
    const results = threadCounts.map((threads) => {
      const before = threadCount();
      setThreads(threads);
      const param = parameter(randomValues(size, 11), [size]);
      const options = name === "sgd" || name === "lars" ? { lr: 0.01, momentum: 0.9, weight_decay: 0.01 } : { lr: 0.01, weight_decay: 0.01 };
      const optimizer = createOptimizer(name, [param], options);
      for (let step = 0; step < 3; step++) {
        param.grad = tensor(randomValues(size, 12 + step), [size]).keep();
        optimizer.step();
        param.grad.dispose();
      }
      const bytes = Buffer.from(param.data.slice().buffer);
      optimizer.dispose();
      param.dispose();
      setThreads(before);
      return bytes;
    });
    assertSameBytes(results, name);
  }
});

test("batch norm and layer norm, forward and backward, are bit-identical at 1, 2 and 4 threads", () => {
  // Four threads' worth of elements; 30 channels and 3 rows leave ranges that are not multiples
  // of four, and the [N, C] batch norm and the layer norm's affine take the inner-1 form.
  const cases: Array<{ shape: number[]; normalize: (x: Tensor, weight: Tensor, bias: Tensor) => Tensor; parameters: number }> = [
    { shape: [40, 30, 15, 15], normalize: (x, w, b) => batchNorm(x, w, b, zeros([30]), ones([30]), { training: true }), parameters: 30 },
    { shape: [8192, 34], normalize: (x, w, b) => batchNorm(x, w, b, zeros([34]), ones([34]), { training: true }), parameters: 34 },
    { shape: [3, 99, 1001], normalize: (x, w, b) => layerNorm(x, [1001], w, b), parameters: 1001 },
  ];
  for (const { shape, normalize, parameters } of cases) {
    const size = shape.reduce((a, b) => a * b, 1);
    assert.ok(size >= 4 * MIN_CHANNEL_ELEMENTS_PER_THREAD, `${shape} is split four ways`);
    const results = threadCounts.map((threads) => {
      const before = threadCount();
      setThreads(threads);
      const bytes = scope(() => {
        const x = parameter(randomValues(size, 21), shape);
        const weight = parameter(randomValues(parameters, 22), [parameters]);
        const bias = parameter(randomValues(parameters, 23), [parameters]);
        const y = normalize(x, weight, bias);
        backward(sum(mul(y, tensor(randomValues(size, 24), shape))));
        return Buffer.concat([y, x.grad as Tensor, weight.grad as Tensor, bias.grad as Tensor].map((t) => Buffer.from(t.data.slice().buffer)));
      });
      setThreads(before);
      return bytes;
    });
    assertSameBytes(results, `normalization of [${shape.join(", ")}]`);
  }
});

// The bytes of `outputs` (forward results and gradients) at each thread count, each run in a
// scope of its own.
function tensorsAtEachThreadCount(outputs: () => Tensor[]): Buffer[] {
  const before = threadCount();
  try {
    return threadCounts.map((threads) => {
      setThreads(threads);
      return scope(() => Buffer.concat(outputs().map((t) => Buffer.from(t.data.slice().buffer))));
    });
  } finally {
    setThreads(before);
  }
}

// An output gradient with a fraction of about `density` nonzero (0.2: as ReLU and max-pooling
// leave it; 1: dense), at random places.
function outputGradient(size: number, density: number, seed: number): number[] {
  const values = randomValues(size, seed);
  const keep = randomValues(size, seed + 1);
  return values.map((value, i) => (density >= 1 || Math.abs(keep[i]) < density / 0.8 ? value : 0));
}

test("conv2d forward, input, weight and bias gradients are bit-identical at 1, 2 and 4 threads", () => {
  // Planes of at least 64 positions (per-sample GEMMs, split by samples) and one below (chunked
  // GEMMs), depthwise ones; batches that are not multiples of the weight gradient's 8-sample chunks or of the
  // thread count; dense and mostly zero output gradients (the sparse input gradient).
  const cases: Array<{ input: number[]; weight: number[]; options: Conv2dOptions; density: number }> = [
    { input: [24, 1, 28, 28], weight: [16, 1, 3, 3], options: { padding: 1 }, density: 1 },
    { input: [10, 16, 14, 14], weight: [32, 16, 3, 3], options: { padding: 1 }, density: 0.2 },
    { input: [9, 16, 32, 32], weight: [24, 8, 3, 3], options: { padding: 2, stride: 2, dilation: 2, groups: 2 }, density: 1 },
    { input: [9, 16, 32, 32], weight: [24, 8, 3, 3], options: { padding: [1, 2], stride: [2, 1], groups: 2 }, density: 0.15 },
    { input: [13, 8, 6, 6], weight: [16, 8, 3, 3], options: { padding: 1 }, density: 0.2 },
    // Depthwise (the direct kernel, channels split over the threads): MobileNet's, and a channel
    // multiplier of 2 with stride 2 (the scattering input gradient).
    { input: [16, 64, 16, 16], weight: [64, 1, 3, 3], options: { padding: 1, groups: 64 }, density: 1 },
    { input: [24, 40, 17, 17], weight: [80, 1, 3, 3], options: { padding: 1, stride: 2, groups: 40 }, density: 1 },
  ];
  for (const { input, weight: weightShape, options, density } of cases) {
    const what = `conv2d of [${input.join(", ")}] with [${weightShape.join(", ")}] ${JSON.stringify(options)} density ${density}`;
    const results = tensorsAtEachThreadCount(() => {
      const x = parameter(randomValues(sizeOf(input), 31), input);
      const weight = parameter(randomValues(sizeOf(weightShape), 32), weightShape);
      const bias = parameter(randomValues(weightShape[0], 33), [weightShape[0]]);
      const y = conv2d(x, weight, bias, options);
      const gradOut = tensor(outputGradient(y.size, density, 34), y.shape);
      assert.equal(isMostlyZero(gradOut), density < 0.3, `${what}: the output gradient takes the intended path`);
      backward(sum(mul(y, gradOut)));
      return [y, x.grad as Tensor, weight.grad as Tensor, bias.grad as Tensor];
    });
    assertSameBytes(results, what);
    assert.ok(!new Float32Array(results[0].buffer, results[0].byteOffset, results[0].length / 4).some(Number.isNaN), `${what}: every entry is written`);
  }
});

// The bytes of f(x) and of x's gradient under the loss Σ f(x)·r, at each thread count.
function opAtEachThreadCount(shape: number[], f: (x: Tensor) => Tensor, seed: number): Buffer[] {
  return tensorsAtEachThreadCount(() => {
    const x = parameter(randomValues(sizeOf(shape), seed), shape);
    const y = f(x);
    backward(sum(mul(y, tensor(randomValues(y.size, seed + 1), y.shape))));
    return [y, x.grad as Tensor];
  });
}

test("pooling, activations and broadcast arithmetic, forward and backward, are bit-identical at 1, 2 and 4 threads", () => {
  // Sizes of four threads' worth and more that are not multiples of the 64-element blocks, and
  // pooling windows that overlap (stride 1), are padded, or leave a ragged edge.
  const images = [54, 11, 29, 31];
  assert.ok(sizeOf(images) >= 4 * MIN_ELEMENTWISE_PER_THREAD, "the images are split four ways");
  const ops: Array<{ name: string; shape: number[]; f: (x: Tensor) => Tensor }> = [
    { name: "maxpool2d 2x2", shape: images, f: (x) => maxPool2d(x, { kernelSize: 2 }) },
    { name: "maxpool2d 3x3 stride 1 padding 1", shape: images, f: (x) => maxPool2d(x, { kernelSize: 3, stride: 1, padding: 1 }) },
    { name: "maxpool2d+relu 2x2", shape: images, f: (x) => maxPool2dRelu(x, { kernelSize: 2 }) },
    { name: "maxpool2d+relu 3x2 stride 2", shape: images, f: (x) => maxPool2dRelu(x, { kernelSize: [3, 2], stride: 2 }) },
    { name: "avgpool2d 2x2", shape: images, f: (x) => avgPool2d(x, { kernelSize: 2 }) },
    { name: "avgpool2d 3x3 stride 2 padding 1", shape: images, f: (x) => avgPool2d(x, { kernelSize: 3, stride: 2, padding: 1 }) },
    { name: "relu", shape: images, f: relu },
    { name: "leaky_relu", shape: images, f: (x) => leakyRelu(x, 0.1) },
    { name: "tanh", shape: images, f: tanh },
    { name: "sigmoid", shape: images, f: sigmoid },
    { name: "exp", shape: images, f: exp },
    { name: "sqrt", shape: images, f: (x) => sqrt(mul(x, x)) },
    { name: "add of a same-shape tensor", shape: images, f: (x) => add(x, tensor(randomValues(sizeOf(images), 41), images)) },
    { name: "mul by a scalar", shape: images, f: (x) => mul(x, 1.7) },
    { name: "add of a per-channel [C, 1, 1]", shape: images, f: (x) => add(x, tensor(randomValues(11, 42), [11, 1, 1])) },
    { name: "div by a row [W]", shape: images, f: (x) => div(x, tensor(randomValues(31, 43), [31])) },
    { name: "sub of a bias row of [rows, 301]", shape: [2003, 301], f: (x) => sub(x, tensor(randomValues(301, 44), [301])) },
  ];
  for (const { name, shape, f } of ops) {
    const results = opAtEachThreadCount(shape, f, 40);
    assertSameBytes(results, name);
  }
});

test("gradient histograms (plain, rank-one, 1-D and 2-D) count the same at 1, 2 and 4 threads, and as the TypeScript reference", () => {
  // An MLP layer's shapes: 128 samples, 784 inputs, 256 outputs, a quarter of δ zero (ReLU).
  const [batch, inFeatures, outFeatures] = [128, 784, 256];
  const spec1d = { bins: 40, range: [-0.02, 0.02] as [number, number] };
  const spec2d = {
    bins: [20, 12] as [number, number],
    range: [
      [-0.02, 0.02],
      [-0.1, 0.1],
    ] as [[number, number], [number, number]],
  };
  scope(() => {
    const delta = tensor(
      outputGradient(batch * outFeatures, 0.75, 41).map((v) => v * 0.05),
      [batch, outFeatures],
    );
    const activations = tensor(
      randomValues(batch * inFeatures, 42).map((v) => Math.max(v, 0)),
      [batch, inFeatures],
    );
    const weight = tensor(
      randomValues(outFeatures * inFeatures, 43).map((v) => v * 0.1),
      [outFeatures, inFeatures],
    );
    const view = new RankOneLinear(delta, activations, 1);
    const perSample = noGrad(() => mul(reshape(delta, [batch, outFeatures, 1]), reshape(activations, [batch, 1, inFeatures])));
    const before = threadCount();
    try {
      const results = threadCounts.map((threads) => {
        setThreads(threads);
        return [
          tensorHistogram1d(perSample, spec1d),
          rankOneHistogram1d(view, "weight", spec1d),
          rankOneHistogram1d(view, "bias", spec1d),
          tensorHistogram2d(perSample, weight, spec2d),
          rankOneHistogram2d(view, "weight", weight, spec2d),
        ].map((counts) => Array.from(counts));
      });
      for (const [i, counts] of results.entries()) assert.deepEqual(counts, results[0], `${threadCounts[i]} threads`);
      const reference = Array.from(histogram1d(perSample.data, spec1d));
      assert.deepEqual(results[0][0], reference, "the plain 1-D kernel counts as the reference");
      assert.deepEqual(results[0][1], reference, "the rank-one 1-D kernel counts as the reference");
      assert.equal(
        reference.reduce((a, b) => a + b),
        batch * outFeatures * inFeatures,
        "every value is counted once",
      );
      assert.deepEqual(results[0][4], results[0][3], "the rank-one 2-D kernel counts as the materialized one");
    } finally {
      setThreads(before);
    }
  });
});

test("a CNN's weights after SGD steps are bit-identical at 1, 2 and 4 threads", () => {
  // Batch 32: convolutions, ReLU+pooling and bias adds are all big enough to split; the second
  // convolution's output gradient, after ReLU and max-pooling, takes the sparse input gradient.
  const [batch, inputShape] = [32, [1, 28, 28]];
  const inputs = randomValues(batch * sizeOf(inputShape), 51);
  const labels = Array.from({ length: batch }, (_, i) => (i * 7) % 10);
  const weights = tensorsAtEachThreadCount(() => {
    const { model } = buildModel({ layers: cnnSpec }, inputShape, 5);
    const optimizer = new SGD(model.parameters(), { lr: 0.05, momentum: 0.9 });
    for (let step = 0; step < 3; step++) {
      scope(() => {
        optimizer.zeroGrad();
        backward(mean(crossEntropy(model.forward(tensor(inputs, [batch, ...inputShape])), tensor(labels, [batch], "int32"))));
        noGrad(() => optimizer.step());
      });
    }
    optimizer.zeroGrad();
    optimizer.dispose();
    return model.parameters();
  });
  assertSameBytes(weights, "CNN weights after 3 SGD steps");
});

test("threads are split in whole tiles and a small product stays on the calling thread", () => {
  assert.deepEqual(splitRange(21, 4, 2), [
    [0, 12],
    [12, 21],
  ]);
  assert.deepEqual(splitRange(5, 4, 4), [
    [0, 4],
    [4, 5],
  ]);
  const before = threadCount();
  setThreads(4);
  assert.equal(partsFor(16 * 16 * 16, MIN_GEMM_WORK_PER_THREAD), 1);
  assert.equal(partsFor(3 * MIN_GEMM_WORK_PER_THREAD, MIN_GEMM_WORK_PER_THREAD), 3);
  setThreads(1);
  assert.equal(partsFor(1e12, MIN_GEMM_WORK_PER_THREAD), 1);
  setThreads(before);
});

test("workers compute on memory grown after they started", () => {
  const before = threadCount();
  setThreads(2);
  scope(() => {
    const [m, n, k] = [64, 256, 256];
    const a = tensor(randomValues(m * k, 6), [m, k]);
    const b = tensor(randomValues(k * n, 7), [k, n]);
    const args = { transA: false, transB: false, m, n, k, alpha: 1, a: a.ptr, lda: k, b: b.ptr, ldb: n, beta: 0, ldc: n };
    const small = new Tensor([m, n]);
    gemm({ ...args, c: small.ptr });
    const size = engineMemory.memory.buffer.byteLength;
    const large = new Tensor([size / 4 + m * n]);
    const far = large.ptr + 4 * (large.size - m * n);
    assert.ok(far >= size && engineMemory.memory.buffer.byteLength > size, "C lies in memory grown after the workers started");
    gemm({ ...args, c: far });
    assert.ok(Buffer.from(engineMemory.f32.slice(far / 4, far / 4 + m * n).buffer).equals(Buffer.from(small.data.slice().buffer)));
    for (const t of [small, large]) t.dispose();
  });
  setThreads(before);
});

test("a kernel that traps on a worker throws on the calling thread, and the pool keeps working", () => {
  const before = threadCount();
  setThreads(2);
  scope(() => {
    const [m, n, k] = [64, 256, 256];
    const a = tensor(randomValues(m * k, 8), [m, k]);
    // B of its own: A has m < k rows, so B read at A's offset ran into the memory of C, which the
    // threads write while they read it.
    const b = tensor(randomValues(k * n, 9), [k, n]);
    const outside = engineMemory.memory.buffer.byteLength;
    const args = { transA: false, transB: false, m, n, k, alpha: 1, a: a.ptr, lda: k, b: b.ptr, ldb: n, beta: 0, ldc: n };
    // C lies past the memory's end: every part traps, on whichever thread claims it.
    assert.throws(() => gemm({ ...args, c: outside + 64 }), /out of bounds/);
    const c = new Tensor([m, n]);
    const expected = new Tensor([m, n]);
    gemm({ ...args, c: c.ptr });
    setThreads(1);
    gemm({ ...args, c: expected.ptr });
    assert.ok(Buffer.from(c.data.slice().buffer).equals(Buffer.from(expected.data.slice().buffer)), "the next product is right");
    c.dispose();
    expected.dispose();
  });
  setThreads(before);
});

test("Gram triangles started in the background, while rounds of products run, are gramLower's bits; a trap there throws at awaitBackground and the pool keeps working", () => {
  const before = threadCount();
  scope(() => {
    const [rows, length] = [128, 300];
    const [m, n, k] = [64, 256, 256];
    const x = tensor(randomValues(rows * length, 12), [rows, length]);
    const a = tensor(randomValues(m * k, 13), [m, k]);
    const b = tensor(randomValues(k * n, 16), [k, n]);
    const products = Array.from({ length: 4 }, () => new Tensor([m, n]));
    const product = (c: Tensor) => gemm({ transA: false, transB: false, m, n, k, alpha: 1, a: a.ptr, lda: k, b: b.ptr, ldb: n, beta: 0, c: c.ptr, ldc: n });
    const expected = new Tensor([rows, rows]);
    const expectedProduct = new Tensor([m, n]);
    setThreads(1);
    gramLower(x.ptr, rows, length, expected.ptr);
    product(expectedProduct);
    setThreads(2);
    const grams = Array.from({ length: 3 }, () => new Tensor([rows, rows]));
    const same = (gram: Tensor) => Buffer.from(gram.data.slice().buffer).equals(Buffer.from(expected.data.slice().buffer));
    const tickets = grams.map((gram) => {
      gram.data.fill(0);
      return startGramLower(x.ptr, rows, length, gram.ptr);
    });
    assert.ok(
      tickets.every((ticket) => ticket !== null),
      "started in the background",
    );
    for (const c of products) product(c);
    awaitBackground(tickets[1]);
    assert.ok(same(grams[0]) && same(grams[1]), "a ticket's triangle, and those posted before it, are done when it is joined");
    awaitAllBackground();
    assert.ok(same(grams[2]), "the last triangle, after joining all");
    for (const [i, c] of products.entries()) assert.ok(Buffer.from(c.data.slice().buffer).equals(Buffer.from(expectedProduct.data.slice().buffer)), `product ${i} run meanwhile`);
    awaitAllBackground(); // nothing posted: returns at once
    awaitBackground(tickets[0]); // joined already

    // The triangle's rows lie past the memory's end: its calls trap on whichever thread runs them.
    const trapping = startGramLower(x.ptr, rows, length, engineMemory.memory.buffer.byteLength + 64);
    grams[0].data.fill(0);
    const next = startGramLower(x.ptr, rows, length, grams[0].ptr);
    assert.throws(() => awaitBackground(trapping), /out of bounds/);
    awaitBackground(next);
    assert.ok(same(grams[0]), "the triangle posted after the trap is right");
    awaitAllBackground(); // the trap was reported once
  });
  setThreads(before);
});

test("a background call's failure is reported by the join of its own ticket, not by the join, post or close that ran it for another", () => {
  scope(() => {
    const [rows, length] = [64, 100];
    const x = tensor(randomValues(rows * length, 17), [rows, length]);
    const gram = new Tensor([rows, rows]);
    const expected = new Tensor([rows, rows]);
    gramLower(x.ptr, rows, length, expected.ptr);
    // Posted for one thread, every background call runs on the calling thread, at the first
    // join that reaches it.
    const pool = new ThreadPool(2);
    const triangle = (c: number): BackgroundCall => ({ kernel: "gramLowerRows", args: [x.ptr, rows, length, c, -1, 0, rows], workspaceArg: 4 });
    const workspace = engineMemory.kernels.gemmWorkspaceBytes();
    try {
      // Its rows lie past the memory's end: it traps.
      const trapping = pool.post([triangle(engineMemory.memory.buffer.byteLength + 64)], workspace, 1);
      const next = pool.post([triangle(gram.ptr)], workspace, 1);
      pool.join(next);
      assert.ok(Buffer.from(gram.data.slice().buffer).equals(Buffer.from(expected.data.slice().buffer)), "the later ticket's triangle");
      assert.throws(() => pool.join(trapping), /out of bounds/, "the trapping ticket's own join reports it");
      pool.join(); // reported once
      // A post that finds the table full waits for every call, and a close too: neither reports a
      // failure, which is the trapping ticket's join's to report.
      const trappingFirst = pool.post([triangle(engineMemory.memory.buffer.byteLength + 64)], workspace, 1);
      gram.data.fill(0);
      const filling = pool.post(
        Array.from({ length: 64 }, () => triangle(gram.ptr)),
        workspace,
        1,
      );
      pool.join(filling);
      assert.ok(Buffer.from(gram.data.slice().buffer).equals(Buffer.from(expected.data.slice().buffer)), "the calls that filled the table");
      const trappingLast = pool.post([triangle(engineMemory.memory.buffer.byteLength + 64)], workspace, 1);
      pool.close();
      assert.throws(() => pool.join(trappingFirst), /out of bounds/, "reported by its ticket's join after a post made room");
      assert.throws(() => pool.join(trappingLast), /out of bounds/, "reported by its ticket's join after the pool closed");
      pool.join(); // reported once
    } finally {
      pool.close();
    }
  });
});

test("a Linear layer's Grams started in the background are all awaited before they are freed, also when the first one fails", () => {
  const before = threadCount();
  setThreads(2);
  scope(() => {
    const rows = 128;
    const activations = tensor(randomValues(rows * 4096, 18), [rows, 4096]);
    // δ's rows lie far past the memory's end: its triangle traps.
    const delta = { ptr: 2 ** 32 - 2 ** 20, size: rows * 10, shape: [rows, 10] } as unknown as Tensor;
    const rankOne = new RankOneLinear(delta, activations, 1);
    rankOne.startGrams(true);
    assert.throws(() => rankOne.gramTriangles(true), /out of bounds/);
    rankOne.dispose();
    // The block of the activations' triangle, freed last, is the next one of its size.
    const next = new Tensor([rows, rows]);
    next.data.fill(0);
    awaitAllBackground();
    assert.ok(
      next.data.every((value) => value === 0),
      "no triangle was written into freed memory",
    );
    next.dispose();
  });
  setThreads(before);
});

test("a backward pass with Grams in the background frees what it kept, also when it fails, and accumulates backward's gradients", () => {
  const before = threadCount();
  setThreads(2);
  const { model } = buildModel({ layers: [{ type: "linear", out: 64 }, { type: "relu" }, { type: "linear", out: 10 }] }, [200], 0);
  const inputs = tensor(randomValues(128 * 200, 14), [128, 200]).keep();
  const labels = tensor(
    Array.from({ length: 128 }, (_, i) => i % 10),
    [128],
    "int32",
  ).keep();
  // Tensors still alive right after the pass (the graph's, inside its scope), and the gradients.
  const pass = (extended: boolean) => {
    model.zeroGrad();
    const live = liveTensorCount();
    const alive = scope(() => {
      const loss = mean(crossEntropy(model.forward(inputs), labels));
      if (extended) backwardWithExtensions(loss, { batchDot: true, batchL2: true });
      else backward(loss);
      return liveTensorCount();
    });
    assert.equal(liveTensorCount(), live + model.parameters().length, "only the parameters' gradients are left");
    return { alive, gradients: model.parameters().map((p) => Buffer.from((p.grad as Tensor).data.slice().buffer)) };
  };
  const plain = pass(false);
  const extended = pass(true);
  assert.equal(extended.alive, plain.alive, "the kept output gradients are freed by the pass");
  for (const [i, bytes] of extended.gradients.entries()) assert.ok(bytes.equals(plain.gradients[i]), `parameter ${i}`);
  // One weight used by two ops: the second op's layer is refused after the first one's Grams started.
  const live = liveTensorCount();
  scope(() => {
    const weight = parameter(randomValues(200 * 200, 15), [200, 200], "shared");
    const twice = linear(relu(linear(inputs, weight, null)), weight, null);
    assert.throws(() => backwardWithExtensions(sum(twice), { batchDot: true }, { perSampleScale: 1 }), /used by more than one op/);
    weight.grad?.dispose();
  });
  assert.equal(liveTensorCount(), live, "nothing is left behind by the failed pass");
  model.zeroGrad();
  model.dispose();
  for (const t of [inputs, labels]) t.dispose();
  setThreads(before);
});

test("per-sample statistics (batchL2, batchDot, meanProjections) of Linear layers are bit-identical at 1, 2 and 4 threads", () => {
  scope(() => {
    const { model } = buildModel({ layers: [{ type: "linear", out: 96 }, { type: "relu" }, { type: "linear", out: 40 }, { type: "relu" }, { type: "linear", out: 10 }] }, [300], 0);
    const inputs = tensor(randomValues(128 * 300, 11), [128, 300]);
    const labels = tensor(
      Array.from({ length: 128 }, (_, i) => i % 10),
      [128],
      "int32",
    );
    const results = threadCounts.map((threads) => {
      const before = threadCount();
      setThreads(threads);
      try {
        model.zeroGrad();
        const statistics = backwardWithExtensions(mean(crossEntropy(model.forward(inputs), labels)), { batchL2: true, batchDot: true, meanProjections: true });
        return model.parameters().flatMap((p) => {
          const stats = statistics.get(p);
          return [stats?.batchL2, stats?.batchDot, stats?.meanProjections].map((values) => Buffer.from((values as Float64Array).slice().buffer));
        });
      } finally {
        setThreads(before);
      }
    });
    for (const [t, buffers] of results.entries()) {
      for (const [i, bytes] of buffers.entries()) assert.ok(bytes.equals(results[0][i]), `statistic ${i} at ${threadCounts[t]} threads`);
    }
    model.zeroGrad();
    model.dispose();
  });
});

test("float64 reductions (squared distance, dot product, quotient sum) are bit-identical at 1, 2 and 4 threads", () => {
  scope(() => {
    // Past four threads' worth, and not a whole number of chunks.
    const n = 4 * MIN_REDUCTION_PER_THREAD + 12345;
    const x = tensor(randomValues(n, 12), [n]);
    const y = tensor(
      randomValues(n, 13).map((v) => Math.abs(v) + 0.5),
      [n],
    );
    const reductions: Array<[string, () => number]> = [
      ["squaredDistance", () => squaredDistance(x, y)],
      ["squaredNorm", () => squaredNorm(x)],
      ["dotProduct", () => dotProduct(x, y)],
      ["quotientSum", () => quotientSum(x, y, 1e-8)],
      ["elementSum", () => elementSum(x)],
    ];
    for (const [name, reduce] of reductions) {
      const before = threadCount();
      const values = threadCounts.map((threads) => {
        setThreads(threads);
        return reduce();
      });
      setThreads(before);
      for (const [i, value] of values.entries()) assert.equal(Object.is(value, values[0]), true, `${name} at ${threadCounts[i]} threads: ${value} vs ${values[0]}`);
    }
    // Rows' dot products: per-row y and one shared y, float32 and float64 sums.
    const rows = 512;
    const length = Math.floor(n / rows);
    for (const options of [{}, { sharedY: true, precise: true }]) {
      const out = new Tensor([2 * rows]);
      assertSameBytes(
        bytesAtEachThreadCount(out, () => new Float64Array(out.data.buffer, out.ptr, rows).set(rowDots(x.ptr, y.ptr, rows, length, options))),
        `rowDots ${JSON.stringify(options)}`,
      );
    }
  });
});

test("sums over an axis (sum, mean, per-sample bias gradients' sums over positions) are bit-identical at 1, 2 and 4 threads", () => {
  scope(() => {
    const shape = [64, 300, 70];
    const x = tensor(randomValues(sizeOf(shape), 14), shape);
    for (const [axis, reduce] of [
      [1, (t: Tensor) => sum(t, [1])],
      [2, (t: Tensor) => mean(t, [2])],
    ] as const) {
      const outShape = shape.filter((_, i) => i !== axis);
      const out = new Tensor(outShape);
      assertSameBytes(
        bytesAtEachThreadCount(out, () => out.data.set(reduce(x).data)),
        `sum over axis ${axis}`,
      );
    }
  });
});

test("a conv weight's batchL2 by the Gram closed form is bit-identical at 1, 2 and 4 threads", () => {
  scope(() => {
    // 2×2 planes: the Grams' route is the cheaper one; 512 samples split over four threads.
    const layers = [{ type: "conv2d", out_channels: 16, kernel_size: 3, padding: 1 }, { type: "relu" }, { type: "flatten" }, { type: "linear", out: 10 }];
    const { model } = buildModel({ layers }, [8, 2, 2], 0);
    const batch = 512;
    const inputs = tensor(randomValues(batch * 32, 15), [batch, 8, 2, 2]);
    const labels = tensor(
      Array.from({ length: batch }, (_, i) => i % 10),
      [batch],
      "int32",
    );
    const weight = model.parameters()[0];
    let conv: Conv2dRecord | undefined;
    backward(sum(model.forward(inputs)), {
      onLayer: (layer) => {
        if (layer.kind === "conv2d") conv = layer;
      },
    });
    assert.ok(conv && gramRouteCheaper(conv.hyper, "batchL2"), "these shapes take the Grams' route");
    const norms = threadCounts.map((threads) => {
      const before = threadCount();
      setThreads(threads);
      try {
        model.zeroGrad();
        const statistics = backwardWithExtensions(mean(crossEntropy(model.forward(inputs), labels)), { batchL2: true });
        const norms = statistics.get(weight)?.batchL2;
        assert.ok(norms);
        return Buffer.from(norms.slice().buffer);
      } finally {
        setThreads(before);
      }
    });
    assertSameBytes(norms, "conv weight batchL2 by the Grams");
    model.zeroGrad();
    model.dispose();
  });
});

test("a conv layer's curvature column squares (dense and gathered) are bit-identical at 1, 2 and 4 threads", () => {
  scope(() => {
    const { model } = buildModel(
      { layers: [{ type: "conv2d", out_channels: 16, kernel_size: 3, padding: 1, groups: 2 }, { type: "flatten" }, { type: "linear", out: 3 }] },
      [8, 8, 8],
      0,
    );
    const batch = 64;
    let conv: Conv2dRecord | undefined;
    backward(sum(model.forward(tensor(randomValues(batch * 512, 16), [batch, 8, 8, 8]))), {
      onLayer: (layer) => {
        if (layer.kind === "conv2d") conv = layer;
      },
    });
    assert.ok(conv);
    const columns = [1, -1, 1].map((sign, k) => ({ delta: tensor(randomValues(batch * 16 * 64, 17 + k), [batch, 16, 8, 8]), sign }));
    for (const sparseBelow of [0, 2]) {
      const results = threadCounts.map((threads) => {
        const before = threadCount();
        setThreads(threads);
        try {
          const squares = new ConvColumnSquares(conv as Conv2dRecord, undefined, sparseBelow);
          for (const { delta, sign } of columns) squares.add(delta, sign);
          squares.flush();
          return [squares.weight, squares.bias].map((t) => Buffer.from((t as Tensor).data.slice().buffer));
        } finally {
          setThreads(before);
        }
      });
      for (const [i, [weight, bias]] of results.entries()) {
        assert.ok(weight.equals(results[0][0]) && bias.equals(results[0][1]), `column squares (sparseBelow ${sparseBelow}) at ${threadCounts[i]} threads`);
      }
    }
    model.zeroGrad();
    model.dispose();
  });
});

test("per-sample conv weight gradients, from dense and from mostly zero output gradients, are bit-identical at 1, 2 and 4 threads", () => {
  scope(() => {
    const x = tensor(randomValues(64 * 4 * 12 * 12, 18), [64, 4, 12, 12]);
    const weight = tensor(randomValues(8 * 2 * 9, 19), [8, 2, 3, 3]);
    const hyper = conv2dHyper(x, weight, { padding: 1, groups: 2 });
    const zeros = new Random(20);
    for (const zeroFraction of [0, 0.9]) {
      const gradOut = tensor(
        randomValues(64 * 8 * 144, 21).map((v) => (zeros.uniform() < zeroFraction ? 0 : v)),
        [64, 8, 12, 12],
      );
      assert.equal(isMostlyZero(gradOut), zeroFraction > 0.5);
      const out = new Tensor([64, 8, 2, 3, 3]);
      assertSameBytes(
        bytesAtEachThreadCount(out, () => perSampleWeightGradients(hyper, x, gradOut, 0.5, out)),
        `per-sample weight gradients, ${zeroFraction} zeros`,
      );
    }
  });
});

test("the thread count is validated where it is set: setThreads, GRADSCOPE_THREADS, engine.threads and --threads", async () => {
  assert.equal((await import("../src/index.ts")).setThreads, setThreads, "setThreads is part of the package's API");
  assert.throws(() => setThreads(0), /setThreads\(count\) must be a whole number of threads >= 1, got 0/);
  assert.throws(() => setThreads(1.5), /got 1\.5/);
  const environment = spawnSync(process.execPath, ["--import", "tsx", "-e", 'import("./src/engine/threads/settings.ts").then((s) => s.threadCount())'], {
    env: { ...process.env, GRADSCOPE_THREADS: "two" },
    encoding: "utf8",
  });
  assert.match(environment.stderr, /GRADSCOPE_THREADS must be a whole number of threads >= 1, got "two"/);
  const fromEnvironment = execFileSync(process.execPath, ["--import", "tsx", "-e", 'import("./src/engine/threads/settings.ts").then((s) => console.log(s.threadCount()))'], {
    env: { ...process.env, GRADSCOPE_THREADS: "3" },
    encoding: "utf8",
  });
  assert.equal(fromEnvironment.trim(), "3");
  const folder = mkdtempSync(join(tmpdir(), "gradscope-threads-"));
  const config = join(folder, "bad.yaml");
  writeFileSync(
    config,
    "model: { layers: [{ type: linear, out: 2 }] }\ndata: { source: spirals }\ntraining: { epochs: 1 }\noptimizer: { name: sgd, lr: 0.1 }\nengine: { threads: 0 }\n",
  );
  assert.throws(() => loadConfig([config], []), /engine\.threads/);
  const errors: string[] = [];
  const write = process.stderr.write;
  process.stderr.write = ((text: string) => errors.push(text) > 0) as typeof process.stderr.write;
  try {
    assert.equal(await main(["train", "-c", config, "--threads", "zero"]), 2);
  } finally {
    process.stderr.write = write;
  }
  assert.match(errors.join(""), /--threads <n>.*expected a whole number of threads >= 1, got "zero"/);
  const good = join(folder, "good.yaml");
  writeFileSync(good, "model: { layers: [{ type: linear, out: 2 }] }\ndata: { source: spirals }\ntraining: { epochs: 1 }\noptimizer: { name: sgd, lr: 0.1 }\n");
  const printed = spawnSync(process.execPath, ["bin/gradscope.js", "train", "-c", good, "--threads", "3", "--print-config"], { encoding: "utf8" });
  assert.equal(printed.status, 0, printed.stderr);
  assert.match(printed.stdout, /engine:\n {2}threads: 3\n/);
});

// Runs the lines as an ES module in a process of its own (on WASM, where a pool of 70 threads
// does not outlive the test) and asserts it printed "true".
function assertScriptPrintsTrue(lines: string[]): void {
  const run = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", "tsx", "--input-type=module", "-e", lines.join("\n")], {
    encoding: "utf8",
    timeout: 120000,
    env: { ...process.env, GRADSCOPE_BACKEND: "wasm" },
  });
  assert.equal(run.status, 0, run.stderr);
  assert.equal(run.stdout, "true");
}

test("a pool of more threads than a round's default 64 calls runs products split 70 ways, the same bits as one thread", () => {
  assertScriptPrintsTrue([
    'const { setThreads } = await import("./src/engine/threads/settings.ts");',
    'const { Tensor } = await import("./src/engine/tensor.ts");',
    'const { gemm } = await import("./src/engine/kernels/gemm.ts");',
    "const [m, n, k] = [560, 256, 512];",
    "const a = new Tensor([m, k]); a.data.forEach((_, i, d) => { d[i] = Math.sin(i); });",
    "const b = new Tensor([k, n]); b.data.forEach((_, i, d) => { d[i] = Math.cos(i); });",
    "const product = (threads) => { setThreads(threads); const c = new Tensor([m, n]); gemm({ transA: false, transB: false, m, n, k, alpha: 1, a: a.ptr, lda: k, b: b.ptr, ldb: n, beta: 0, c: c.ptr, ldc: n }); return Buffer.from(c.data.slice().buffer); };",
    "const one = product(1);",
    "process.stdout.write(String(product(70).equals(one)));",
  ]);
});

test("a pool of more threads than 64 starts a Gram split 69 ways in the background, the same bits as one thread", () => {
  assertScriptPrintsTrue([
    'const { setThreads, awaitBackground } = await import("./src/engine/threads/settings.ts");',
    'const { Tensor } = await import("./src/engine/tensor.ts");',
    'const { gramLower, startGramLower } = await import("./src/engine/kernels/gemm.ts");',
    // 512 rows at 70 threads: 69 row panels of whole tiles, one call each.
    "const [rows, length] = [512, 300];",
    "const x = new Tensor([rows, length]); x.data.forEach((_, i, d) => { d[i] = Math.sin(i); });",
    "const triangle = (threads) => { setThreads(threads); const c = new Tensor([rows, rows]); c.data.fill(0); awaitBackground(startGramLower(x.ptr, rows, length, c.ptr)); return Buffer.from(c.data.slice().buffer); };",
    "setThreads(1); const one = new Tensor([rows, rows]); one.data.fill(0); gramLower(x.ptr, rows, length, one.ptr);",
    "process.stdout.write(String(triangle(70).equals(Buffer.from(one.data.slice().buffer))));",
  ]);
});

test("a script that ran a parallel product exits by itself with its exit code", () => {
  const script = [
    'const { setThreads } = await import("./src/engine/threads/settings.ts");',
    'const { Tensor } = await import("./src/engine/tensor.ts");',
    'const { gemm } = await import("./src/engine/kernels/gemm.ts");',
    "setThreads(2);",
    "const n = 256; const a = new Tensor([n, n]); a.data.fill(1);",
    "gemm({ transA: false, transB: false, m: n, n, k: n, alpha: 1, a: a.ptr, lda: n, b: a.ptr, ldb: n, beta: 0, c: a.ptr + 0, ldc: n });",
    "process.exitCode = 3;",
  ].join("\n");
  const run = spawnSync(process.execPath, ["--experimental-wasm-relaxed-simd", "--import", "tsx", "--input-type=module", "-e", script], { encoding: "utf8", timeout: 60000 });
  assert.equal(run.signal, null, "not killed by the timeout");
  assert.equal(run.status, 3, run.stderr);
});

// A run whose layers are wide enough for every thread count to split their products, with the
// per-sample statistics of the full Cockpit configuration.
const folder = mkdtempSync(join(tmpdir(), "gradscope-threads-run-"));
const runConfig = join(folder, "wide.yaml");
writeFileSync(
  runConfig,
  `seed: 3
model: { layers: [{ type: linear, out: 256 }, { type: relu }, { type: linear, out: 256 }, { type: relu }, { type: linear, out: 3 }] }
data: { source: blobs, samples: 320, dims: 64, classes: 3, batch_size: 64, validation: 0.2 }
training: { epochs: 2 }
optimizer: { name: adam, lr: 0.001 }
quantities: full
`,
);

let runs = 0;
function setup(threads: number): { s: TrainingSetup; directory: string } {
  const directory = join(folder, `run-${runs++}`);
  mkdirSync(directory);
  const loaded = loadConfig([runConfig], [`engine.threads=${threads}`]);
  return { s: buildTraining(loaded, buildData(loaded), directory), directory };
}

interface RunResult {
  weights: Buffer[];
  history: Array<Record<string, number>>;
  quantities: string[];
}

function finish({ s, directory }: { s: TrainingSetup; directory: string }): RunResult {
  const result = {
    weights: s.model.parameters().map((p) => Buffer.from(p.data.slice().buffer)),
    history: s.trainer.history.map(({ epoch_seconds, ...rest }) => rest),
    // Quantities as logged, without their wall-clock fields.
    quantities: readFileSync(join(directory, "quantities.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.stringify({ ...JSON.parse(line), time: undefined, wall_time: undefined })),
  };
  s.tracker?.dispose();
  s.optimizer.dispose();
  s.model.dispose();
  return result;
}

test("a training run's weights, losses and quantities are bit-identical at 1, 2 and 4 threads, and resume across a change of thread count", async () => {
  const before = threadCount();
  try {
    const results: RunResult[] = [];
    for (const threads of threadCounts) {
      const run = setup(threads);
      assert.equal((await run.s.trainer.fit(run.s.data.train, run.s.data.validation)).status, "completed");
      assert.equal(threadCount(), threads, "engine.threads sets the thread count");
      results.push(finish(run));
    }
    assert.ok(results[0].quantities.length > 10, "quantities were logged");
    for (const [i, result] of results.entries()) {
      assert.deepEqual(result.weights, results[0].weights, `weights at ${threadCounts[i]} threads`);
      assert.deepEqual(result.history, results[0].history, `losses and metrics at ${threadCounts[i]} threads`);
      assert.deepEqual(result.quantities, results[0].quantities, `quantities at ${threadCounts[i]} threads`);
    }

    const first = setup(2);
    first.s.trainer.options.callbacks.push({ name: "stop", onBatchEnd: (trainer, logs) => (logs.epoch === 1 && logs.batch === 2 ? trainer.requestStop("test") : undefined) });
    assert.equal((await first.s.trainer.fit(first.s.data.train, first.s.data.validation)).status, "stopped");
    const path = join(first.directory, "stopped.gsckpt");
    saveCheckpoint(path, captureCheckpoint({ ...first.s, config: {} }));
    first.s.tracker?.dispose();
    first.s.optimizer.dispose();
    first.s.model.dispose();
    const second = setup(1);
    restoreCheckpoint(loadCheckpoint(path), second.s);
    assert.equal((await second.s.trainer.fit(second.s.data.train, second.s.data.validation)).status, "completed");
    const resumed = finish(second);
    assert.deepEqual(resumed.weights, results[0].weights, "weights after stopping at 2 threads and resuming at 1");
    assert.deepEqual(resumed.history, results[0].history, "losses and metrics after the resume");
  } finally {
    setThreads(before);
  }
});

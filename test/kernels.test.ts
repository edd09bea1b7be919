import assert from "node:assert/strict";
import { test } from "node:test";
import { backward } from "../src/engine/autograd.ts";
import { parameter, tensor, zeros } from "../src/engine/creation.ts";
import { channelAffine, channelSums, referenceChannelAffine, referenceChannelSums } from "../src/engine/kernels/channels.ts";
import { axpyInto, referenceAxpy, referenceSumSquaresInto } from "../src/engine/kernels/elementwise.ts";
import { referenceGemm } from "../src/engine/kernels/gemm.ts";
import {
  countNonzero,
  dotProduct,
  elementSum,
  quotientSum,
  referenceDotProduct,
  referenceQuotientSum,
  referenceSquaredDistance,
  squaredDistance,
  squaredNorm,
} from "../src/engine/kernels/reductions.ts";
import { engineMemory } from "../src/engine/memory.ts";
import { add, type BinaryOp, div, mul, referenceBinary, sub } from "../src/engine/ops/binary.ts";
import { type ConvGeometry, col2imAdd, convOutputSize, im2col, referenceCol2imAdd, referenceIm2col, sparseConvInputGradient } from "../src/engine/ops/im2col.ts";
import { avgPool2d, maxPool2d, maxPool2dRelu, referenceAvgPool2d } from "../src/engine/ops/pool.ts";
import { max, mean, referenceExpandAxis, referenceMaxAxis, referenceSumAxis, sum } from "../src/engine/ops/reduce.ts";
import { exp, leakyRelu, referenceActivations, referenceRelu, relu, sigmoid, sqrt, tanh } from "../src/engine/ops/unary.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { assertClose, randomValues } from "./helpers.ts";

test("WASM relu forward and backward equal the TypeScript reference exactly (odd length, zero, NaN)", () => {
  scope(() => {
    const values = randomValues(37, 4);
    values[3] = 0;
    values[8] = Number.NaN;
    const seed = randomValues(37, 5);
    const run = (fn: typeof relu) => {
      const x = parameter(values, [37]);
      const y = fn(x);
      backward(y, { gradient: tensor(seed, [37]) });
      return [y.toArray(), x.grad?.toArray()];
    };
    // Numeric equality: the kernel's masked gradient is +0 where the reference's dy·0 may be −0.
    const [wasm, reference] = [run(relu), run(referenceRelu)];
    for (let part = 0; part < 2; part++)
      assert.ok(
        wasm[part]?.every((v, i) => Object.is(v, reference[part]?.[i]) || v === reference[part]?.[i]),
        `part ${part}`,
      );
  });
});

test("WASM axpy equals the TypeScript reference in float32", () => {
  scope(() => {
    const x = tensor(randomValues(23, 1), [23]);
    const y1 = tensor(randomValues(23, 2), [23]);
    const y2 = tensor(y1.toArray(), [23]);
    axpyInto(y1, x, -0.37);
    referenceAxpy(23, Math.fround(-0.37), x.ptr, y2.ptr);
    for (let i = 0; i < 23; i++) assert.ok(Math.abs(y1.data[i] - y2.data[i]) <= 1e-6 * (1 + Math.abs(y2.data[i])), `element ${i}`);
  });
});

test("WASM sumSquaresInto equals the TypeScript reference in float32 (blocks, odd length, negative sign)", () => {
  scope(() => {
    const src = tensor(randomValues(3 * 11, 6), [3, 11]);
    for (const sign of [1, -1]) {
      const wasm = tensor(randomValues(11, 7), [11]);
      const reference = tensor(wasm.toArray(), [11]);
      engineMemory.kernels.sumSquaresInto(11, 3, src.ptr, wasm.ptr, sign);
      referenceSumSquaresInto(11, 3, src.ptr, reference.ptr, sign);
      assertClose(wasm.toArray(), reference.toArray(), 1e-6, 1e-7, `sign ${sign}`);
    }
  });
});

test("WASM squaredDistance and dotProduct sum in float64: they equal the TypeScript reference over a million elements and in the scalar tail", () => {
  scope(() => {
    for (const n of [7, 1_000_003]) {
      // An offset keeps every term positive, where a float32 running sum would lose digits.
      const x = tensor(
        randomValues(n, 8).map((v) => v + 3),
        [n],
      );
      const y = tensor(randomValues(n, 9), [n]);
      for (const [a, b] of [
        [x, y],
        [x, null],
      ] as const) {
        const wasm = b ? squaredDistance(a, b) : squaredNorm(a);
        const reference = referenceSquaredDistance(n, a.ptr, b ? b.ptr : 0);
        assert.ok(Math.abs(wasm - reference) <= 1e-12 * reference, `n ${n}: ${wasm} vs ${reference}`);
      }
      const dot = dotProduct(x, y);
      const referenceDot = referenceDotProduct(n, x.ptr, y.ptr);
      assert.ok(Math.abs(dot - referenceDot) <= 1e-12 * Math.abs(referenceDot), `n ${n}: dot ${dot} vs ${referenceDot}`);
    }
    assert.throws(() => squaredDistance(tensor([1, 2], [2]), tensor([1], [1])), /squaredDistance size mismatch \[2\] vs \[1\]/);
  });
});

test("WASM float32 dot equals a float64 sum to float32 rounding in the sixteen-lane body, the four-lane loop and the scalar tail", () => {
  scope(() => {
    for (const n of [0, 1, 3, 4, 7, 16, 17, 23, 36, 1001]) {
      const x = tensor(randomValues(n, 10), [n]);
      const y = tensor(randomValues(n, 11), [n]);
      let exact = 0;
      let magnitude = 0;
      for (let i = 0; i < n; i++) {
        exact += x.data[i] * y.data[i];
        magnitude += Math.abs(x.data[i] * y.data[i]);
      }
      const dot = engineMemory.kernels.dot(n, x.ptr, y.ptr);
      assert.ok(Math.abs(dot - exact) <= 1e-6 * magnitude, `n ${n}: ${dot} vs ${exact}`);
      if (n > 0) assert.notEqual(dot, 0);
    }
  });
});

test("WASM per-channel kernels equal their TypeScript references for runs of 1, 3 and 4k+3 values, with and without each optional term", () => {
  scope(() => {
    const layouts = [
      { outer: 3, channels: 5, inner: 11 }, // vector runs with a scalar tail
      { outer: 4, channels: 7, inner: 1 }, // vectorized across channels, with a channel tail
      { outer: 2, channels: 3, inner: 3 }, // scalar runs
    ];
    for (const [k, layout] of layouts.entries()) {
      const size = layout.outer * layout.channels * layout.inner;
      const x = tensor(randomValues(size, 20 + k), [size]);
      const y = tensor(randomValues(size, 30 + k), [size]);
      const [p, q, r] = [40, 50, 60].map((seed) => tensor(randomValues(layout.channels, seed + k), [layout.channels]));
      const out = zeros([size]);
      const expected = zeros([size]);
      const perChannel = zeros([layout.channels]);
      const expectedPerChannel = zeros([layout.channels]);
      const what = `layout ${JSON.stringify(layout)}`;
      for (const [second, centers] of [
        [null, null],
        [y, null],
        [x, p],
        [y, p],
      ]) {
        channelSums(x, layout, perChannel, { y: second, centers });
        referenceChannelSums(x.ptr, second?.ptr ?? 0, layout, centers?.ptr ?? 0, expectedPerChannel.ptr);
        assertClose(perChannel.data, expectedPerChannel.data, 1e-6, 1e-6, `${what} sums`);
      }
      for (const [center, scale, weights, shift] of [
        [p, q, null, r],
        [null, q, null, null],
        [p, null, null, r],
        [null, p, q, r],
        [p, q, r, null],
      ]) {
        const second = weights ? y : null;
        channelAffine(x, layout, out, { center, scale, y: second, weight: weights, shift });
        referenceChannelAffine(x.ptr, second?.ptr ?? 0, layout, center?.ptr ?? 0, scale?.ptr ?? 0, weights?.ptr ?? 0, shift?.ptr ?? 0, expected.ptr);
        assert.deepEqual(out.data, expected.data, `${what} affine`);
      }
    }
    assert.throws(() => channelSums(tensor([1, 2, 3], [3]), { outer: 1, channels: 2, inner: 2 }, zeros([2])), /channelSums: \[3\] is not 1×2×2/);
  });
});

test("WASM average pooling, forward and backward, equals the TypeScript reference exactly (stride, padding, uneven edges)", () => {
  scope(() => {
    for (const options of [{ kernelSize: 2 }, { kernelSize: 3, stride: 2, padding: 1 }, { kernelSize: [3, 2] as [number, number], stride: [1, 2] as [number, number] }]) {
      const x = parameter(randomValues(2 * 3 * 7 * 6, 31), [2, 3, 7, 6]);
      const out = avgPool2d(x, options);
      const reference = referenceAvgPool2d(x, options);
      assert.deepEqual(out.data, reference.out, `forward ${JSON.stringify(options)}`);
      const gradOut = tensor(randomValues(out.size, 32), out.shape);
      backward(sum(mul(out, gradOut)));
      assert.deepEqual(x.grad?.data, reference.backward(gradOut.data), `backward ${JSON.stringify(options)}`);
    }
  });
});

test("WASM max over an axis equals the TypeScript reference: first maximum on ties, a NaN wins at its first position, in vector lanes and the tail", () => {
  scope(() => {
    for (const [shape, axis] of [
      [[3, 5, 7], 1],
      [[4, 9], 0],
      [[4, 9], 1],
      [[2, 6, 4], 2],
      [[2, 3, 8], 0],
    ] as Array<[number[], number]>) {
      const size = shape.reduce((a, b) => a * b, 1);
      // Rounded values make ties; a few NaNs test propagation.
      const values = randomValues(size, 50 + axis).map((v, k) => (k % 11 === 3 ? Number.NaN : Math.round(v * 2) / 2));
      const x = tensor(values, shape);
      const reference = referenceMaxAxis(x, axis);
      const out = max(x, axis);
      assert.deepEqual(out.data, reference.values, `values ${shape} axis ${axis}`);
    }
  });
  // The gradient goes to the first maximum, also where values tie.
  const x = parameter([1, 3, 3, 2, 5, 5], [2, 3]);
  backward(sum(max(x, 1)));
  assert.deepEqual([...(x.grad?.data ?? [])], [0, 1, 0, 0, 1, 0]);
});

test("WASM countNonzero counts what is not ±0, NaN and infinities included, in the vector body and the tail", () => {
  scope(() => {
    const values = randomValues(23, 9).map((v, i) => (i % 3 === 0 ? 0 : v));
    values[1] = -0;
    values[2] = Number.NaN;
    values[4] = Number.NEGATIVE_INFINITY;
    values[22] = 5;
    assert.equal(countNonzero(tensor(values, [23])), values.filter((v) => v !== 0).length);
  });
});

test("WASM quotientSum divides and sums in float64: it equals the TypeScript reference, and without y it is the plain sum", () => {
  scope(() => {
    for (const n of [5, 1_000_002]) {
      const x = tensor(
        randomValues(n, 10).map((v) => v + 2),
        [n],
      );
      const y = tensor(
        randomValues(n, 11).map((v) => v * v),
        [n],
      );
      const quotients = quotientSum(x, y, 1e-3);
      const reference = referenceQuotientSum(n, x.ptr, y.ptr, 1e-3);
      assert.ok(Math.abs(quotients - reference) <= 1e-12 * Math.abs(reference), `n ${n}: ${quotients} vs ${reference}`);
      const total = referenceQuotientSum(n, x.ptr, 0, 0);
      assert.ok(Math.abs(elementSum(x) - total) <= 1e-12 * Math.abs(total), `n ${n}: sum ${elementSum(x)} vs ${total}`);
    }
  });
});

test("WASM max pooling picks the window maximum and routes the gradient to it (padding never wins)", () => {
  scope(() => {
    const x = parameter([-1, -2, -3, -4, -5, -6, -7, -8, -9], [1, 1, 3, 3]);
    const y = maxPool2d(x, { kernelSize: 2, stride: 2, padding: 1 });
    assert.deepEqual(y.toArray(), [-1, -2, -4, -5]);
    backward(y, { gradient: tensor([1, 2, 3, 4], [1, 1, 2, 2]) });
    assert.deepEqual(x.grad?.toArray(), [1, 2, 0, 3, 4, 0, 0, 0, 0]);
  });
});

test("max pooling fused with ReLU equals ReLU before and after max pooling, in values and gradients (ties, zeros, negative windows)", () => {
  for (const options of [{ kernelSize: 2 }, { kernelSize: 3, stride: 2, padding: 1 }]) {
    // Halves: many ties and zeros, and windows with no positive value.
    const values = randomValues(2 * 3 * 9 * 10, 23).map((v) => Math.round(v * 2) / 2 - 0.5);
    const run = (pool: (x: Tensor) => Tensor) =>
      scope(() => {
        const x = parameter(values, [2, 3, 9, 10]);
        const y = pool(x);
        backward(y, { gradient: tensor(randomValues(y.size, 24), y.shape) });
        return [y.toArray(), x.grad?.toArray()];
      });
    const fused = run((x) => maxPool2dRelu(x, options));
    assert.ok((fused[0] as number[]).some((v) => v === 0) && (fused[0] as number[]).some((v) => v > 0));
    const where = JSON.stringify(options);
    assert.deepEqual(
      fused,
      run((x) => relu(maxPool2d(x, options))),
      `after, ${where}`,
    );
    assert.deepEqual(
      fused,
      run((x) => maxPool2d(relu(x), options)),
      `before, ${where}`,
    );
  }
});

test("the 2x2 stride-2 SIMD path of max pooling equals a plain window scan, ties and NaN included", () => {
  // 13 wide: 6 outputs per row, a group of 4 then one overlapping the first; 7 wide: 3 outputs,
  // too few for a vector, all scalar.
  for (const width of [13, 7]) {
    scope(() => {
      const [planes, height] = [3, 6];
      const outW = Math.floor(width / 2);
      const values = randomValues(planes * height * width, 21).map((v) => Math.round(v * 2) / 2); // many ties
      values[5] = Number.NaN;
      values[width + 4] = Number.NaN;
      const x = parameter(values, [1, planes, height, width]);
      const y = maxPool2d(x, { kernelSize: 2, stride: 2 });
      const seed = randomValues(y.size, 22);
      backward(y, { gradient: tensor(seed, y.shape) });
      const expectedY: number[] = [];
      const expectedGrad = new Array<number>(values.length).fill(0);
      const stored = Float32Array.from(values);
      for (let p = 0; p < planes; p++) {
        for (let oh = 0; oh < 3; oh++) {
          for (let ow = 0; ow < outW; ow++) {
            let bestIndex = p * height * width + 2 * oh * width + 2 * ow;
            for (const [dh, dw] of [
              [0, 1],
              [1, 0],
              [1, 1],
            ]) {
              const index = p * height * width + (2 * oh + dh) * width + 2 * ow + dw;
              if (stored[index] > stored[bestIndex]) bestIndex = index;
            }
            expectedGrad[bestIndex] += Math.fround(seed[expectedY.length]);
            expectedY.push(stored[bestIndex]);
          }
        }
      }
      assert.deepEqual(y.toArray(), expectedY, `width ${width}`);
      assert.deepEqual(x.grad?.toArray(), expectedGrad.map(Math.fround), `width ${width}`);
    });
  }
});

// [channels, height, width, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW]
// with the output size it gives.
function convGeometry([channels, height, width, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW]: number[]): ConvGeometry {
  const outH = convOutputSize(height, kernelH, strideH, padH, dilationH);
  const outW = convOutputSize(width, kernelW, strideW, padW, dilationW);
  return { channels, height, width, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

test("WASM im2col and col2imAdd equal the TypeScript references for strides, padding and dilation", () => {
  const geometries = [
    [3, 7, 6, 3, 3, 1, 1, 1, 1, 1, 1],
    [2, 9, 8, 5, 3, 2, 3, 2, 0, 1, 2],
    [1, 5, 5, 2, 2, 1, 2, 3, 3, 2, 1],
    // Stride 1 and output as wide as the input: the shifted-plane path, with dilation, and with
    // kernel rows that fall wholly outside the input.
    [2, 6, 9, 3, 3, 1, 1, 2, 2, 2, 2],
    [2, 3, 5, 5, 3, 1, 1, 3, 1, 2, 1],
  ];
  for (const g of geometries.map(convGeometry)) {
    scope(() => {
      const { channels, height, width, kernelH, kernelW, outH, outW } = g;
      const input = tensor(randomValues(channels * height * width, 9));
      const columnsSize = channels * kernelH * kernelW * outH * outW;
      const [wasmColumns, referenceColumns] = [tensor(new Float32Array(columnsSize).fill(7)), tensor(new Float32Array(columnsSize).fill(-7))];
      im2col(g, input.offset, wasmColumns.offset);
      referenceIm2col(g, input.offset, referenceColumns.offset);
      assert.deepEqual(wasmColumns.data, referenceColumns.data, `im2col ${g}`);
      const [wasmImage, referenceImage] = [tensor(randomValues(input.size, 10)), tensor(randomValues(input.size, 10))];
      col2imAdd(g, wasmColumns.offset, wasmImage.offset);
      referenceCol2imAdd(g, referenceColumns.offset, referenceImage.offset);
      assert.deepEqual(wasmImage.data, referenceImage.data, `col2imAdd ${JSON.stringify(g)}`);
      // Side by side with another sample's columns (rows 2·plane apart), as the batched convolution lays them out.
      const plane = outH * outW;
      const wide = tensor(new Float32Array(2 * columnsSize).fill(3));
      im2col(g, input.offset, wide.offset + plane, 2 * plane);
      for (let row = 0; row < columnsSize / plane; row++) {
        assert.deepEqual(wide.data.subarray((2 * row + 1) * plane, (2 * row + 2) * plane), referenceColumns.data.subarray(row * plane, (row + 1) * plane), `strided row ${row}`);
        assert.ok(
          wide.data.subarray(2 * row * plane, (2 * row + 1) * plane).every((v) => v === 3),
          "the other sample's block is untouched",
        );
      }
      const [strided, plain] = [tensor(randomValues(input.size, 11)), tensor(randomValues(input.size, 11))];
      col2imAdd(g, wide.offset + plane, strided.offset, 2 * plane);
      referenceCol2imAdd(g, referenceColumns.offset, plain.offset);
      assert.deepEqual(strided.data, plain.data, "strided col2imAdd");
    });
  }
});

test("the sparse conv input gradient equals fold(Wᵀ·δ) from the reference GEMM and col2im, for every geometry and any density", () => {
  const geometries = [
    // Stride 1: blocks of four positions with padding lanes on both sides, and a remainder.
    [3, 14, 14, 5, 5, 1, 1, 2, 2, 1, 1],
    // One channel (a patch of 9, not a multiple of four), rows of fewer than four positions.
    [1, 6, 3, 3, 3, 1, 1, 1, 1, 1, 1],
    // Dilation, unequal padding, and stride 2 rows with stride 1 columns.
    [2, 11, 13, 3, 3, 2, 1, 2, 1, 2, 2],
    // Strided columns: the per-position path only.
    [2, 9, 8, 5, 3, 2, 3, 2, 0, 1, 2],
  ];
  for (const g of geometries.map(convGeometry)) {
    for (const density of [0.2, 1, 0]) {
      scope(() => {
        const { channels, height, width, kernelH, kernelW, outH, outW } = g;
        const channelsOut = 6;
        const patch = channels * kernelH * kernelW;
        const plane = outH * outW;
        const keep = new Random(12);
        const delta = tensor(
          randomValues(channelsOut * plane, 13).map((v) => (keep.uniform() < density ? v : 0)),
          [channelsOut, plane],
        );
        const weight = tensor(randomValues(channelsOut * patch, 14), [channelsOut, patch]);
        const start = randomValues(channels * height * width, 15);
        const [fused, reference] = [tensor(start), tensor(start)];
        sparseConvInputGradient(g, delta.offset, channelsOut, weight.offset, fused.offset);
        const columns = zeros([patch, plane]);
        referenceGemm({
          transA: true,
          transB: false,
          m: patch,
          n: plane,
          k: channelsOut,
          alpha: 1,
          a: weight.ptr,
          lda: patch,
          b: delta.ptr,
          ldb: plane,
          beta: 0,
          c: columns.ptr,
          ldc: plane,
        });
        referenceCol2imAdd(g, columns.offset, reference.offset);
        assertClose(fused.toArray(), reference.toArray(), 1e-5, 1e-5, `${JSON.stringify(g)}, density ${density}`);
        if (density === 0) assert.deepEqual(fused.toArray(), Array.from(Float32Array.from(start)), "an all-zero δ leaves the gradient as it was");
      });
    }
  }
});

test("WASM exp, tanh, sigmoid, leaky_relu and sqrt match their TypeScript references, forward and backward, at the extremes too", () => {
  const special = [
    0,
    -0,
    1e-8,
    -1e-8,
    0.3,
    -0.6249,
    0.6251,
    -3,
    9.5,
    20,
    -20,
    80,
    88.5,
    88.7,
    89,
    -87,
    -88.5,
    -100,
    Number.NaN,
    Number.POSITIVE_INFINITY,
    Number.NEGATIVE_INFINITY,
  ];
  const values = [...special, ...randomValues(61, 31).map((v) => 4 * v)]; // 82 values: the tail runs too
  const cases: Array<[string, (x: Tensor) => Tensor, (x: Tensor) => Tensor, number[]]> = [
    ["exp", exp, referenceActivations.exp, values],
    ["tanh", tanh, referenceActivations.tanh, values],
    ["sigmoid", sigmoid, referenceActivations.sigmoid, values],
    ["leaky_relu", (x) => leakyRelu(x, 0.2), (x) => referenceActivations.leakyRelu(x, 0.2), values],
    ["sqrt", sqrt, referenceActivations.sqrt, values.map(Math.abs)],
  ];
  for (const [name, wasm, reference, inputs] of cases) {
    scope(() => {
      const run = (fn: (x: Tensor) => Tensor) => {
        const x = parameter(inputs, [inputs.length]);
        const y = fn(x);
        backward(y, { gradient: tensor(randomValues(inputs.length, 32), [inputs.length]) });
        return [y.toArray(), x.grad?.toArray() ?? []];
      };
      const [[y, dx], [yRef, dxRef]] = [run(wasm), run(reference)];
      const close = (a: number, e: number) => Object.is(a, e) || (Number.isNaN(a) && Number.isNaN(e)) || Math.abs(a - e) <= 4e-7 * Math.abs(e) + 1e-30;
      y.forEach((v, i) => {
        assert.ok(close(v, yRef[i]), `${name}(${inputs[i]}) = ${v}, reference ${yRef[i]}`);
      });
      // Gradients reuse y, so they inherit its rounding, which 1 − y² amplifies where tanh saturates
      // (as in PyTorch): compare with rtol 2e-6 and a 1e-7 absolute floor (dy is about N(0, 1)).
      dx.forEach((v, i) => {
        assert.ok(close(v, dxRef[i]) || Math.abs(v - dxRef[i]) <= 2e-6 * Math.abs(dxRef[i]) + 1e-7, `${name}' at ${inputs[i]}: ${v}, reference ${dxRef[i]}`);
      });
    });
  }
});

test("WASM binary ops equal the strided TypeScript reference for same-shape, scalar, leading and trailing broadcasts", () => {
  const shapes: Array<[number[], number[]]> = [
    [
      [3, 7],
      [3, 7],
    ],
    [[3, 7], []],
    [[4, 5], [5]],
    [
      [2, 3, 6],
      [1, 6],
    ],
    [
      [2, 3, 2],
      [3, 2],
    ],
    // b broadcast along trailing axes too: per channel of NCHW, per row, runs with a scalar tail.
    [
      [2, 3, 4, 5],
      [3, 1, 1],
    ],
    [
      [4, 6],
      [4, 1],
    ],
    [
      [2, 3, 5, 3],
      [1, 3, 1, 1],
    ],
    [
      [2, 3, 1],
      [3, 1],
    ],
    // Broadcast along an inner axis between kept ones: the strided path.
    [
      [2, 3, 4],
      [2, 1, 4],
    ],
  ];
  for (const op of ["add", "sub", "mul", "div"] as BinaryOp[]) {
    for (const [aShape, bShape] of shapes) {
      scope(() => {
        const a = tensor(
          randomValues(
            aShape.reduce((x, y) => x * y, 1),
            41,
          ),
          aShape,
        );
        const b = tensor(
          randomValues(
            bShape.reduce((x, y) => x * y, 1),
            42,
          ).map((v) => (op === "div" ? v + Math.sign(v) * 0.5 : v)),
          bShape,
        );
        const fn = { add, sub, mul, div }[op];
        assert.deepEqual(fn(a, b).data, referenceBinary(op, a, b, aShape).data, `${op} ${aShape} ∘ ${bShape}`);
      });
    }
  }
});

test("WASM sums over an axis, and their gradient, match the TypeScript references", () => {
  for (const [shape, axis, scale] of [
    [[3, 5, 7], 1, 1],
    [[3, 5, 7], 2, 1 / 7],
    [[6, 9], 0, 1 / 6],
    [[37], 0, 1 / 37],
  ] as Array<[number[], number, number]>) {
    scope(() => {
      const x = tensor(
        randomValues(
          shape.reduce((a, b) => a * b, 1),
          51,
        ),
        shape,
      );
      const reduced = referenceSumAxis(x, axis, scale);
      const summed = scale === 1 ? sum(x, [axis], true) : mean(x, [axis], true);
      assertClose(summed.data, reduced.data, 1e-6, 1e-7, `sum over axis ${axis} of [${shape}]`);
      const g = tensor(randomValues(reduced.size, 52), reduced.shape);
      const xg = parameter(x.toArray(), shape);
      backward(scale === 1 ? sum(xg, [axis], true) : mean(xg, [axis], true), { gradient: g });
      // The kernel scales by the float32 of `scale`, the reference by its double: an ulp apart at most.
      assertClose(xg.grad?.data ?? [], referenceExpandAxis(g, shape, axis, scale).data, 2e-7, 1e-9, `gradient over axis ${axis}`);
    });
  }
});

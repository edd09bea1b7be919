import assert from "node:assert/strict";
import { test } from "node:test";
import { backward, noGrad } from "../src/engine/autograd.ts";
import { parameter, tensor, zeros } from "../src/engine/creation.ts";
import { add, div, mul, sub } from "../src/engine/ops/binary.ts";
import { conv2d, conv2dHyper } from "../src/engine/ops/conv2d.ts";
import { perSampleWeightGradients } from "../src/engine/ops/convSamples.ts";
import { linear } from "../src/engine/ops/linear.ts";
import { matmul } from "../src/engine/ops/matmul.ts";
import { max, mean, sum } from "../src/engine/ops/reduce.ts";
import { concat, reshape, slice, transpose } from "../src/engine/ops/shape.ts";
import { exp, log, sqrt } from "../src/engine/ops/unary.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { assertClose, checkGradients, randomValues } from "./helpers.ts";

// A parameter's gradient as numbers ([] without one); a call, so assertions that narrowed .grad
// to null earlier do not hide the gradient a later backward sets.
const gradOf = (p: Tensor): number[] => p.grad?.toArray() ?? [];

test("broadcasting add/sub/mul/div have correct values and gradients", () => {
  scope(() => {
    const a = tensor([1, 2, 3, 4, 5, 6], [2, 3]);
    const b = tensor([10, 20, 30], [3]);
    assertClose(add(a, b).data, [11, 22, 33, 14, 25, 36]);
    assertClose(sub(a, tensor([1, 2], [2, 1])).data, [0, 1, 2, 2, 3, 4]);
    assertClose(mul(a, 2).data, [2, 4, 6, 8, 10, 12]);
    assertClose(div(b, a).data, [10, 10, 10, 2.5, 4, 5]);
  });
  checkGradients((x, y) => add(x, y), [[2, 3], [3]]);
  checkGradients(
    (x, y) => sub(x, y),
    [
      [2, 3],
      [2, 1],
    ],
  );
  checkGradients(
    (x, y) => mul(x, y),
    [
      [4, 1, 3],
      [2, 3],
    ],
  );
  checkGradients(
    (x, y) => div(x, add(mul(y, y), 1)),
    [
      [2, 3],
      [1, 3],
    ],
  );
});

test("sum, mean and max over axes reduce and differentiate like PyTorch", () => {
  scope(() => {
    const x = tensor([1, 5, 3, 4, 2, 6], [2, 3]);
    assertClose(sum(x).data, [21]);
    assertClose(sum(x, 0).data, [5, 7, 9]);
    assertClose(mean(x, 1, true).data, [3, 4]);
    assert.deepEqual(mean(x, 1, true).shape, [2, 1]);
    assertClose(max(x, -1).data, [5, 6]);
    assertClose(max(x).data, [6]);
  });
  checkGradients((x) => sum(x, [0, 2]), [[2, 3, 4]]);
  checkGradients((x) => mean(x, 1), [[2, 3, 4]]);
  checkGradients((x) => max(x, 1), [[3, 5]]);
});

test("reshape, transpose, concat and slice move values and gradients", () => {
  scope(() => {
    const x = tensor([0, 1, 2, 3, 4, 5], [2, 3]);
    assert.deepEqual(reshape(x, [3, -1]).shape, [3, 2]);
    assertClose(transpose(x).data, [0, 3, 1, 4, 2, 5]);
    assertClose(concat([x, x], 1).data, [0, 1, 2, 0, 1, 2, 3, 4, 5, 3, 4, 5]);
    assertClose(slice(x, [0, 1], [2, 2]).data, [1, 2, 4, 5]);
    assert.throws(() => reshape(x, [4, 2]), /reshape: cannot reshape \[2, 3\] \(6 elements\) to \[4, 2\]/);
    assert.throws(() => add(x, tensor([1, 2], [2])), /add: shapes \[2, 3\] and \[2\] do not broadcast/);
  });
  checkGradients((x) => transpose(x, [2, 0, 1]), [[2, 3, 4]]);
  checkGradients(
    (x, y) => concat([x, y], 1),
    [
      [2, 2, 3],
      [2, 1, 3],
    ],
  );
  checkGradients((x) => slice(x, [1, 0, 1], [1, 2, -1]), [[2, 3, 4]]);
});

test("transpose moves every element for all 24 axis orders of a rank-4 tensor, float and int, through the batched-transpose and the strided paths", () => {
  const shape = [2, 3, 5, 7];
  const strides = [105, 35, 7, 1];
  const permutations = (axes: number[]): number[][] => (axes.length <= 1 ? [axes] : axes.flatMap((a) => permutations(axes.filter((b) => b !== a)).map((rest) => [a, ...rest])));
  scope(() => {
    const values = Array.from({ length: 210 }, (_, i) => i);
    for (const dtype of ["float32", "int32"] as const) {
      const x = tensor(values, shape, dtype);
      for (const perm of permutations([0, 1, 2, 3])) {
        const out = transpose(x, perm);
        const outShape = perm.map((a) => shape[a]);
        assert.deepEqual(out.shape, outShape);
        const expected: number[] = [];
        for (let i = 0; i < 210; i++) {
          let rest = i;
          let source = 0;
          for (let axis = 3; axis >= 0; axis--) {
            source += (rest % outShape[axis]) * strides[perm[axis]];
            rest = Math.floor(rest / outShape[axis]);
          }
          expected.push(source);
        }
        assert.deepEqual([...(dtype === "int32" ? out.ints : out.data)], expected, `${dtype} [${perm.join(", ")}]`);
      }
    }
  });
});

test("matmul with every transpose, exp, log and sqrt differentiate correctly", () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      checkGradients((a, b) => matmul(a, b, { transA, transB }), [transA ? [4, 3] : [3, 4], transB ? [5, 4] : [4, 5]]);
    }
  }
  checkGradients((x) => exp(x), [[5]]);
  checkGradients((x) => log(add(mul(x, x), 1)), [[5]]);
  checkGradients((x) => sqrt(add(mul(x, x), 1)), [[5]]);
});

test("gradients accumulate across uses and backward calls; noGrad records nothing", () => {
  scope(() => {
    const w = parameter([1, 2, 3], [3], "w");
    backward(sum(mul(w, w)));
    assertClose(w.grad?.data ?? [], [2, 4, 6]);
    backward(sum(add(w, w)));
    assertClose(w.grad?.data ?? [], [4, 6, 8]);
    const y = noGrad(() => mul(w, w));
    assert.equal(y.requiresGrad, false);
    assert.equal(y.node, null);
    assert.throws(() => backward(y), /does not require grad/);
    assert.throws(() => backward(mul(w, w)), /scalar loss or an explicit gradient/);
    w.grad?.dispose();
  });
});

test("a backward pass without accumulation asks ops only for the gradients that flow on", () => {
  scope(() => {
    const w1 = parameter([0.5, -1, 2, 0.25], [2, 2], "w1");
    const w2 = parameter([1, 3, -2, 0.5], [2, 2], "w2");
    const hidden = linear(tensor([1, 2], [1, 2]), w1, null);
    const out = linear(hidden, w2, null);
    const asked: Array<readonly boolean[] | undefined> = [];
    for (const node of [out.node, hidden.node]) {
      const original = node?.backward.bind(node);
      if (node && original)
        node.backward = (gradOut, needed) => {
          asked.push(needed);
          return original(gradOut, needed);
        };
    }
    backward(out, { gradient: tensor([1, 1], [1, 2]), accumulate: false });
    // [input, weight, bias]: the second layer passes its input's gradient on, the first nothing.
    assert.deepEqual(asked, [
      [true, false, false],
      [false, false, false],
    ]);
    assert.equal(w1.grad, null);
    assert.equal(w2.grad, null);
    backward(out, { gradient: tensor([1, 1], [1, 2]) });
    assert.deepEqual(asked.slice(2), [undefined, undefined]);
    assertClose(gradOf(w1), [-1, -2, 3.5, 7], 1e-6, 0);
  });
});

test("conv2d and its gradients equal direct window sums, computed per sample (outputs of 8x8 and more) or per chunk of samples (smaller)", () => {
  const settings = [
    { size: 10, stride: 1, padding: 1, dilation: 1, groups: 2 }, // 10x10 outputs: per sample
    { size: 19, stride: 2, padding: 2, dilation: 2, groups: 1 }, // 9x9 outputs: per sample
    { size: 7, stride: 1, padding: 0, dilation: 1, groups: 2 }, // 5x5 outputs: chunked
  ];
  for (const { size, stride, padding, dilation, groups } of settings) {
    scope(() => {
      const [batch, inChannels, outChannels, kernel] = [3, 4, 6, 3];
      const groupIn = inChannels / groups;
      const groupOut = outChannels / groups;
      const xs = randomValues(batch * inChannels * size * size, 6);
      const ws = randomValues(outChannels * groupIn * kernel * kernel, 7);
      const bs = randomValues(outChannels, 8);
      const x = parameter(xs, [batch, inChannels, size, size]);
      const weight = parameter(ws, [outChannels, groupIn, kernel, kernel]);
      const y = conv2d(x, weight, tensor(bs, [outChannels]), { stride, padding, dilation, groups });
      const outSize = Math.floor((size + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
      assert.deepEqual(y.shape, [batch, outChannels, outSize, outSize]);
      // A dense seed, so that the input gradient takes the dense path.
      const seed = randomValues(y.size, 9);
      backward(y, { gradient: tensor(seed, y.shape) });
      const expected: number[] = [];
      const [expectedX, expectedW] = [new Array<number>(xs.length).fill(0), new Array<number>(ws.length).fill(0)];
      for (let n = 0; n < batch; n++) {
        for (let o = 0; o < outChannels; o++) {
          const group = Math.floor(o / groupOut);
          for (let oh = 0; oh < outSize; oh++) {
            for (let ow = 0; ow < outSize; ow++) {
              let total = bs[o];
              const r = seed[expected.length];
              for (let c = 0; c < groupIn; c++) {
                for (let ki = 0; ki < kernel; ki++) {
                  for (let kj = 0; kj < kernel; kj++) {
                    const [ih, iw] = [oh * stride - padding + ki * dilation, ow * stride - padding + kj * dilation];
                    if (ih < 0 || ih >= size || iw < 0 || iw >= size) continue;
                    const [w, xi] = [((o * groupIn + c) * kernel + ki) * kernel + kj, ((n * inChannels + group * groupIn + c) * size + ih) * size + iw];
                    total += ws[w] * xs[xi];
                    expectedW[w] += r * xs[xi];
                    expectedX[xi] += r * ws[w];
                  }
                }
              }
              expected.push(total);
            }
          }
        }
      }
      const where = `conv2d ${size}x${size} stride ${stride} groups ${groups}`;
      assertClose(y.toArray(), expected, 1e-5, 1e-5, where);
      assertClose(gradOf(weight), expectedW, 1e-4, 1e-4, `${where}: weight gradient`);
      assertClose(gradOf(x), expectedX, 1e-5, 1e-5, `${where}: input gradient`);
    });
  }
});

test("conv2d's input gradient and per-sample weight gradients from mostly zero output gradients (summed from the nonzeros) equal the dense GEMM paths", () => {
  const settings = [
    { stride: 1, padding: 2, dilation: 1, groups: 1, kernel: 5 },
    { stride: 2, padding: 1, dilation: 2, groups: 2, kernel: 3 },
  ];
  for (const { stride, padding, dilation, groups, kernel } of settings) {
    scope(() => {
      const x = parameter(randomValues(3 * 4 * 9 * 9, 1), [3, 4, 9, 9]);
      const weight = parameter(randomValues(6 * (4 / groups) * kernel * kernel, 2), [6, 4 / groups, kernel, kernel]);
      const y = conv2d(x, weight, null, { stride, padding, dilation, groups });
      const dropped = new Random(3);
      const sparse = randomValues(y.size, 4).map((v) => (dropped.uniform() < 0.9 ? 0 : v));
      const dense = randomValues(y.size, 5);
      // By linearity, g(sparse) = g(sparse + dense) − g(dense), and both of those are dense.
      const gradientOf = (seed: number[]): number[] => {
        x.grad?.dispose();
        x.grad = null;
        backward(y, { gradient: tensor(seed, y.shape) });
        return gradOf(x);
      };
      const direct = gradientOf(sparse);
      const viaDense = gradientOf(sparse.map((v, i) => v + dense[i]));
      const denseOnly = gradientOf(dense);
      assert.ok(direct.some((v) => v !== 0));
      const hyper = conv2dHyper(x, weight, { stride, padding, dilation, groups });
      const perSample = (seed: number[]) => {
        const out = zeros([3, ...weight.shape]);
        perSampleWeightGradients(hyper, x, tensor(seed, y.shape), 0.5, out);
        return out.toArray();
      };
      const [sparseGradients, sumGradients, denseGradients] = [perSample(sparse), perSample(sparse.map((v, i) => v + dense[i])), perSample(dense)];
      assertClose(
        sparseGradients,
        sumGradients.map((v, i) => v - denseGradients[i]),
        1e-4,
        1e-4,
        `per-sample weight gradients, stride ${stride}, padding ${padding}, dilation ${dilation}, groups ${groups}`,
      );
      assertClose(
        direct,
        viaDense.map((v, i) => v - denseOnly[i]),
        1e-4,
        1e-4,
        `stride ${stride}, padding ${padding}, dilation ${dilation}, groups ${groups}`,
      );
    });
  }
});

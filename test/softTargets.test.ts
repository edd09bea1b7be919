import assert from "node:assert/strict";
import { test } from "node:test";
import { backward } from "../src/engine/autograd.ts";
import { parameter, tensor } from "../src/engine/creation.ts";
import { hessianVectorProduct } from "../src/engine/curvature/hvp.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import { metricBatch, targetClasses, targetTensor } from "../src/train/losses.ts";
import { assertClose, randomValues } from "./helpers.ts";

// Per-sample loss −Σ_c q̃_c·log p_c and its gradient Σq̃·p − q̃ with q̃ = (1−ε)q + ε/C, in float64.
function reference(logits: number[], targets: number[], classes: number, smoothing: number): { losses: number[]; gradients: number[] } {
  const losses: number[] = [];
  const gradients: number[] = [];
  for (let n = 0; n < logits.length / classes; n++) {
    const z = logits.slice(n * classes, (n + 1) * classes);
    const top = Math.max(...z);
    const logSum = top + Math.log(z.reduce((s, v) => s + Math.exp(v - top), 0));
    const q = targets.slice(n * classes, (n + 1) * classes).map((t) => (1 - smoothing) * t + smoothing / classes);
    const mass = q.reduce((a, b) => a + b, 0);
    losses.push(-q.reduce((s, qc, c) => s + qc * (z[c] - logSum), 0));
    for (let c = 0; c < classes; c++) gradients.push(Math.exp(z[c] - logSum) * mass - q[c]);
  }
  return { losses, gradients };
}

// Rows of random class probabilities, as MixUp blends them.
function softRows(rows: number, classes: number, seed: number): number[] {
  const random = new Random(seed);
  const values: number[] = [];
  for (let n = 0; n < rows; n++) {
    const row = Array.from({ length: classes }, () => random.uniform() ** 3);
    const total = row.reduce((a, b) => a + b, 0);
    values.push(...row.map((v) => Math.fround(v / total)));
  }
  return values;
}

for (const smoothing of [0, 0.1]) {
  test(`cross_entropy on soft targets [N, C] matches a float64 reference per sample, with its gradient (label smoothing ${smoothing})`, () => {
    const [rows, classes] = [6, 5];
    const logits = randomValues(rows * classes, 3).map((v) => Math.fround(3 * v));
    const targets = softRows(rows, classes, 4);
    const expected = reference(logits, targets, classes, smoothing);
    scope(() => {
      const z = parameter(logits, [rows, classes]);
      const losses = crossEntropy(z, tensor(targets, [rows, classes]), { labelSmoothing: smoothing });
      assertClose(losses.data, expected.losses, 1e-5, 1e-6, "per-sample loss");
      // The objective is the mean, so each row's gradient is scaled by 1/N.
      backward(mean(losses));
      assertClose(
        z.grad?.data ?? [],
        expected.gradients.map((g) => g / rows),
        1e-5,
        1e-7,
        "gradient",
      );
    });
  });
}

test("one-hot soft targets give the same losses and gradients as the labels they encode", () => {
  const [rows, classes] = [4, 3];
  const logits = randomValues(rows * classes, 8);
  const labels = [2, 0, 1, 1];
  const oneHot = labels.flatMap((y) => Array.from({ length: classes }, (_, c) => (c === y ? 1 : 0)));
  scope(() => {
    const run = (target: ReturnType<typeof tensor>) => {
      const z = parameter(logits, [rows, classes]);
      const losses = crossEntropy(z, target, { labelSmoothing: 0.2 });
      backward(mean(losses));
      return { losses: [...losses.data], gradient: [...(z.grad?.data ?? [])] };
    };
    const hard = run(tensor(labels, [rows], "int32"));
    const soft = run(tensor(oneHot, [rows, classes]));
    assertClose(soft.losses, hard.losses, 1e-6, 1e-7, "loss");
    assertClose(soft.gradient, hard.gradient, 1e-6, 1e-8, "gradient");
  });
});

test("soft targets that are not class probabilities are refused, naming the sample", () => {
  scope(() => {
    const logits = tensor([0, 0, 0, 0], [2, 2]);
    assert.throws(() => crossEntropy(logits, tensor([0.5, 0.5, 0.7, 0.7], [2, 2])), /soft targets of sample 1 sum to 1\.39\d*; class probabilities must sum to 1/);
    assert.throws(() => crossEntropy(logits, tensor([1.5, -0.5, 0.5, 0.5], [2, 2])), /soft target \[0, 1\] is -0\.5; class probabilities must be >= 0/);
    assert.throws(
      () => crossEntropy(logits, tensor([1, 0, 0], [1, 3])),
      /expected input \[N, C\] and int32 targets \[N\] or float32 class probabilities \[N, C\], got float32\[2, 2\] and float32\[1, 3\]/,
    );
  });
});

test("metrics score soft targets as their argmax class", () => {
  const soft = Float32Array.from([0.3, 0.7, 0, 0.6, 0.4, 0, 0.2, 0.2, 0.6]);
  assert.deepEqual([...targetClasses(soft, 3)], [1, 0, 2]);
  scope(() => {
    const spec = { name: "cross_entropy" as const };
    const output = tensor([0, 1, 0, 0, 0, 1, 0, 0, 1], [3, 3]);
    const { targets } = metricBatch(spec, output, targetTensor(spec, soft, output.shape));
    assert.deepEqual([...targets.ints], [1, 0, 2]);
  });
});

test("the curvature of cross_entropy on soft targets is the softmax Hessian: Hessian-vector products and exact factors", () => {
  const [rows, classes] = [3, 4];
  const logits = randomValues(rows * classes, 21);
  const direction = randomValues(rows * classes, 22);
  const probabilities = Array.from({ length: rows }, (_, n) => {
    const e = logits.slice(n * classes, (n + 1) * classes).map(Math.exp);
    return e.map((v) => v / e.reduce((a, b) => a + b));
  });
  // H_n v_n = p_n ∘ v_n − p_n (p_n · v_n), scaled by 1/N for the mean.
  const expected = probabilities.flatMap((p, n) => {
    const v = direction.slice(n * classes, (n + 1) * classes);
    const pv = p.reduce((s, pc, c) => s + pc * v[c], 0);
    return p.map((pc, c) => (pc * v[c] - pc * pv) / rows);
  });
  scope(() => {
    const z = parameter(logits, [rows, classes]);
    const perSample = crossEntropy(z, tensor(softRows(rows, classes, 23), [rows, classes]), { labelSmoothing: 0.1 });
    const [product] = hessianVectorProduct(mean(perSample), [z], [tensor(direction, [rows, classes])]);
    assertClose(product.data, expected, 1e-4, 1e-6, "Hessian-vector product");
    const weights = [0.5, 2, 1];
    const [factor] = perSample.node?.curvature?.lossFactors?.(tensor(weights, [rows])) ?? [];
    const columns = factor.columns.map((column) => column.toArray());
    for (let n = 0; n < rows; n++) {
      const p = probabilities[n];
      for (let i = 0; i < classes; i++) {
        for (let j = 0; j < classes; j++) {
          const sum = columns.reduce((total, column) => total + column[n * classes + i] * column[n * classes + j], 0);
          assertClose([sum], [weights[n] * ((i === j ? p[i] : 0) - p[i] * p[j])], 1e-4, 1e-6, `sample ${n}, entry ${i},${j}`);
        }
      }
    }
  });
});

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { goldenValues, toTensor } from "../src/conformance/golden.ts";
import type { QuantityCase } from "../src/conformance/quantities.ts";
import { parameter, tensor, zeros } from "../src/engine/creation.ts";
import { HessianVectorProducts, hessianVectorProduct } from "../src/engine/curvature/hvp.ts";
import { extremeEigenvalue } from "../src/engine/curvature/lanczos.ts";
import { ConvColumnSquares } from "../src/engine/extensions/convCurvature.ts";
import { backwardWithExtensions, type CurvatureKind } from "../src/engine/extensions/index.ts";
import type { Conv2dRecord } from "../src/engine/ops/conv2d.ts";
import { crossEntropy, mseLoss } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { Random } from "../src/engine/random.ts";
import { scope } from "../src/engine/scope.ts";
import { liveTensorCount, type Tensor } from "../src/engine/tensor.ts";
import type { Module } from "../src/nn/module.ts";
import { buildModel } from "../src/nn/spec.ts";
import { createOptimizer } from "../src/optim/registry.ts";
import { collectQuantityValues, configurations, createQuantities, type Quantity, QuantityTracker, type StepInfo } from "../src/quantities/index.ts";
import { assertClose, randomValues } from "./helpers.ts";

type Case = QuantityCase & { steps: Array<{ aux_float64: { diag_hessian: Array<{ value: unknown } | unknown>; hessian_eig_max_abs_signed: number } }> };

const reference = fileURLToPath(new URL("../reference/quantities.json", import.meta.url));
const cases = (JSON.parse(readFileSync(reference, "utf8")) as { cases: Case[] }).cases.filter((c) => c.name !== "mlp_adam");

/** H·v for v given as plain arrays, as plain arrays. */
function productOf(loss: Tensor, params: Tensor[], directions: ArrayLike<number>[]): number[][] {
  return scope(() =>
    hessianVectorProduct(
      loss,
      params,
      directions.map((d, k) => tensor(d, params[k].shape)),
    ).map((part) => part.toArray()),
  );
}

/** Runs `fn` with the case's model at θ_0 and the mean loss of batch 0 (graph alive). */
function atStepZero<T>(c: Case, fn: (loss: Tensor, model: Module) => T): T {
  const { model } = buildModel({ layers: c.model }, c.input_shape.slice(1), 0);
  const named = new Map(model.namedParameters());
  for (const p of c.initial_params) named.get(p.name)?.data.set(goldenValues(p.value));
  try {
    return scope(() => {
      const batch = c.batches[0];
      const output = model.forward(toTensor(batch.inputs));
      const target = toTensor(batch.targets);
      const perSample = c.loss.type === "mse" ? mseLoss(output, target) : crossEntropy(output, tensor(target.ints, target.shape, "int32"));
      return fn(mean(perSample), model);
    });
  } finally {
    model.dispose();
  }
}

const exactDiagonal = (c: Case): number[][] => c.steps[0].aux_float64.diag_hessian.map((entry) => goldenValues(((entry as { value?: unknown }).value ?? entry) as never));

test("Hessian-vector products are exact: H·e_j reproduces the float64 Hessian's diagonal, and H is symmetric", () => {
  for (const c of cases) {
    atStepZero(c, (loss, model) => {
      const params = model.parameters();
      const sizes = params.map((p) => p.size);
      const total = sizes.reduce((a, b) => a + b, 0);
      const columns: number[][] = [];
      for (let j = 0; j < total; j++) {
        let offset = 0;
        const directions = sizes.map((size) => {
          const d = new Float32Array(size);
          if (j >= offset && j < offset + size) d[j - offset] = 1;
          offset += size;
          return d;
        });
        columns.push(productOf(loss, params, directions).flat());
      }
      const diagonal = columns.map((column, j) => column[j]);
      assertClose(diagonal, exactDiagonal(c).flat(), 1e-4, 1e-6, `${c.name} diag(H)`);
      let asymmetry = 0;
      for (let i = 0; i < total; i++) for (let j = 0; j < i; j++) asymmetry = Math.max(asymmetry, Math.abs(columns[i][j] - columns[j][i]));
      assert.ok(asymmetry < 1e-5, `${c.name}: max |H_ij − H_ji| = ${asymmetry}`);
    });
  }
});

test("diag_h of a grouped conv under tanh (negative factor signs) equals H·e_j, and conv column squares agree however they are reduced", () => {
  const { model } = buildModel(
    {
      layers: [{ type: "conv2d", out_channels: 4, kernel_size: 3, padding: 1, groups: 2 }, { type: "tanh" }, { type: "flatten" }, { type: "linear", out: 3 }],
    },
    [2, 4, 4],
    5,
  );
  const params = model.parameters();
  scope(() => {
    const loss = mean(crossEntropy(model.forward(tensor(randomValues(3 * 32, 8), [3, 2, 4, 4])), tensor([0, 2, 1], [3], "int32")));
    const conv = findConv(loss);
    const byHvp = params.map((p, k) =>
      Array.from({ length: p.size }, (_, j) => {
        const directions = params.map((q) => new Float32Array(q.size));
        directions[k][j] = 1;
        return productOf(loss, params, directions)[k][j];
      }),
    );
    const stats = backwardWithExtensions(loss, { diagonalCurvature: { kind: "diag_h" } });
    for (const [k, p] of params.entries()) assertClose(stats.get(p)?.diagonalCurvature?.toArray() ?? [], byHvp[k], 1e-4, 1e-6, `diag_h of ${p.name}`);
    // Columns with dense and with mostly zero output gradients, reduced in one GEMM per sample
    // (sparseBelow 0) or gathered per channel (sparseBelow 2), together or, through a budget of
    // one float, one by one: all agree. Six columns: one four-row GEMM panel and two rows alone.
    assert.ok(conv);
    for (const zeroFraction of [0, 0.8]) {
      const reducers = [new ConvColumnSquares(conv, undefined, 0), new ConvColumnSquares(conv, 1, 0), new ConvColumnSquares(conv, undefined, 2), new ConvColumnSquares(conv, 1, 2)];
      for (const [seed, sign] of [
        [20, 1],
        [21, -1],
        [22, 1],
        [23, 1],
        [24, -1],
        [25, 1],
      ]) {
        const zeros = new Random(seed + 100);
        const values = randomValues(3 * 4 * 16, seed).map((v) => (zeros.uniform() < zeroFraction ? 0 : v));
        const column = tensor(values, [3, 4, 4, 4]);
        for (const reducer of reducers) reducer.add(column, sign);
      }
      for (const reducer of reducers) reducer.flush();
      const [reference, ...others] = reducers.map((reducer) => [reducer.weight?.toArray() ?? [], reducer.bias?.toArray() ?? []]);
      assert.ok(reference[0].some((v) => v !== 0));
      for (const [k, [weight, bias]] of others.entries()) {
        assertClose(weight, reference[0], 1e-5, 1e-7, `weight, zeros ${zeroFraction}, reducer ${k + 1}`);
        assertClose(bias, reference[1], 1e-5, 1e-7, `bias, zeros ${zeroFraction}, reducer ${k + 1}`);
      }
      for (const reducer of reducers) for (const t of [reducer.weight, reducer.bias]) t?.dispose();
    }
  });
  model.dispose();
});

/** The conv2d layer record in a loss's graph. */
function findConv(root: Tensor): Conv2dRecord | undefined {
  const stack = [root];
  while (stack.length > 0) {
    const node = stack.pop()?.node;
    if (node?.layer?.kind === "conv2d") return node.layer;
    for (const input of node?.inputs ?? []) if (input) stack.push(input);
  }
  return undefined;
}

test("one HessianVectorProducts serves many directions with the results of separate products, and frees what it kept", () => {
  const c = cases[0];
  atStepZero(c, (loss, model) => {
    const params = model.parameters();
    const directions = [1, 2, 3].map((seed) => params.map((p, k) => Float32Array.from(randomValues(p.size, 10 * seed + k))));
    const separate = directions.map((v) => productOf(loss, params, v));
    const live = liveTensorCount();
    const products = new HessianVectorProducts(loss, params);
    for (const [k, v] of directions.entries()) {
      assertClose(
        scope(() => products.multiply(v.map((d, i) => tensor(d, params[i].shape))).flatMap((part) => part.toArray())),
        separate[k].flat(),
        1e-6,
        1e-9,
        `direction ${k}`,
      );
    }
    products.dispose();
    assert.equal(liveTensorCount(), live);
  });
});

test("Lanczos on exact HVPs finds the float64 Hessian's eigenvalue of largest magnitude", () => {
  for (const c of cases) {
    const expected = c.steps[0].aux_float64.hessian_eig_max_abs_signed;
    const { value, iterations } = atStepZero(c, (loss, model) => {
      const params = model.parameters();
      const live = liveTensorCount();
      const estimate = extremeEigenvalue(
        (v) => hessianVectorProduct(loss, params, v),
        params.map((p) => p.shape),
        { random: new Random(3) },
      );
      assert.equal(liveTensorCount(), live, "Lanczos frees its vectors and the products");
      return estimate;
    });
    assertClose([value], [expected], 2e-3, 1e-6, `${c.name} λ_max`);
    assert.ok(iterations < 60, `${c.name}: ${iterations} Hessian-vector products`);
  }
});

test("cross-entropy's exact curvature factor: C − 1 columns whose Σ c cᵀ is diag(p) − ppᵀ per sample, weighted, also when probabilities underflow", () => {
  scope(() => {
    const logits = parameter([0.3, -1.2, 2.0, 0.5, 120, 0, -3, 1, -50, 4, 4, 9], [3, 4]);
    const loss = crossEntropy(logits, tensor([2, 0, 3], [3], "int32"));
    const weights = [0.5, 2, 1];
    const factors = loss.node?.curvature?.lossFactors?.(tensor(weights, [3])) ?? [];
    assert.equal(factors.length, 1);
    const columns = factors[0].columns.map((column) => column.toArray());
    assert.equal(columns.length, 3);
    const rows = logits.toArray();
    for (let n = 0; n < 3; n++) {
      const z = rows.slice(4 * n, 4 * n + 4);
      const top = Math.max(...z);
      const e = z.map((v) => Math.exp(v - top));
      const p = e.map((v) => v / e.reduce((a, b) => a + b));
      for (let i = 0; i < 4; i++) {
        for (let j = 0; j < 4; j++) {
          const product = columns.reduce((total, column) => total + column[4 * n + i] * column[4 * n + j], 0);
          assertClose([product], [weights[n] * ((i === j ? p[i] : 0) - p[i] * p[j])], 1e-5, 1e-7, `sample ${n}, entry ${i},${j}`);
        }
      }
    }
  });
});

test("Lanczos returns the end of largest magnitude, and stops once the other end cannot overtake it", () => {
  // A diagonal operator split over two tensors; the bulk spreads its eigenvalues evenly.
  const spectrum = (bulk: [number, number], outliers: number[]): number[] => {
    const values = Array.from({ length: 3000 }, (_, i) => bulk[0] + ((bulk[1] - bulk[0]) * i) / 2999);
    values.splice(0, outliers.length, ...outliers);
    return values;
  };
  const lanczosOn = (values: number[]) =>
    scope(() => {
      const parts = [values.slice(0, 1000), values.slice(1000)];
      return extremeEigenvalue(
        (v) =>
          v.map((part, k) =>
            tensor(
              part.toArray().map((x, i) => x * parts[k][i]),
              part.shape,
            ),
          ),
        [[1000], [2000]],
        { random: new Random(5) },
      );
    });
  const far = lanczosOn(spectrum([-3, 3], [11.2]));
  assertClose([far.value], [11.2], 1e-3, 0, "top outlier");
  assertClose([lanczosOn(spectrum([-3, 3], [10, -10.1])).value], [-10.1], 1e-3, 0, "the negative end, 1% larger");
  assertClose([lanczosOn(spectrum([-3, 3], [8, -9.5])).value], [-9.5], 1e-3, 0, "negative outlier");
  assertClose([lanczosOn(spectrum([-10, 6], [])).value], [-10], 1e-2, 0, "a continuous spectrum's far edge");
  // Alone, the bulk's edges settle slowly; beside the outlier its bottom edge need not.
  const bulk = lanczosOn(spectrum([-3, 3], []));
  assert.ok(far.iterations < bulk.iterations / 2, `${far.iterations} products with the outlier, ${bulk.iterations} for the bulk alone`);
});

test("the curvature diagonal extension: diag_h is the exact Hessian diagonal, diag_ggn_exact drops the activations' curvature, diag_ggn_mc estimates it", () => {
  const diagonals = (c: Case, kind: CurvatureKind, random?: Random): number[][] =>
    atStepZero(c, (loss, model) => {
      const stats = backwardWithExtensions(loss, { diagonalCurvature: { kind, random } });
      return model.parameters().map((p) => stats.get(p)?.diagonalCurvature?.toArray() ?? []);
    });
  for (const c of cases) assertClose(diagonals(c, "diag_h").flat(), exactDiagonal(c).flat(), 1e-4, 1e-6, `${c.name} diag_h`);
  // Only relu and maxpool: the Gauss-Newton diagonal is the Hessian's.
  const cnn = cases.find((c) => c.name === "cnn_sgd") as Case;
  assertClose(diagonals(cnn, "diag_ggn_exact").flat(), exactDiagonal(cnn).flat(), 1e-4, 1e-6, "cnn diag_ggn_exact");
  // The tanh layer's curvature makes them differ in the first layer, not in the last.
  const mlp = cases.find((c) => c.name === "mlp_sgd") as Case;
  const [ggn, exact] = [diagonals(mlp, "diag_ggn_exact"), exactDiagonal(mlp)];
  assert.ok(Math.abs(ggn[0].reduce((a, b) => a + b) - exact[0].reduce((a, b) => a + b)) > 1e-3);
  assertClose(ggn[5], exact[5], 1e-4, 1e-6, "last bias");
  const random = new Random(7);
  const samples = 400;
  const average = new Array(ggn.flat().length).fill(0);
  for (let s = 0; s < samples; s++)
    diagonals(mlp, "diag_ggn_mc", random)
      .flat()
      .forEach((v, i) => {
        average[i] += v / samples;
      });
  const trace = (values: number[]) => values.reduce((a, b) => a + b, 0);
  assert.ok(Math.abs(trace(average) / trace(ggn.flat()) - 1) < 0.05, `MC trace ${trace(average)} vs exact ${trace(ggn.flat())}`);
});

test("curvature errors name the op without second-order rules and the bad option", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 4 }, { type: "layernorm" }, { type: "linear", out: 3 }] }, [5], 0);
  scope(() => {
    const loss = mean(crossEntropy(model.forward(tensor(randomValues(10, 3), [2, 5])), tensor([0, 2], [2], "int32")));
    assert.throws(
      () => backwardWithExtensions(loss, { diagonalCurvature: { kind: "diag_h" } }),
      /the Hessian diagonal \(diag_h\) needs second-order rules, which op "layernorm" does not have/,
    );
    const params = model.parameters();
    assert.throws(
      () =>
        hessianVectorProduct(
          loss,
          params,
          params.map((p) => zeros(p.shape)),
        ),
      /Hessian-vector product needs second-order rules, which op "layernorm"/,
    );
  });
  model.dispose();
  assert.throws(
    () => createQuantities({ hess_trace: { curvature: "diag_x" } }, 1),
    /quantity hess_trace: curvature: expected one of "diag_h"\|"diag_ggn_exact"\|"diag_ggn_mc", got "diag_x"/,
  );
  assert.deepEqual(configurations.business.slice(-2), ["tic_diag", "hess_trace"]);
  assert.deepEqual(configurations.full.slice(-2), ["hess_max_ev", "grad_hist_2d"]);
});

test("the full configuration tracks the curvature quantities during SGD training, and HessMaxEV refuses to run once its step is over", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 6 }, { type: "tanh" }, { type: "linear", out: 3 }] }, [4], 5);
  const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.1 });
  let kept: StepInfo | null = null;
  const keep: Quantity = {
    name: "Keep",
    schedule: () => true,
    compute: (info) => {
      kept = info;
      return undefined;
    },
  };
  const tracker = new QuantityTracker([...createQuantities("full", 1), keep], model, optimizer);
  const outputs = collectQuantityValues(tracker);
  for (let t = 0; t < 2; t++) {
    scope(() => {
      optimizer.zeroGrad();
      const loss = mean(crossEntropy(model.forward(tensor(randomValues(20, t), [5, 4])), tensor([0, 1, 2, 0, 1], [5], "int32")));
      tracker.backward(loss, t);
      optimizer.step();
    });
  }
  const first = outputs.get(0) as Record<string, unknown>;
  for (const name of ["HessTrace", "TICDiag", "HessMaxEV", "GradHist2d", "Alpha"]) assert.ok(name in first, `${name} at step 0`);
  assert.equal((first.HessTrace as number[]).length, 4);
  assert.ok(Number.isFinite(first.HessMaxEV as number) && (first.HessMaxEV as number) !== 0);
  assert.throws(() => (kept as unknown as StepInfo).hessianVectorProduct([]), /only available while the step's quantities are computed/);
  optimizer.dispose();
  model.dispose();
});

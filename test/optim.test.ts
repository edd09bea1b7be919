import assert from "node:assert/strict";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { type GoldenTensor, goldenValues, readGolden } from "../src/conformance/golden.ts";
import { backward } from "../src/engine/autograd.ts";
import { parameter, tensor } from "../src/engine/creation.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { slice } from "../src/engine/ops/shape.ts";
import { scope } from "../src/engine/scope.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { buildModel } from "../src/nn/spec.ts";
import { clipGradNorm, createOptimizer, createScheduler, GradientAccumulation, LARS, nonFiniteGradients, type Optimizer, SGD } from "../src/optim/index.ts";
import { assertClose, randomValues } from "./helpers.ts";

function makeParams(seed: number): Tensor[] {
  return [parameter(randomValues(12, seed), [3, 4], "w").keep(), parameter(randomValues(4, seed + 1), [4], "b").keep()];
}

// A deterministic gradient sequence: step k's gradient depends on the current parameters.
function setGrads(params: Tensor[], k: number): void {
  params.forEach((p, i) => {
    p.grad?.dispose();
    p.grad = tensor(
      Array.from(p.data, (v, j) => Math.sin(v + 0.3 * k + j + i) + 0.1 * v),
      p.shape,
    ).keep();
  });
}

const configs: Array<[string, Record<string, unknown>]> = [
  ["sgd", { lr: 0.1, momentum: 0.9, nesterov: true, weight_decay: 0.01 }],
  ["adam", { lr: 0.01, amsgrad: true, weight_decay: 0.01 }],
  ["adamw", { lr: 0.01 }],
  ["rmsprop", { lr: 0.01, momentum: 0.5, centered: true }],
  ["adagrad", { lr: 0.1, lr_decay: 0.01, initial_accumulator_value: 0.1 }],
  ["nadam", { lr: 0.01 }],
  ["radam", { lr: 0.01 }],
  ["lars", { lr: 0.1, weight_decay: 0.001 }],
];

for (const [name, options] of configs) {
  test(`${name}: saving at step 3 and loading into fresh objects continues bit for bit`, () => {
    const run = (interrupt: boolean): Float32Array[] => {
      let params = makeParams(7);
      let optimizer: Optimizer = createOptimizer(name, params, options);
      for (let k = 0; k < 8; k++) {
        if (interrupt && k === 3) {
          const saved = { params: params.map((p) => p.data.slice()), state: optimizer.stateDict() };
          optimizer.dispose();
          for (const p of params) p.dispose();
          params = makeParams(99); // different values, overwritten by the snapshot
          for (const [i, p] of params.entries()) p.data.set(saved.params[i]);
          optimizer = createOptimizer(name, params, { lr: 123 }); // hyperparameters come from the snapshot
          optimizer.loadStateDict(
            JSON.parse(
              JSON.stringify(saved.state, (_, v) => (v instanceof Float32Array ? { f32: [...v] } : v)),
              (_, v) => (v?.f32 ? Float32Array.from(v.f32) : v),
            ),
          );
        }
        setGrads(params, k);
        optimizer.step();
      }
      const result = params.map((p) => p.data.slice());
      optimizer.dispose();
      for (const p of params) p.dispose();
      return result;
    };
    const straight = run(false);
    const resumed = run(true);
    assert.deepEqual(resumed, straight);
    assert.ok(
      straight[0].some((v, j) => v !== makeParamsValue(j)),
      "the parameters moved",
    );
  });
}

// PyTorch rounds 1 − β1 and 1 − β2 from double (1 − 0.9f in float32 is 0.100000024, not 0.1f)
// and keeps mu_product in a float32 tensor: either slip moves parameters by float32 roundings,
// which the golden trajectory shows bit for bit.
test("NAdam reproduces torch.optim.NAdam's golden trajectory bit for bit, mu_product included", () => {
  type Case = {
    name: string;
    hyper_given: Record<string, unknown>;
    initial_params: GoldenTensor[];
    grads: GoldenTensor[][];
    params_after: GoldenTensor[][];
    final_state: Array<{ mu_product: GoldenTensor }>;
  };
  const golden = readGolden<Case>(fileURLToPath(new URL("../reference/optimizers.json", import.meta.url)));
  const nadam = golden.cases.find((c) => c.name === "nadam");
  assert.ok(nadam, "optimizers.json has the nadam case");
  const params = nadam.initial_params.map((t, i) => parameter(goldenValues(t), t.shape, `p${i}`).keep());
  const optimizer = createOptimizer("nadam", params, nadam.hyper_given);
  nadam.grads.forEach((grads, step) => {
    params.forEach((p, i) => {
      p.grad?.dispose();
      p.grad = tensor(goldenValues(grads[i]), grads[i].shape).keep();
    });
    optimizer.step();
    for (const [i, p] of params.entries()) assert.deepEqual(p.data, Float32Array.from(goldenValues(nadam.params_after[step][i])), `step ${step + 1} p${i}`);
  });
  const state = optimizer.stateDict().state;
  for (const [i, expected] of nadam.final_state.entries()) assert.equal(state[i]?.values.muProduct, goldenValues(expected.mu_product)[0], `p${i} mu_product`);
  optimizer.dispose();
  for (const p of params) p.dispose();
});

// PyTorch's _single_tensor_nadam replayed one float32 rounding at a time (Math.fround after each
// tensor op; the scalars in double, as Python computes them). The lerp of exp_avg is fused on
// CPUs with FMA, in PyTorch and in the relaxed-SIMD kernels alike, so both forms are replayed.
function replayNAdam(
  h: { lr: number; betas: [number, number]; eps: number; weight_decay: number; momentum_decay: number; decoupled_weight_decay: boolean },
  initial: number[],
  grads: number[][],
  fusedLerp: boolean,
): Float32Array[] {
  const f = Math.fround;
  const [beta1, beta2] = h.betas;
  const p = Float32Array.from(initial);
  const m = new Float32Array(p.length);
  const v = new Float32Array(p.length);
  let muProduct = 1;
  return grads.map((g, k) => {
    const step = k + 1;
    const mu = beta1 * (1 - 0.5 * 0.96 ** (step * h.momentum_decay));
    const muNext = beta1 * (1 - 0.5 * 0.96 ** ((step + 1) * h.momentum_decay));
    muProduct = f(muProduct * f(mu));
    const gradCoef = f((-h.lr * (1 - mu)) / (1 - muProduct));
    const avgCoef = f((-h.lr * muNext) / (1 - muProduct * muNext));
    const bc2 = f(1 - beta2 ** step);
    for (let j = 0; j < p.length; j++) {
      let d = f(g[j]);
      if (h.decoupled_weight_decay) p[j] = f(p[j] * f(1 - h.lr * h.weight_decay));
      else d = f(d + f(f(h.weight_decay) * p[j]));
      const diff = f(d - m[j]);
      m[j] = fusedLerp ? f(f(1 - beta1) * diff + m[j]) : f(m[j] + f(f(1 - beta1) * diff));
      v[j] = f(f(f(beta2) * v[j]) + f(f(f(1 - beta2) * d) * d));
      const denom = f(f(Math.sqrt(f(v[j] / bc2))) + f(h.eps));
      p[j] = f(p[j] + f(f(gradCoef * d) / denom));
      p[j] = f(p[j] + f(f(avgCoef * m[j]) / denom));
    }
    return p.slice();
  });
}

test("NAdam follows PyTorch's order of operations with weight decay (L2 and decoupled) and other betas", () => {
  for (const decoupled of [false, true]) {
    const h = { lr: 0.01, betas: [0.8, 0.95] as [number, number], eps: 1e-6, weight_decay: 0.05, momentum_decay: 0.01, decoupled_weight_decay: decoupled };
    const initial = randomValues(10, 21).map(Math.fround);
    const grads = Array.from({ length: 8 }, (_, k) => randomValues(10, 30 + k).map((g) => Math.fround(0.05 * g)));
    const param = parameter(initial, [10], "p").keep();
    const optimizer = createOptimizer("nadam", [param], h);
    const trajectory = grads.map((g) => {
      param.grad?.dispose();
      param.grad = tensor(g, [10]).keep();
      optimizer.step();
      return param.data.slice();
    });
    const replays = [false, true].map((fused) => replayNAdam(h, initial, grads, fused));
    assert.ok(
      replays.some((replay) => replay.every((p, k) => p.every((x, j) => x === trajectory[k][j]))),
      `decoupled ${decoupled}: the trajectory is PyTorch's, rounding for rounding`,
    );
    optimizer.dispose();
    param.dispose();
  }
});

function makeParamsValue(j: number): number {
  return Math.fround(randomValues(12, 7)[j]);
}

test("hyperparameter errors name the optimizer and the field", () => {
  const params = makeParams(1);
  assert.throws(() => createOptimizer("sgd", params, { lr: -1 }), /SGD: lr must be a finite number >= 0, got -1/);
  assert.throws(() => createOptimizer("adam", params, { betas: [1.2, 0.999] }), /Adam: betas\[0\] must be in \[0, 1\), got 1.2/);
  assert.throws(() => createOptimizer("adamw", params, { eps: -1e-8 }), /AdamW: eps must be/);
  assert.throws(() => createOptimizer("sgd", params, { nesterov: true }), /SGD: nesterov must be used with momentum > 0 and dampening 0/);
  assert.throws(() => createOptimizer("adam", params, { weight_decy: 0.1 }), /unknown option "weight_decy" \(did you mean "weight_decay"\?\)/);
  assert.throws(() => createOptimizer("adamm", params), /unknown optimizer "adamm" \(did you mean "adam"\?\)/);
  assert.throws(() => new SGD([{ params: [params[0]] }, { params: [params[1]], lr: Number.NaN }]), /SGD: param group 1: lr must be/);
  for (const p of params) p.dispose();
});

test("parameter groups keep their own hyperparameters", () => {
  const [w, b] = makeParams(2);
  const before = [w.data.slice(), b.data.slice()];
  const optimizer = new SGD([{ params: [w] }, { params: [b], lr: 0 }], { lr: 0.5 });
  setGrads([w, b], 0);
  optimizer.step();
  assert.deepEqual(b.data, before[1], "lr 0 group unchanged");
  assert.deepEqual(
    w.data,
    before[0].map((v, j) => Math.fround(v - Math.fround(0.5 * (w.grad as Tensor).data[j]))),
  );
  optimizer.zeroGrad();
  assert.equal(w.grad, null);
  optimizer.dispose();
  w.dispose();
  b.dispose();
});

test("LARS scales each weight matrix's step by the trust ratio and leaves biases and norm parameters unadapted", () => {
  const [w, b] = makeParams(3);
  const [w0, b0] = [Float64Array.from(w.data), Float64Array.from(b.data)];
  const lars = new LARS([w, b], { lr: 0.1, momentum: 0, weightDecay: 0.01, trustCoefficient: 0.02 });
  setGrads([w, b], 0);
  const [gw, gb] = [Float64Array.from((w.grad as Tensor).data), Float64Array.from((b.grad as Tensor).data)];
  lars.step();
  const norm = (x: Float64Array) => Math.sqrt(x.reduce((s, v) => s + v * v, 0));
  const trust = (0.02 * norm(w0)) / (norm(gw) + 0.01 * norm(w0));
  assertClose(
    w.data,
    Array.from(w0, (v, j) => v - 0.1 * trust * (gw[j] + 0.01 * v)),
    0,
    1e-6,
    "w",
  );
  assertClose(
    b.data,
    Array.from(b0, (v, j) => v - 0.1 * gb[j]),
    0,
    1e-6,
    "b",
  );
  lars.dispose();
  w.dispose();
  b.dispose();
});

test("clipGradNorm reports a non-finite norm and leaves the gradients for the NaN check to name", () => {
  const [w, b] = makeParams(4);
  setGrads([w, b], 0);
  (b.grad as Tensor).data[2] = Number.NaN;
  const before = (w.grad as Tensor).data.slice();
  const result = clipGradNorm([w, b], 1);
  assert.equal(result.finite, false);
  assert.ok(Number.isNaN(result.totalNorm));
  assert.deepEqual((w.grad as Tensor).data, before);
  assert.deepEqual(
    nonFiniteGradients([
      ["w", w],
      ["b", b],
    ]),
    ["b"],
  );
  (b.grad as Tensor).data[2] = Number.POSITIVE_INFINITY;
  assert.equal(clipGradNorm([w, b], 1, "inf").totalNorm, Number.POSITIVE_INFINITY);
  w.dispose();
  b.dispose();
});

test("accumulating 4 micro-batches of 2 gives the gradient of the batch of 8", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 5 }, { type: "tanh" }, { type: "linear", out: 3 }] }, [4], 6);
  const xs = tensor(randomValues(32, 8), [8, 4]).keep();
  const ys = tensor([0, 1, 2, 0, 1, 2, 2, 1], [8], "int32").keep();
  scope(() => backward(mean(crossEntropy(model.forward(xs), ys))));
  const full = model.parameters().map((p) => (p.grad as Tensor).data.slice());
  model.zeroGrad();
  const accumulation = new GradientAccumulation(4);
  const ready: boolean[] = [];
  for (let m = 0; m < 4; m++) {
    scope(() => backward(mean(crossEntropy(model.forward(slice(xs, [2 * m, 0], [2, 4])), slice(ys, [2 * m], [2])))));
    ready.push(accumulation.ready(model.parameters()));
  }
  assert.deepEqual(ready, [false, false, false, true]);
  for (const [k, p] of model.parameters().entries()) assertClose((p.grad as Tensor).data, full[k], 0, 1e-6, `param ${k}`);
  model.dispose();
  xs.dispose();
  ys.dispose();
});

test("schedulers: state round-trips, chaining multiplies, sequential switches, and bad options are named", () => {
  const specs: Array<[string, Record<string, unknown>]> = [
    ["cosine_restarts", { t_0: 3, t_mult: 2 }],
    ["one_cycle", { max_lr: 1, total_steps: 20 }],
    ["plateau", { patience: 1, factor: 0.5 }],
    [
      "sequential",
      {
        schedulers: [
          { name: "linear", start_factor: 0.1, total_iters: 4 },
          { name: "cosine", t_max: 10 },
        ],
        milestones: [4],
      },
    ],
    [
      "chained",
      {
        schedulers: [
          { name: "exponential", gamma: 0.9 },
          { name: "step", step_size: 3, gamma: 0.5 },
        ],
      },
    ],
  ];
  const metric = (k: number) => [5, 4, 4, 4, 3, 3, 3, 3, 3, 2, 2, 2, 2, 2, 2, 1, 1, 1, 1, 1][k];
  for (const [name, options] of specs) {
    const trace = (interrupt: boolean): number[] => {
      const w = parameter([0], [1]).keep();
      let optimizer = createOptimizer("sgd", [w], { lr: 0.1, momentum: 0.9 });
      let scheduler = createScheduler(name, optimizer, options);
      const lrs: number[] = [];
      for (let k = 0; k < 19; k++) {
        if (interrupt && k === 7) {
          const saved = JSON.parse(JSON.stringify({ optimizer: optimizer.stateDict(), scheduler: scheduler.stateDict() }));
          optimizer = createOptimizer("sgd", [w], { lr: 0.1, momentum: 0.9 });
          scheduler = createScheduler(name, optimizer, options);
          optimizer.loadStateDict(saved.optimizer);
          scheduler.loadStateDict(saved.scheduler);
        }
        lrs.push(optimizer.paramGroups[0].hyper.lr);
        scheduler.step(metric(k));
      }
      w.dispose();
      return lrs;
    };
    assert.deepEqual(trace(true), trace(false), `${name} resumes exactly`);
  }
  const w = parameter([0], [1]).keep();
  const optimizer = createOptimizer("sgd", [w], { lr: 0.1 });
  const chained = createScheduler("chained", optimizer, specs[4][1]);
  for (let k = 1; k <= 7; k++) {
    chained.step();
    assert.ok(Math.abs(optimizer.paramGroups[0].hyper.lr - 0.1 * 0.9 ** k * 0.5 ** Math.floor(k / 3)) < 1e-15, `chained lr at ${k}`);
  }
  assert.throws(() => createScheduler("cosine", optimizer, { tmax: 3 }), /scheduler cosine: unknown option "tmax" \(did you mean "t_max"\?\)/);
  assert.throws(() => createScheduler("cosin", optimizer, {}), /unknown scheduler "cosin" \(did you mean "cosine"\?\)/);
  assert.throws(() => createScheduler("step", optimizer, { step_size: 0 }), /StepLR: stepSize must be a positive integer, got 0/);
  w.dispose();
});

test("Adam, AdamW and RAdam blend the moments with 1 − β computed in double, as torch.optim does (1 − 0.9f is not 0.1f)", () => {
  for (const name of ["adam", "adamw", "radam"]) {
    // 13 elements: three SIMD blocks and the scalar tail.
    const param = parameter(new Array(13).fill(0.5), [13]);
    param.grad = tensor(new Array(13).fill(1), [13]);
    const optimizer = createOptimizer(name, [param], { lr: 1e-3, betas: [0.9, 0.999], weight_decay: 0 });
    optimizer.step();
    const { buffers } = optimizer.stateDict().state[0]!;
    // One step from zero moments with gradient 1: m = (1 − β1)·1 and v = (1 − β2)·1·1.
    assert.deepEqual([...buffers.expAvg], new Array(13).fill(Math.fround(0.1)), `${name} exp_avg`);
    assert.deepEqual([...buffers.expAvgSq], new Array(13).fill(Math.fround(1 - 0.999)), `${name} exp_avg_sq`);
  }
});

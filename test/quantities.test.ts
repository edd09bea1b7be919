import assert from "node:assert/strict";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { backward } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { backwardWithExtensions } from "../src/engine/extensions/index.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { scope } from "../src/engine/scope.ts";
import type { Tensor } from "../src/engine/tensor.ts";
import { liveTensorCount } from "../src/engine/tensor.ts";
import { buildModel } from "../src/nn/spec.ts";
import { createOptimizer } from "../src/optim/registry.ts";
import { fitQuadratic } from "../src/quantities/alpha.ts";
import {
  CABS,
  collectQuantityValues,
  createQuantities,
  every,
  GradHist2d,
  GradientNoiseScale,
  GradNorm,
  Loss,
  logarithmic,
  NormTest,
  QuantityTracker,
  type StepInfo,
  type TrackerState,
  UpdateSize,
} from "../src/quantities/index.ts";
import { assertClose, randomValues } from "./helpers.ts";

test("schedules: every k with offset, logarithmic spacing", () => {
  const due = (s: (t: number) => boolean) => Array.from({ length: 12 }, (_, t) => t).filter(s);
  assert.deepEqual(due(every(3, 1)), [1, 4, 7, 10]);
  assert.deepEqual(due(logarithmic(1, 10, 4)), [0, 1, 2, 5, 10]);
});

test("the tracker runs only the due quantities' extensions, stores two-step values under the earlier step, and refuses CABS with Adam", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 4 }, { type: "tanh" }, { type: "linear", out: 3 }] }, [5], 2);
  const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.1 });
  const tracker = new QuantityTracker([new Loss(), new GradNorm(every(2)), new NormTest(every(2)), new UpdateSize()], model, optimizer);
  const outputs = collectQuantityValues(tracker);
  const step = (t: number) =>
    scope(() => {
      optimizer.zeroGrad();
      const loss = mean(crossEntropy(model.forward(tensor(randomValues(30, t), [6, 5])), tensor([0, 1, 2, 0, 1, 2], [6], "int32")));
      tracker.backward(loss, t);
      optimizer.step();
    });
  for (let t = 0; t < 4; t++) step(t);
  assert.deepEqual(Object.keys(outputs.get(0) ?? {}).sort(), ["GradNorm", "Loss", "NormTest", "UpdateSize"]);
  assert.deepEqual(Object.keys(outputs.get(1) ?? {}).sort(), ["Loss", "UpdateSize"]);
  assert.deepEqual(Object.keys(outputs.get(3) ?? {}).sort(), ["Loss"], "the last step's UpdateSize needs a next step");
  assert.equal((outputs.get(0) as Record<string, number[]>).GradNorm.length, 4);
  const adam = createOptimizer("adam", model.parameters());
  assert.throws(
    () => new QuantityTracker([new CABS()], model, adam),
    /CABS only supports zero-momentum SGD \(as Cockpit\); the optimizer is Adam/,
    "refused before training starts",
  );
  optimizer.dispose();
  adam.dispose();
  model.dispose();
});

test("the tracker publishes each value to every subscriber in order; one unsubscribed hears nothing more", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 3 }] }, [5], 8);
  const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.1 });
  const tracker = new QuantityTracker([new Loss(), new GradNorm(every(2)), new UpdateSize()], model, optimizer);
  const heard: Record<string, Array<[number, string]>> = { first: [], second: [], leaving: [] };
  const hear = (who: string) => (step: number, name: string) => heard[who].push([step, name]);
  tracker.subscribe(hear("first"));
  tracker.subscribe(hear("second"));
  const leave = tracker.subscribe(hear("leaving"));
  for (let t = 0; t < 3; t++) {
    if (t === 1) leave();
    scope(() => {
      optimizer.zeroGrad();
      tracker.backward(mean(crossEntropy(model.forward(tensor(randomValues(30, t), [6, 5])), tensor([0, 1, 2, 0, 1, 2], [6], "int32"))), t);
      optimizer.step();
    });
  }
  // UpdateSize of step t completes at the start of step t + 1, under step t.
  const expected: Array<[number, string]> = [
    [0, "Loss"],
    [0, "GradNorm"],
    [0, "UpdateSize"],
    [1, "Loss"],
    [1, "UpdateSize"],
    [2, "Loss"],
    [2, "GradNorm"],
  ];
  assert.deepEqual(heard.first, expected);
  assert.deepEqual(heard.second, expected);
  assert.deepEqual(heard.leaving, [
    [0, "Loss"],
    [0, "GradNorm"],
  ]);
  tracker.dispose();
  optimizer.dispose();
  model.dispose();
});

test("20 000 tracked steps hold the heap flat: it grows by less than 4 MiB, while keeping every value grows it past that within 5 000 steps", () => {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as () => void;
  const heapAfterGc = () => {
    gc();
    gc();
    return process.memoryUsage().heapUsed;
  };
  const bound = 4 * 2 ** 20;
  const growth = (steps: number, keepValues: boolean) => {
    const { model } = buildModel({ layers: [{ type: "linear", out: 3 }] }, [4], 9);
    const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.01 });
    const tracker = new QuantityTracker(createQuantities("economy", 1), model, optimizer);
    let published = 0;
    tracker.subscribe(() => {
      published++;
    });
    const kept = keepValues ? collectQuantityValues(tracker) : null;
    const inputs = randomValues(16, 10);
    const run = (from: number, to: number) => {
      for (let t = from; t < to; t++) {
        scope(() => {
          optimizer.zeroGrad();
          tracker.backward(mean(crossEntropy(model.forward(tensor(inputs, [4, 4])), tensor([0, 1, 2, 0], [4], "int32"))), t);
          optimizer.step();
        });
      }
    };
    // Warm-up: compiled code and the engine's pools reach their steady size.
    run(0, 500);
    const before = heapAfterGc();
    run(500, 500 + steps);
    const grown = heapAfterGc() - before;
    assert.equal(kept?.size ?? steps + 500, steps + 500);
    tracker.dispose();
    optimizer.dispose();
    model.dispose();
    return { grown, published };
  };
  const flat = growth(20_000, false);
  assert.ok(flat.published > 20_000 * 8, `every step publishes the economy quantities (${flat.published} values)`);
  assert.ok(flat.grown < bound, `the heap grew by ${(flat.grown / 2 ** 20).toFixed(2)} MiB over 20 000 steps`);
  const keeping = growth(5_000, true);
  assert.ok(keeping.grown > bound, `keeping every value grew the heap by only ${(keeping.grown / 2 ** 20).toFixed(2)} MiB: the measurement would not see growth`);
});

test("the tracker's engine copies: Distance and UpdateSize measure from θ_0 and θ_t, Alpha runs on its SGD and general paths, and dispose frees every copy", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 4 }, { type: "tanh" }, { type: "linear", out: 3 }] }, [5], 3);
  const norm = (a: Float32Array, b: Float32Array) => Math.sqrt(a.reduce((total, v, j) => total + (v - b[j]) ** 2, 0));
  // The parameters' .grad tensors are the model's; they exist from the first backward on.
  scope(() => backward(mean(crossEntropy(model.forward(tensor(randomValues(30, 9), [6, 5])), tensor([0, 1, 2, 0, 1, 2], [6], "int32")))));
  for (const [name, hyper] of [
    ["sgd", { lr: 0.1 }],
    ["adam", { lr: 0.01 }],
  ] as const) {
    const live = liveTensorCount();
    const optimizer = createOptimizer(name, model.parameters(), hyper);
    const tracker = new QuantityTracker(createQuantities("economy", 1), model, optimizer);
    const outputs = collectQuantityValues(tracker);
    const snapshots = [model.parameters().map((p) => p.data.slice())];
    for (let t = 0; t < 3; t++) {
      scope(() => {
        optimizer.zeroGrad();
        const loss = mean(crossEntropy(model.forward(tensor(randomValues(30, t), [6, 5])), tensor([0, 1, 2, 0, 1, 2], [6], "int32")));
        tracker.backward(loss, t);
        optimizer.step();
      });
      snapshots.push(model.parameters().map((p) => p.data.slice()));
    }
    const at = (t: number) => outputs.get(t) as Record<string, number | number[]>;
    assertClose(
      at(2).Distance as number[],
      snapshots[2].map((v, k) => norm(v, snapshots[0][k])),
      1e-6,
      1e-7,
      `${name} Distance`,
    );
    assertClose(
      at(1).UpdateSize as number[],
      snapshots[2].map((v, k) => norm(v, snapshots[1][k])),
      1e-6,
      1e-7,
      `${name} UpdateSize`,
    );
    for (const t of [0, 1]) assert.ok(Number.isFinite(at(t).Alpha as number), `${name} Alpha at step ${t}`);
    tracker.dispose();
    optimizer.dispose();
    assert.equal(liveTensorCount(), live, `${name}: no engine tensor outlives the tracker`);
  }
  model.dispose();
});

test("a tracker restored from a checkpoint's state computes what the uninterrupted one does: adapted ranges, Monte-Carlo diagonals and Lanczos start vectors continue", () => {
  const spec = { layers: [{ type: "linear", out: 4 }, { type: "tanh" }, { type: "linear", out: 3 }] };
  const config = {
    grad_hist_1d: { bins: 8, adapt: { policy: "grad_abs_max", padding: 0.1 } },
    hess_trace: { curvature: "diag_ggn_mc", seed: 5 },
    hess_max_ev: { seed: 6 },
  };
  const setup = () => {
    const { model } = buildModel(spec, [5], 7);
    const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.1 });
    const tracker = new QuantityTracker(createQuantities(config, 1), model, optimizer);
    return { model, optimizer, tracker, outputs: collectQuantityValues(tracker) };
  };
  const step = (run: ReturnType<typeof setup>, t: number) =>
    scope(() => {
      run.optimizer.zeroGrad();
      const loss = mean(crossEntropy(run.model.forward(tensor(randomValues(30, 40 + t), [6, 5])), tensor([0, 1, 2, 0, 1, 2], [6], "int32")));
      run.tracker.backward(loss, t);
      run.optimizer.step();
    });
  const straight = setup();
  let saved: { params: Float32Array[]; state: TrackerState } | null = null;
  for (let t = 0; t < 6; t++) {
    if (t === 3) {
      const state = straight.tracker.stateDict();
      // The quantities' states travel as the checkpoint's JSON.
      saved = { params: straight.model.parameters().map((p) => p.data.slice()), state: { ...state, quantities: JSON.parse(JSON.stringify(state.quantities)) } };
    }
    step(straight, t);
  }
  const fresh = setup();
  const resumed = setup();
  for (const run of [fresh, resumed]) {
    for (const [k, p] of run.model.parameters().entries()) p.data.set(saved?.params[k] ?? []);
  }
  resumed.tracker.loadStateDict(saved?.state as TrackerState);
  for (let t = 3; t < 6; t++) {
    step(fresh, t);
    step(resumed, t);
  }
  for (let t = 3; t < 6; t++) {
    for (const name of ["GradHist1d", "HessTrace", "HessMaxEV"]) {
      assert.deepEqual(resumed.outputs.get(t)?.[name], straight.outputs.get(t)?.[name], `${name} at step ${t}`);
    }
  }
  // Without the state the ranges restart from the configured ones and the samples from the seed.
  for (const name of ["GradHist1d", "HessTrace"]) assert.notDeepEqual(fresh.outputs.get(3)?.[name], straight.outputs.get(3)?.[name], name);
  assert.throws(
    () => fresh.tracker.loadStateDict({ ...(saved?.state as TrackerState), quantities: { GradHist1d: { ranges: [[1, -1]] } } }),
    /GradHist1d ranges \[\[1,-1\]\] are not 1 increasing \[lo, hi\] pairs/,
  );
  assert.throws(
    () => fresh.tracker.loadStateDict({ ...(saved?.state as TrackerState), quantities: { HessTrace: { random: [1, 2] } } }),
    /HessTrace random state \[1,2\] is not the 5 numbers of a generator/,
  );
  for (const run of [straight, fresh, resumed]) {
    run.tracker.dispose();
    run.optimizer.dispose();
    run.model.dispose();
  }
});

test("bin adaptation: after a step its schedule picks, GradHist2d's axes become ±(1 + padding)·max |g_i[j]| and ±max |θ|, and GradHist1d's likewise", () => {
  const { model } = buildModel({ layers: [{ type: "conv2d", out_channels: 2, kernel_size: 3 }, { type: "relu" }, { type: "flatten" }, { type: "linear", out: 3 }] }, [1, 5, 5], 4);
  const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.1 });
  const quantities = createQuantities(
    {
      grad_hist_1d: { bins: 10, adapt: { policy: "grad_abs_max", padding: 0.2, every: 2 } },
      grad_hist_2d: { bins: [4, 5], adapt: { x: { policy: "grad_abs_max", padding: 0.1 }, y: { policy: "param_abs_max" } } },
    },
    1,
  );
  const tracker = new QuantityTracker(quantities, model, optimizer);
  const outputs = collectQuantityValues(tracker);
  const largest: Array<{ gradient: number; parameter: number }> = [];
  for (let t = 0; t < 3; t++) {
    scope(() => {
      optimizer.zeroGrad();
      const x = tensor(randomValues(4 * 25, 20 + t), [4, 1, 5, 5]);
      const y = tensor([0, 1, 2, 0], [4], "int32");
      // Per-sample gradients by one backward per sample: the largest element in magnitude.
      let gradient = 0;
      for (let i = 0; i < 4; i++) {
        model.zeroGrad();
        backward(mean(crossEntropy(model.forward(tensor(x.toArray().slice(i * 25, (i + 1) * 25), [1, 1, 5, 5])), tensor([[0, 1, 2, 0][i]], [1], "int32"))));
        for (const p of model.parameters()) gradient = Math.max(gradient, ...Array.from(p.grad?.data ?? [], Math.abs));
      }
      largest.push({ gradient, parameter: Math.max(...model.parameters().flatMap((p) => Array.from(p.data, Math.abs))) });
      optimizer.zeroGrad();
      tracker.backward(mean(crossEntropy(model.forward(x), y)), t);
      optimizer.step();
    });
  }
  const edges = (t: number, name: string) => (outputs.get(t) as Record<string, { edges: number[] | number[][] }>)[name].edges;
  const ends = (e: number[]) => [e[0], e[e.length - 1]];
  assert.deepEqual(ends((edges(0, "GradHist2d") as number[][])[0]), [-1, 1], "step 0 uses the configured range");
  for (const t of [1, 2]) {
    const [x, y] = edges(t, "GradHist2d") as number[][];
    assertClose(ends(x), [-1.1 * largest[t - 1].gradient, 1.1 * largest[t - 1].gradient], 1e-5, 0, `x axis at step ${t}`);
    assertClose(ends(y), [-largest[t - 1].parameter, largest[t - 1].parameter], 1e-6, 0, `y axis at step ${t}`);
  }
  // Adapted after steps 0 and 2 only (every 2): step 1 and 2 histograms use step 0's maximum.
  for (const t of [1, 2]) assertClose(ends(edges(t, "GradHist1d") as number[]), [-1.2 * largest[0].gradient, 1.2 * largest[0].gradient], 1e-5, 0, `1-D range at step ${t}`);
  assert.throws(
    () => createQuantities({ grad_hist_1d: { adapt: { policy: "grad_max" } } }, 1),
    /quantity grad_hist_1d: adapt.policy: expected one of "grad_abs_max"\|"param_abs_max", got "grad_max"/,
  );
  tracker.dispose();
  optimizer.dispose();
  model.dispose();
});

test("the noise-aware quadratic fit: stepping to the minimum gives α = 0, across it α = 1, a concave fit −1", () => {
  const tiny: [number, number] = [1e-10, 1e-10];
  const toMinimum = fitQuadratic(1, [1, 0.5], [-1, 0], tiny, tiny);
  assertClose(toMinimum, [1, -1, 0.5], 1e-9, 1e-9, "μ");
  const alpha = (mu: number[], tau: number) => (mu[2] < 0 ? -1 : (2 * tau) / (-mu[1] / mu[2]) - 1);
  assert.ok(Math.abs(alpha(toMinimum, 1)) < 1e-9);
  assert.ok(Math.abs(alpha(fitQuadratic(2, [1, 1], [-1, 1], tiny, tiny), 2) - 1) < 1e-9);
  assert.equal(alpha(fitQuadratic(1, [1, 0], [-0.5, -1.5], tiny, tiny), 1), -1);
});

test("GradHist1d with per_parameter records each parameter's histogram as GradHist1d/<name>, in the total's bins, summing to it", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 4 }, { type: "tanh" }, { type: "linear", out: 3 }] }, [5], 6);
  const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.1 });
  const spec = { bins: 12, range: [-0.3, 0.3] as [number, number] };
  const tracker = new QuantityTracker(createQuantities({ grad_hist_1d: { ...spec, per_parameter: true } }, 1), model, optimizer);
  const outputs = collectQuantityValues(tracker);
  const loss = () => mean(crossEntropy(model.forward(tensor(randomValues(30, 31), [6, 5])), tensor([0, 1, 2, 0, 1, 2], [6], "int32")));
  // Each parameter's own counts, from the extension directly at the same θ and batch.
  const expected = scope(() => {
    const stats = backwardWithExtensions(loss(), { hist1d: spec });
    return model.namedParameters().map(([name, p]) => [name, Array.from(stats.get(p)?.hist1d ?? [])] as const);
  });
  model.zeroGrad();
  scope(() => tracker.backward(loss(), 0));
  const out = outputs.get(0) as Record<string, { hist: number[]; edges: number[] }>;
  assert.deepEqual(Object.keys(out).sort(), ["GradHist1d", ...expected.map(([name]) => `GradHist1d/${name}`)].sort());
  const summed = new Array<number>(spec.bins).fill(0);
  for (const [name, counts] of expected) {
    assert.deepEqual(out[`GradHist1d/${name}`].hist, counts, name);
    assert.deepEqual(out[`GradHist1d/${name}`].edges, out.GradHist1d.edges, name);
    counts.forEach((c, i) => {
      summed[i] += c;
    });
  }
  assert.ok(expected.every(([, counts]) => counts.some((c) => c > 0)));
  assert.deepEqual(out.GradHist1d.hist, summed);
  assert.throws(() => createQuantities({ grad_hist_1d: { per_parameter: "yes" } }, 1), /quantity grad_hist_1d: per_parameter: expected boolean, received string/);
  tracker.dispose();
  optimizer.dispose();
  model.dispose();
});

test("GradHist2d defaults to Cockpit's 40 gradient × 50 parameter bins over [−1, 1] × [−2, 2], built directly or from the config", () => {
  const { model } = buildModel({ layers: [{ type: "linear", out: 3 }] }, [4], 5);
  const optimizer = createOptimizer("sgd", model.parameters(), { lr: 0.1 });
  const fromConfig = createQuantities({ grad_hist_2d: true }, 1);
  for (const quantity of [new GradHist2d(), fromConfig[0] as GradHist2d]) {
    assert.deepEqual(quantity.bins, [40, 50]);
    assert.deepEqual(quantity.range, [
      [-1, 1],
      [-2, 2],
    ]);
  }
  const tracker = new QuantityTracker(fromConfig, model, optimizer);
  const outputs = collectQuantityValues(tracker);
  scope(() => {
    tracker.backward(mean(crossEntropy(model.forward(tensor(randomValues(20, 3), [5, 4])), tensor([0, 1, 2, 0, 1], [5], "int32"))), 0);
  });
  const { hist, edges } = (outputs.get(0) as Record<string, { hist: number[][]; edges: number[][] }>).GradHist2d;
  assert.deepEqual([hist.length, hist[0].length, edges[0].length, edges[1].length], [40, 50, 41, 51]);
  assert.equal(
    hist.flat().reduce((a, b) => a + b, 0),
    5 * (3 * 4 + 3),
    "every (g_i[j], θ[j]) pair counted once",
  );
  tracker.dispose();
});

// A step as GradientNoiseScale reads it: N, ‖g‖² and Σ_i‖g_i‖² (one parameter tensor).
function noiseStep(n: number, gradSquared: number, sumL2: number): StepInfo {
  const parameter = {} as Tensor;
  const batchL2 = new Float64Array(n).fill(sumL2 / n);
  return { batchSize: n, gradSquaredNorms: [gradSquared], params: [{ name: "w", tensor: parameter }], stats: new Map([[parameter, { batchL2 }]]) } as unknown as StepInfo;
}

test("the gradient noise scale reports the per-step ratio and McCandlish et al.'s smoothed one: the ratio of the EMAs of tr(Σ) and ‖G‖²", () => {
  const n = 8;
  // tr(Σ) ≈ 8 and ‖g‖² around 1.2: the per-step ‖G‖² estimate ‖g‖² − tr(Σ)/N straddles 0.
  const measured = [
    [1.6, 68],
    [0.9, 68],
    [1.5, 66],
    [0.95, 70],
    [1.7, 64],
    [0.9, 66],
  ];
  const quantity = new GradientNoiseScale(undefined, 0.9);
  let [averageTrace, averageSignal] = [0, 0];
  const raw: number[] = [];
  for (const [gradSquared, sumL2] of measured) {
    const value = quantity.compute(noiseStep(n, gradSquared, sumL2));
    const trace = (sumL2 - n * gradSquared) / (n - 1);
    const signal = gradSquared - trace / n;
    averageTrace = 0.9 * averageTrace + 0.1 * trace;
    averageSignal = 0.9 * averageSignal + 0.1 * signal;
    assertClose([value.total as number], [trace / signal], 1e-12, 0);
    assertClose([value.parts.smoothed as number], [averageTrace / averageSignal], 1e-12, 0);
    assert.ok((value.parts.smoothed as number) > 0, "the smoothed estimate stays positive");
    raw.push(value.total as number);
  }
  assert.ok(raw.some((v) => v < 0) && raw.some((v) => v > 0), `the per-step estimate changes sign: ${raw.join(", ")}`);
  assert.throws(() => new GradientNoiseScale(undefined, 1), /GradientNoiseScale smoothing: expected a number in \[0, 1\), got 1/);
  assert.equal((createQuantities({ gradient_noise_scale: { smoothing: 0.9 } }, 1)[0] as GradientNoiseScale).smoothing, 0.9, "smoothing is a config option");
  assert.equal((createQuantities({ gradient_noise_scale: true }, 1)[0] as GradientNoiseScale).smoothing, 0.95);
});

test("the gradient noise scale's averages survive a checkpoint: a resumed run continues them exactly", () => {
  const steps = Array.from({ length: 6 }, (_, t) => noiseStep(4, 0.5 + 0.1 * t, 9 + Math.sin(t)));
  const uninterrupted = new GradientNoiseScale();
  const expected = steps.map((s) => uninterrupted.compute(s).parts.smoothed);
  const first = new GradientNoiseScale();
  for (const s of steps.slice(0, 3)) first.compute(s);
  const { model } = buildModel({ layers: [{ type: "linear", out: 2 }] }, [3], 1);
  const tracker = new QuantityTracker([first], model, createOptimizer("sgd", model.parameters(), { lr: 0.1 }));
  const saved: TrackerState = JSON.parse(JSON.stringify(tracker.stateDict()));
  tracker.dispose();
  assert.deepEqual(Object.keys(saved.quantities ?? {}), ["GradientNoiseScale"], "the tracker checkpoints the averages");
  const resumed = new GradientNoiseScale();
  resumed.loadStateDict(saved.quantities?.GradientNoiseScale);
  assert.deepEqual(
    steps.slice(3).map((s) => resumed.compute(s).parts.smoothed),
    expected.slice(3),
  );
  assert.throws(() => resumed.loadStateDict({ trace: 1 }), /checkpoint's GradientNoiseScale state \{"trace":1\} is not \{ trace, gradSquared \}/);
});

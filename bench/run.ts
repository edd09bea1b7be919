// `npm run bench`: engine figures as medians of repeated runs, with ratios against
// TensorFlow.js-wasm measured in the same process. Figures only; nothing is asserted.
import { cpus } from "node:os";
import { tensor } from "../src/engine/creation.ts";
import { gemm } from "../src/engine/kernels/gemm.ts";
import { engineMemory } from "../src/engine/memory.ts";
import { Tensor } from "../src/engine/tensor.ts";
import { instantiateKernels } from "../src/engine/wasm.ts";
import { buildModel } from "../src/nn/spec.ts";
import { Adam } from "../src/optim/adam.ts";
import { SGD } from "../src/optim/sgd.ts";
import { dashboardAtScale, throughputWithDashboard } from "./dashboard.ts";
import { type LoopEpoch, loopOverhead } from "./loop.ts";
import { deepobsProblems, fmnist2c2d, mnistMlp, overheadRatio, quantityOverhead, trackingIntervals } from "./quantities.ts";
import { initTfjsWasm, tfjsCnnStep, tfjsMlpStep, tfjsNormalizationStep } from "./tfjsPeer.ts";
import { interleavedMedianMs, median, medianMs, quantile } from "./timing.ts";
import { cnnSpec, convStatisticRoutes, gradscopeNormalizationStep, gradscopeStep, mlpSpec, normalizationShapes } from "./workloads.ts";

interface Row {
  name: string;
  value: string;
  unit: string;
  ratio: string;
}
// Each row is printed as soon as it is measured, so that a run cut short keeps what it measured.
function report(row: Row): void {
  console.log(`| ${row.name} | ${row.value} | ${row.unit} | ${row.ratio} |`);
}
console.log(`gradscope bench: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores, Node ${process.version}, kernels ${engineMemory.flavor}, single thread`);
console.log(`| benchmark | value | unit | ratio |\n|---|---:|---|---:|`);
const format = (x: number, digits = 1) => x.toFixed(digits);

// The plain-SIMD build on the same memory, for its own GEMM floor, when the relaxed one runs.
const plainKernels = engineMemory.flavor === "relaxed-simd" ? instantiateKernels(engineMemory.memory, "simd").kernels : null;

// GFLOP/s of GEMM n³ (and of the plain-SIMD build's GEMM) and of the multiply-add ceiling doing
// the same float work, timed in turn so that all see the host's speed of the moment.
function gemmAgainstCeiling(n: number): { gemm: number; plain: number | null; ceiling: number } {
  const a = new Tensor([n, n]);
  const b = new Tensor([n, n]);
  const c = new Tensor([n, n]);
  a.data.fill(0.5);
  b.data.fill(0.25);
  const flops = 2 * n ** 3;
  const roundFlops = 12 * 4 * 2; // twelve four-lane multiply-adds
  const rounds = Math.round(flops / roundFlops);
  const plain = plainKernels;
  const [gemmMs, ceilingMs, plainMs] = interleavedMedianMs(
    [
      () => gemm({ transA: false, transB: false, m: n, n, k: n, alpha: 1, a: a.ptr, lda: n, b: b.ptr, ldb: n, beta: 0, c: c.ptr, ldc: n }),
      () => engineMemory.kernels.multiplyAddCeiling(rounds, 1),
      ...(plain ? [() => plain.gemm(0, 0, n, n, n, 1, a.ptr, n, b.ptr, n, 0, c.ptr, n, engineMemory.workspace(plain.gemmWorkspaceBytes()))] : []),
    ],
    7,
    1,
  );
  for (const t of [a, b, c]) t.dispose();
  return { gemm: flops / gemmMs / 1e6, plain: plainMs === undefined ? null : flops / plainMs / 1e6, ceiling: (rounds * roundFlops) / ceilingMs / 1e6 };
}

// Each step closure repeated `stepsPerRun` times per timing, all timed in turn (see
// interleavedMedianMs); milliseconds per step.
function interleavedStepMs(steps: ReadonlyArray<() => void>, stepsPerRun: number): number[] {
  const repeated = steps.map((step) => () => {
    for (let i = 0; i < stepsPerRun; i++) step();
  });
  return interleavedMedianMs(repeated, 7, 1).map((ms) => ms / stepsPerRun);
}

for (const n of [512, 1024]) {
  const { gemm: gflops, plain, ceiling } = gemmAgainstCeiling(n);
  report({
    name: `GEMM ${n}^3`,
    value: format(gflops),
    unit: "GFLOP/s",
    ratio: `${format((100 * gflops) / ceiling, 0)}% of the multiply-add ceiling (${format(ceiling)} GFLOP/s, timed in turn)`,
  });
  if (plain !== null) report({ name: `GEMM ${n}^3, plain SIMD build`, value: format(plain), unit: "GFLOP/s", ratio: `${format((100 * plain) / ceiling, 0)}% of the ceiling` });
}

// The optimizer update of the DeepOBS mnist_mlp (784-1000-500-100-10, 1.34 M parameters).
const { model: deepobsMlp } = buildModel({ layers: mnistMlp.layers }, mnistMlp.input, 0);
const deepobsParams = deepobsMlp.parameters();
for (const p of deepobsParams) p.grad = tensor(new Float32Array(p.size).fill(1e-3), p.shape).keep();
for (const [label, optimizer] of [
  ["SGD momentum 0.9", new SGD(deepobsParams, { lr: 0.01, momentum: 0.9 })],
  ["Adam", new Adam(deepobsParams, { lr: 0.001 })],
] as const) {
  optimizer.step();
  const ms = medianMs(() => optimizer.step(), 15, 3);
  report({ name: `${label} update, ${(deepobsMlp.parameterCount() / 1e6).toFixed(2)} M params`, value: format(ms, 3), unit: "ms", ratio: "" });
  optimizer.dispose();
}
deepobsMlp.dispose();

const backend = await initTfjsWasm();
const workloads = [
  { name: "MLP 784-256-128-10 step, batch 128", spec: mlpSpec, input: [784], batch: 128, peer: () => tfjsMlpStep(128), steps: 20 },
  { name: "CNN 2x(conv3x3-relu-pool)-fc10 step, batch 64", spec: cnnSpec, input: [1, 28, 28], batch: 64, peer: () => tfjsCnnStep(64), steps: 5 },
];
for (const w of workloads) {
  const ours = gradscopeStep(w.spec, w.input, w.batch);
  // The MLP's statistics steps are timed in the same rounds as the plain step they are a ratio to.
  const extended =
    w.spec === mlpSpec
      ? [
          gradscopeStep(w.spec, w.input, w.batch, { batchL2: true, batchDot: true }),
          gradscopeStep(w.spec, w.input, w.batch, { batchL2: true, batchDot: true, hist1d: { bins: 20, range: [-1, 1] } }),
        ]
      : [];
  const [plainMs, peerMs, ...extendedMs] = interleavedStepMs([ours.step, w.peer(), ...extended.map((e) => e.step)], w.steps);
  report({ name: `${w.name} (gradscope)`, value: format(1000 / plainMs), unit: "steps/s", ratio: `${format(peerMs / plainMs, 2)}x tfjs` });
  report({ name: `${w.name} (tfjs ${backend})`, value: format(1000 / peerMs), unit: "steps/s", ratio: "1.00x" });
  for (const [k, label] of ["MLP step + batchL2 + batchDot (every layer)", "MLP step + batchL2 + batchDot + hist1d(20)"].entries()) {
    if (extendedMs[k] === undefined) continue;
    report({ name: label, value: format(extendedMs[k], 2), unit: "ms/step", ratio: `${format(extendedMs[k] / plainMs, 2)}x plain` });
  }
  for (const e of extended) e.dispose();
  ours.dispose();
}

// The normalization layers, forward and backward.
for (const kind of ["batchnorm2d", "layernorm"] as const) {
  const ours = gradscopeNormalizationStep(kind);
  const [oursMs, peerMs] = interleavedMedianMs([ours.step, tfjsNormalizationStep(kind)], 7, 2);
  ours.dispose();
  const name = `${kind === "batchnorm2d" ? "BatchNorm2d (train)" : "LayerNorm"} forward + backward, [${normalizationShapes[kind].join(", ")}]`;
  report({ name: `${name} (gradscope)`, value: format(oursMs, 2), unit: "ms", ratio: `${format(peerMs / oursMs, 2)}x tfjs` });
  report({ name: `${name} (tfjs ${backend})`, value: format(peerMs, 2), unit: "ms", ratio: "1.00x" });
}

// fmnist_2c2d's conv weights: batchL2 + batchDot by the rule table's route (materializing, on
// these 28×28 and 14×14 planes) against materializing, and by the Gram closed form, whose
// batchDot grows as N²·P² and is timed at batch 8.
{
  const routes = convStatisticRoutes(fmnist2c2d.layers, fmnist2c2d.input, 128);
  const [tableMs, materializedMs, gramL2Ms, materializedL2Ms] = interleavedMedianMs([routes.table, routes.materialized, routes.gramBatchL2, routes.materializedBatchL2], 5, 1);
  routes.dispose();
  const small = convStatisticRoutes(fmnist2c2d.layers, fmnist2c2d.input, 8);
  const [gramSmallMs, materializedSmallMs] = interleavedMedianMs([small.gram, small.materialized], 3, 1);
  small.dispose();
  const name = "fmnist_2c2d conv weights";
  report({
    name: `${name} batchL2 + batchDot, batch 128 (rule table)`,
    value: format(tableMs),
    unit: "ms",
    ratio: `${format(tableMs / materializedMs, 2)}x materialized (${format(materializedMs)} ms)`,
  });
  report({
    name: `${name} batchL2 by the Gram closed form, batch 128`,
    value: format(gramL2Ms),
    unit: "ms",
    ratio: `${format(gramL2Ms / materializedL2Ms, 2)}x materialized (${format(materializedL2Ms)} ms)`,
  });
  report({
    name: `${name} batchL2 + batchDot by the Gram closed form, batch 8`,
    value: format(gramSmallMs),
    unit: "ms",
    ratio: `${format(gramSmallMs / materializedSmallMs, 2)}x materialized (${format(materializedSmallMs, 2)} ms)`,
  });
}

// Cockpit's configurations on DeepOBS problems, as ratios to the plain SGD step.
for (const problem of deepobsProblems) {
  const configurations = ["economy", "business", "full"];
  const timings = quantityOverhead(problem, configurations);
  report({ name: `${problem.name} plain SGD step, batch 128`, value: format(timings.plainMs, 1), unit: "ms", ratio: "1.00x" });
  for (const configuration of configurations) {
    const ratios = trackingIntervals.map((every) => `${format(overheadRatio(timings, configuration, every), 2)}x`);
    report({ name: `${problem.name} ${configuration}, tracked every ${trackingIntervals.join(" / ")} steps`, value: ratios.join(" / "), unit: "per step", ratio: "vs plain" });
  }
}

// The fit loop's overhead: the median of 7 epochs (a first, which warms up, left out).
const loop = await loopOverhead(8);
const overheadOf = (epoch: LoopEpoch) => (epoch.epochMs - epoch.kernelMs) / epoch.epochMs;
const medianEpoch = loop.epochs.slice(1).sort((a, b) => overheadOf(a) - overheadOf(b))[3];
report({ name: `Fashion-MNIST MLP epoch through the Trainer (${loop.steps} steps)`, value: format(medianEpoch.epochMs, 0), unit: "ms", ratio: "" });
report({
  name: "of which in forward, loss, backward and the optimizer",
  value: format(medianEpoch.kernelMs, 0),
  unit: "ms",
  ratio: `loop overhead ${format(100 * overheadOf(medianEpoch), 1)}%`,
});

// The dashboard (needs /usr/bin/chromium): a large store, and training with the page open.
const scale = await dashboardAtScale();
report({
  name: `dashboard first render of a run, ${scale.rows / 1e6} M scalar rows in the store (5 runs × 20 quantities × 100 k steps)`,
  value: format(median(scale.firstRenderMs), 0),
  unit: "ms",
  ratio: "median of 3 loads",
});
// The first load meets a server and a page that have run nothing yet: what a user opening the
// printed address sees.
report({ name: "the same, the first load after the server started (cold)", value: format(scale.firstRenderMs[0], 0), unit: "ms", ratio: "" });
report({
  name: "dashboard longest frame while 20 values per step stream in at 50 steps/s",
  value: format(scale.longestFrameMs, 1),
  unit: "ms",
  ratio: `${scale.longTasks} tasks > 100 ms`,
});
const throughput = await throughputWithDashboard();
const spread = (values: number[]) => {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const deviation = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (values.length - 1));
  return `mean ${format(mean, 3)} ± ${format(deviation / Math.sqrt(values.length), 3)} (standard error) over ${values.length}, quartiles ${format(quantile(values, 0.25), 3)}–${format(quantile(values, 0.75), 3)}`;
};
report({
  name: "Fashion-MNIST MLP (SGD + economy) with the dashboard streaming in Chromium, 1 s windows between windows of the same page frozen, in one run",
  value: format(median(throughput.streaming), 3),
  unit: "x steps/s of the frozen windows (median)",
  ratio: spread(throughput.streaming),
});
report({
  name: "the same for control windows, frozen too (the spread left by the host's drift)",
  value: format(median(throughput.control), 3),
  unit: "x steps/s of the frozen windows (median)",
  ratio: spread(throughput.control),
});
// What a frozen page still costs (its stream stays connected) shows in the trainer's waits for a
// CPU, which, unlike step rates, the host's drift does not blur; the two vCPUs do not slow each
// other down otherwise.
const { none, frozen, streaming } = throughput.waitShare;
report({
  name: "the same, share of the time the trainer waited for a CPU: no page / page frozen / streaming (medians)",
  value: `${format(100 * none, 2)} / ${format(100 * frozen, 2)} / ${format(100 * streaming, 2)}`,
  unit: "%",
  ratio: `${format((1 - frozen) / (1 - none), 3)}x throughput from the frozen page's waits`,
});

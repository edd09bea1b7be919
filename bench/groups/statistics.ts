// Per-sample statistics: what batchL2, batchDot and a histogram add to a training step, and the
// routes to the conv weights' statistics.
import { fmnist2c2d } from "../quantities.ts";
import { type BenchGroup, type BenchRow, once } from "../registry.ts";
import { allThreads, atThreads } from "../threadCount.ts";
import { interleavedMedianMs } from "../timing.ts";
import { convStatisticRoutes, gradscopeStep, mlpSpec } from "../workloads.ts";

const mlpStepsPerRun = 20;

// The MLP step plain and with statistics for every layer, at 1 thread and at all threads, all
// timed in the same rounds; milliseconds per step.
const mlpStatistics = once(() => {
  const plain = gradscopeStep(mlpSpec, [784], 128);
  const dot = gradscopeStep(mlpSpec, [784], 128, { batchL2: true, batchDot: true });
  const histogram = gradscopeStep(mlpSpec, [784], 128, { batchL2: true, batchDot: true, hist1d: { bins: 20, range: [-1, 1] } });
  const repeated = (threads: number, step: () => void) =>
    atThreads(threads, () => {
      for (let i = 0; i < mlpStepsPerRun; i++) step();
    });
  const [plainOne, dotOne, histogramOne, plainAll, dotAll] = interleavedMedianMs(
    [repeated(1, plain.step), repeated(1, dot.step), repeated(1, histogram.step), repeated(allThreads, plain.step), repeated(allThreads, dot.step)],
    7,
    1,
  ).map((ms) => ms / mlpStepsPerRun);
  for (const w of [plain, dot, histogram]) w.dispose();
  return { plainOne, dotOne, histogramOne, plainAll, dotAll };
});

function mlpRow(name: string, threads: number, pick: (t: ReturnType<typeof mlpStatistics>) => [ms: number, plainMs: number]): BenchRow {
  return {
    name,
    threads,
    measure: () => {
      const [ms, plainMs] = pick(mlpStatistics());
      return { value: ms, unit: "ms/step", digits: 2, ratio: { value: ms / plainMs, of: "the plain step" }, note: `plain ${plainMs.toFixed(2)} ms at the same threads` };
    },
  };
}

// fmnist_2c2d's conv weights: batchL2 + batchDot by the rule table's route (materializing, on
// these 28×28 and 14×14 planes) against materializing, and by the Gram closed form, whose
// batchDot grows as N²·P² and is timed at batch 8.
const convRoutes = once(() => {
  const routes = convStatisticRoutes(fmnist2c2d.layers, fmnist2c2d.input, 128);
  const [tableMs, materializedMs, gramL2Ms, materializedL2Ms] = interleavedMedianMs([routes.table, routes.materialized, routes.gramBatchL2, routes.materializedBatchL2], 5, 1);
  routes.dispose();
  const small = convStatisticRoutes(fmnist2c2d.layers, fmnist2c2d.input, 8);
  const [gramSmallMs, materializedSmallMs] = interleavedMedianMs([small.gram, small.materialized], 3, 1);
  small.dispose();
  return { tableMs, materializedMs, gramL2Ms, materializedL2Ms, gramSmallMs, materializedSmallMs };
});

function convRow(name: string, pick: (t: ReturnType<typeof convRoutes>) => [ms: number, materializedMs: number]): BenchRow {
  return {
    name: `fmnist_2c2d conv weights ${name}, 1 thread`,
    threads: 1,
    measure: () => {
      const [ms, materializedMs] = pick(convRoutes());
      return { value: ms, unit: "ms", ratio: { value: ms / materializedMs, of: "materialized" }, note: `materialized ${materializedMs.toFixed(1)} ms` };
    },
  };
}

export const statisticsGroup: BenchGroup = {
  name: "statistics",
  rows: [
    mlpRow("MLP step + batchL2 + batchDot (every layer), 1 thread", 1, (t) => [t.dotOne, t.plainOne]),
    mlpRow("MLP step + batchL2 + batchDot + hist1d(20), 1 thread", 1, (t) => [t.histogramOne, t.plainOne]),
    mlpRow("MLP step + batchL2 + batchDot (every layer), all threads", allThreads, (t) => [t.dotAll, t.plainAll]),
    convRow("batchL2 + batchDot, batch 128 (rule table)", (t) => [t.tableMs, t.materializedMs]),
    convRow("batchL2 by the Gram closed form, batch 128", (t) => [t.gramL2Ms, t.materializedL2Ms]),
    convRow("batchL2 + batchDot by the Gram closed form, batch 8", (t) => [t.gramSmallMs, t.materializedSmallMs]),
  ],
};

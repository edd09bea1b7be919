import { backward, noGrad } from "../src/engine/autograd.ts";
import { tensor } from "../src/engine/creation.ts";
import { crossEntropy } from "../src/engine/ops/losses.ts";
import { mean } from "../src/engine/ops/reduce.ts";
import { scope } from "../src/engine/scope.ts";
import { architectureLayers, buildModel, type LayerSpec } from "../src/nn/spec.ts";
import { SGD } from "../src/optim/sgd.ts";
import { configurations, createQuantities, QuantityTracker } from "../src/quantities/index.ts";
import { interleavedMedianMs } from "./timing.ts";
import { randomBatch } from "./workloads.ts";

/** A training problem (a DeepOBS one, or a model-zoo net): its model and input shape (batch 128 in the benchmarks). */
export interface TrainingProblem {
  name: string;
  layers: LayerSpec[];
  input: number[];
}

/** DeepOBS's mnist_mlp: 784-1000-500-100-10 with ReLU. */
export const mnistMlp: TrainingProblem = { name: "mnist_mlp", layers: architectureLayers({ arch: "mlp", hidden: [1000, 500, 100] }, [784]), input: [784] };

/** DeepOBS's fmnist_2c2d: conv5x5x32-maxpool-conv5x5x64-maxpool-fc1024-fc10. */
export const fmnist2c2d: TrainingProblem = { name: "fmnist_2c2d", layers: architectureLayers({ arch: "2c2d" }, [1, 28, 28]), input: [1, 28, 28] };

/** The problems of the quantities issue's overhead benchmark. */
export const deepobsProblems = [mnistMlp, fmnist2c2d];

/** Timings of one problem: the plain step and, per configuration, a tracked step and the one after it. */
export interface OverheadTimings {
  plainMs: number;
  /** ms of a step where everything is due (every = 1: each step is due and completes the last). */
  everyStepMs: Record<string, number>;
  /** ms of a due step plus the following (not due) step, which completes UpdateSize and Alpha (empty unless asked for). */
  duePairMs: Record<string, number>;
  /** The tracker's warnings, e.g. the quantities skipped under a train-mode batch norm. */
  warnings: string[];
}

/**
 * Times Cockpit's configurations on a problem with SGD and the QuantityTracker. A step that is
 * neither due nor completing is a plain backward, so the cost per step at `every k` is
 * (due pair + (k − 2)·plain)/k; every 1 is measured directly, and the due pairs only with
 * `duePairs`.
 */
export function quantityOverhead(problem: TrainingProblem, configurations: string[], { runs = 3, duePairs = true } = {}): OverheadTimings {
  const batchSize = 128;
  const { model } = buildModel({ layers: problem.layers }, problem.input, 0);
  const optimizer = new SGD(model.parameters(), { lr: 0.01 });
  const batch = randomBatch([batchSize, ...problem.input], 10, 1);
  const step = (tracker: QuantityTracker | null, t: number) =>
    scope(() => {
      optimizer.zeroGrad();
      const x = tensor(batch.inputs, [batchSize, ...problem.input]);
      const y = tensor(batch.labels, [batchSize], "int32");
      const loss = mean(crossEntropy(model.forward(x), y));
      if (tracker) tracker.backward(loss, t);
      else backward(loss);
      noGrad(() => optimizer.step());
    });
  const warnings = new Set<string>();
  const tracker = (configuration: string, every: number) => {
    const created = new QuantityTracker(createQuantities(configurationSection(configuration), every), model, optimizer);
    created.warn = (message) => warnings.add(message);
    return created;
  };
  const trackers = configurations.map((configuration) => {
    const everyStep = tracker(configuration, 1);
    // Due at even steps only: each timed call is a due step and the completing step after it.
    const alternate = duePairs ? tracker(configuration, 2) : null;
    return { everyStep, alternate, t: 0, u: 0 };
  });
  const calls = [
    () => step(null, 0),
    ...trackers.flatMap((k) => {
      const { alternate } = k;
      const everyStep = () => step(k.everyStep, k.t++);
      if (!alternate) return [everyStep];
      return [
        everyStep,
        () => {
          step(alternate, k.u++);
          step(alternate, k.u++);
        },
      ];
    }),
  ];
  // All timed in turn, so each ratio compares calls made moments apart; two warm-up rounds, as the
  // first tracked steps also compile the quantities' code paths. The trackers share the model, so
  // the parameters a tracker sees change between its calls: timings, not values, are the point.
  const [plainMs, ...trackedMs] = interleavedMedianMs(calls, runs, 2);
  const everyStepMs: Record<string, number> = {};
  const duePairMs: Record<string, number> = {};
  const perConfiguration = duePairs ? 2 : 1;
  for (const [i, configuration] of configurations.entries()) {
    everyStepMs[configuration] = trackedMs[perConfiguration * i];
    if (duePairs) duePairMs[configuration] = trackedMs[perConfiguration * i + 1];
    trackers[i].everyStep.dispose();
    trackers[i].alternate?.dispose();
  }
  optimizer.dispose();
  model.dispose();
  return { plainMs, everyStepMs, duePairMs, warnings: [...warnings] };
}

/** The tracking intervals the quantities issue asks for. */
export const trackingIntervals = [1, 4, 16, 64];

/** The per-step cost at `every k` as a ratio to the plain step. */
export function overheadRatio(timings: OverheadTimings, configuration: string, every: number): number {
  if (every === 1) return timings.everyStepMs[configuration] / timings.plainMs;
  return (timings.duePairMs[configuration] + (every - 2) * timings.plainMs) / (every * timings.plainMs);
}

// A configuration name, or a single quantity's config name (for per-quantity timings).
const configurationSection = (name: string): string | Record<string, boolean> => (name in configurations ? name : { [name]: true });

import { parameter } from "../engine/creation.ts";
import { createOptimizer, createScheduler, type Options } from "../optim/registry.ts";
import { type Comparison, compareValues, type Tolerance } from "./compare.ts";

/** One case of schedulers.json (see shared/reference/README.md §5). */
export interface SchedulerCase {
  name: string;
  scheduler: string;
  hyper: Record<string, unknown>;
  optimizer: { type: string; lr: number; momentum?: number };
  num_steps: number;
  lrs: number[];
  metrics?: number[];
  momentums?: number[];
}

// torch class name -> gradscope config name.
const schedulerNames: Record<string, string> = {
  StepLR: "step",
  MultiStepLR: "multistep",
  ExponentialLR: "exponential",
  CosineAnnealingLR: "cosine",
  CosineAnnealingWarmRestarts: "cosine_restarts",
  LinearLR: "linear",
  PolynomialLR: "polynomial",
  OneCycleLR: "one_cycle",
  SequentialLR: "sequential",
  ReduceLROnPlateau: "plateau",
  ChainedScheduler: "chained",
};

const className = (path: string) => path.split(".").pop() ?? path;

/** Whether gradscope implements this case's scheduler. */
export function coversSchedulerCase(c: SchedulerCase): boolean {
  return className(c.scheduler) in schedulerNames;
}

// PyTorch's argument names -> the config's (T_max -> t_max; nested schedulers get names).
function options(hyper: Record<string, unknown>): Options {
  const out: Options = {};
  for (const [key, value] of Object.entries(hyper)) {
    if (key === "schedulers" && Array.isArray(value)) {
      out.schedulers = value.map((spec: Record<string, unknown>) => {
        const { type, ...rest } = spec;
        return { name: schedulerNames[String(type)] ?? type, ...options(rest) };
      });
    } else out[key.replace(/^T_/, "t_")] = value;
  }
  return out;
}

/** Follows the README's recording protocol for 40 steps and compares the lrs (and momentums). */
export function runSchedulerCase(c: SchedulerCase, tolerance: Tolerance): Comparison[] {
  const weight = parameter([0], [1], "w").keep();
  const optimizer = createOptimizer(c.optimizer.type.toLowerCase(), [weight], { lr: c.optimizer.lr, momentum: c.optimizer.momentum ?? 0 });
  try {
    const scheduler = createScheduler(schedulerNames[className(c.scheduler)], optimizer, options(c.hyper));
    const lrs: number[] = [];
    const momentums: number[] = [];
    for (let i = 0; i < c.num_steps; i++) {
      const hyper = optimizer.paramGroups[0].hyper as { lr: number; momentum?: number };
      lrs.push(hyper.lr);
      momentums.push(hyper.momentum ?? Number.NaN);
      scheduler.step(c.metrics?.[i]);
    }
    const comparisons = [compareValues("lrs", lrs, c.lrs, tolerance)];
    if (c.momentums) comparisons.push(compareValues("momentums", momentums, c.momentums, tolerance));
    return comparisons;
  } finally {
    optimizer.dispose();
    weight.dispose();
  }
}

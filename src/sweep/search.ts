import { Random } from "../engine/random.ts";
import { gridPoints, type Params, sampleParams } from "./space.ts";
import type { SweepSpec } from "./spec.ts";
import { type Observation, suggestTpe } from "./tpe.ts";

/** A finished trial's parameters and metric (null: failed, or never logged). */
export interface FinishedTrial {
  params: Params;
  metric: number | null;
}

/** Proposes the parameters of the next trial, given the trials finished so far. */
export interface Search {
  /** How many trials the sweep runs. */
  readonly trials: number;
  /** The next trial's parameters; `finished` feeds model-based methods (TPE). */
  next(finished: FinishedTrial[]): Params;
}

/**
 * A finished trial as a loss to minimize: the metric, negated when the goal is to maximize it;
 * a failed trial (no finite metric) is the worst, so that TPE learns to avoid where it failed.
 */
export function lossOf(metric: number | null, goal: "minimize" | "maximize"): number {
  if (metric === null || !Number.isFinite(metric)) return Number.POSITIVE_INFINITY;
  return goal === "minimize" ? metric : -metric;
}

/**
 * The search a sweep's `method` names. grid: every combination in order (or the first
 * `budget.trials`); random: independent draws; tpe: `tpe.startup_trials` random draws, then
 * TPE on the finished trials. Random draws and TPE are seeded by `seed`: the same sweep file
 * proposes the same trials.
 */
export function createSearch(spec: SweepSpec): Search {
  const random = new Random(spec.seed);
  if (spec.method === "grid") {
    const points = gridPoints(spec.parameters);
    let index = 0;
    return { trials: Math.min(points.length, spec.budget?.trials ?? points.length), next: () => points[index++] };
  }
  const trials = spec.budget?.trials ?? 0;
  if (spec.method === "random") return { trials, next: () => sampleParams(spec.parameters, random) };
  let proposed = 0;
  return {
    trials,
    next(finished) {
      proposed++;
      const observations: Observation[] = finished.map((t) => ({ params: t.params, loss: lossOf(t.metric, spec.metric.goal) }));
      if (proposed <= spec.tpe.startup_trials || observations.length === 0) return sampleParams(spec.parameters, random);
      return suggestTpe(spec.parameters, observations, random, spec.tpe);
    },
  };
}

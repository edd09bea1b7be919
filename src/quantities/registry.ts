import { closestName } from "../nn/spec.ts";
import { Alpha } from "./alpha.ts";
import { Distance, GradNorm, Loss, Time, UpdateSize } from "./basic.ts";
import { HessMaxEV, HessTrace, TICDiag, TICTrace } from "./curvature.ts";
import { GradientNoiseScale, InnerTest, NormTest, OrthoTest } from "./gradientTests.ts";
import { type BinAdaptation, GradHist1d, GradHist2d } from "./histograms.ts";
import type { Quantity } from "./quantity.ts";
import { atSteps, every, logarithmic, type StepSchedule } from "./schedule.ts";
import { CABS, EarlyStoppingCriterion, MeanGSNR } from "./variance.ts";

type Options = Record<string, unknown>;

const factories: Record<string, { options: string[]; build: (schedule: StepSchedule, o: Options) => Quantity }> = {
  loss: { options: [], build: (s) => new Loss(s) },
  time: { options: [], build: (s) => new Time(s) },
  grad_norm: { options: [], build: (s) => new GradNorm(s) },
  distance: { options: [], build: (s) => new Distance(s) },
  update_size: { options: [], build: (s) => new UpdateSize(s) },
  norm_test: { options: [], build: (s) => new NormTest(s) },
  inner_test: { options: [], build: (s) => new InnerTest(s) },
  ortho_test: { options: [], build: (s) => new OrthoTest(s) },
  gradient_noise_scale: { options: [], build: (s) => new GradientNoiseScale(s) },
  alpha: { options: [], build: (s) => new Alpha(s) },
  cabs: { options: [], build: (s) => new CABS(s) },
  early_stopping: { options: ["epsilon"], build: (s, o) => new EarlyStoppingCriterion(s, Number(o.epsilon ?? 1e-5)) },
  mean_gsnr: { options: ["epsilon"], build: (s, o) => new MeanGSNR(s, Number(o.epsilon ?? 1e-5)) },
  grad_hist_1d: {
    options: ["bins", "range", "adapt", "per_parameter"],
    build: (s, o) =>
      new GradHist1d(
        s,
        Number(o.bins ?? 100),
        (o.range as [number, number]) ?? [-2, 2],
        adaptationOf("grad_hist_1d", o.adapt, s),
        flagOf("grad_hist_1d", "per_parameter", o.per_parameter),
      ),
  },
  hess_trace: { options: ["curvature", "seed"], build: (s, o) => new HessTrace(s, String(o.curvature ?? "diag_h"), Number(o.seed ?? 0)) },
  tic_diag: {
    options: ["curvature", "epsilon", "seed"],
    build: (s, o) => new TICDiag(s, String(o.curvature ?? "diag_h"), Number(o.epsilon ?? 1e-7), Number(o.seed ?? 0)),
  },
  tic_trace: {
    options: ["curvature", "epsilon", "seed"],
    build: (s, o) => new TICTrace(s, String(o.curvature ?? "diag_h"), Number(o.epsilon ?? 1e-7), Number(o.seed ?? 0)),
  },
  hess_max_ev: {
    options: ["max_iterations", "rtol", "atol", "seed"],
    build: (s, o) =>
      new HessMaxEV(s, {
        maxIterations: o.max_iterations === undefined ? undefined : Number(o.max_iterations),
        rtol: o.rtol === undefined ? undefined : Number(o.rtol),
        atol: o.atol === undefined ? undefined : Number(o.atol),
        seed: Number(o.seed ?? 0),
      }),
  },
  grad_hist_2d: {
    options: ["bins", "range", "adapt"],
    build: (s, o) => {
      const adapt = (o.adapt ?? {}) as { x?: unknown; y?: unknown };
      // Unset options take the class's defaults (Cockpit's), kept in one place.
      return new GradHist2d(s, o.bins as [number, number] | undefined, o.range as [[number, number], [number, number]] | undefined, [
        adaptationOf("grad_hist_2d", adapt.x, s),
        adaptationOf("grad_hist_2d", adapt.y, s),
      ]);
    },
  },
};

// Cockpit's class names of the quantities above.
const cockpitNames: Record<string, string> = {
  Loss: "loss",
  Time: "time",
  GradNorm: "grad_norm",
  Distance: "distance",
  UpdateSize: "update_size",
  NormTest: "norm_test",
  InnerTest: "inner_test",
  OrthoTest: "ortho_test",
  Alpha: "alpha",
  CABS: "cabs",
  EarlyStopping: "early_stopping",
  MeanGSNR: "mean_gsnr",
  GradHist1d: "grad_hist_1d",
  GradHist2d: "grad_hist_2d",
  HessTrace: "hess_trace",
  TICDiag: "tic_diag",
  TICTrace: "tic_trace",
  HessMaxEV: "hess_max_ev",
};

/**
 * A quantity given as Cockpit names it, with Cockpit's keyword arguments (those gradscope has no
 * use for, such as `adapt: null`, are ignored), due every step; null if gradscope lacks it.
 */
export function createCockpitQuantity(cockpitName: string, kwargs: Options): Quantity | null {
  const name = cockpitNames[cockpitName];
  if (!name) return null;
  const entry = factories[name];
  const options = Object.fromEntries(Object.entries(kwargs).filter(([key, value]) => entry.options.includes(key) && value !== null));
  return entry.build(every(1), options);
}

/** The quantity config names. */
export const quantityNames = Object.keys(factories);

const economy = ["alpha", "distance", "grad_hist_1d", "grad_norm", "inner_test", "loss", "norm_test", "ortho_test", "update_size"];
const business = [...economy, "tic_diag", "hess_trace"];

/** Cockpit's configurations: economy, business (+ TICDiag, HessTrace), full (+ HessMaxEV, GradHist2d). */
export const configurations: Record<string, string[]> = { economy, business, full: [...business, "hess_max_ev", "grad_hist_2d"] };

/**
 * A configuration's quantities as the map form of a `quantities` section (each name: true), so
 * that options can be set on top of it; throws, with a hint, for an unknown name.
 */
export function configurationMap(name: string): Record<string, true> {
  const names = configurations[name];
  if (!names) {
    const hint = closestName(name, Object.keys(configurations));
    throw new Error(`gradscope: unknown quantities configuration "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${Object.keys(configurations).join(", ")}`);
  }
  return Object.fromEntries(names.map((n) => [n, true]));
}

const scheduleKeys = ["every", "offset", "logarithmic", "steps"];

function scheduleOf(name: string, o: Options, trackEvery: number): StepSchedule {
  if (o.steps !== undefined) return atSteps(o.steps as number[]);
  if (o.logarithmic !== undefined) {
    const l = o.logarithmic as { start?: number; end: number; count?: number };
    return logarithmic(l.start ?? 1, l.end, l.count ?? 300);
  }
  const interval = o.every ?? trackEvery;
  if (!Number.isInteger(interval) || (interval as number) < 1) throw new Error(`gradscope: quantity ${name}: every must be a positive integer, got ${JSON.stringify(interval)}`);
  return every(interval as number, Number(o.offset ?? 0));
}

// A yes/no option: absent is no.
function flagOf(name: string, option: string, value: unknown): boolean {
  if (value === undefined || typeof value === "boolean") return value === true;
  throw new Error(`gradscope: quantity ${name}: ${option} must be true or false, got ${JSON.stringify(value)}`);
}

// A histogram axis's `adapt` option (see BinAdaptation); without schedule keys it adapts after
// every histogram the quantity takes.
function adaptationOf(name: string, value: unknown, histogramSchedule: StepSchedule): BinAdaptation | null {
  if (value === undefined || value === null) return null;
  const o = value as Options;
  if (o.policy !== "grad_abs_max" && o.policy !== "param_abs_max") {
    throw new Error(`gradscope: quantity ${name}: adapt.policy must be grad_abs_max or param_abs_max, got ${JSON.stringify(o.policy)}`);
  }
  const schedule = scheduleKeys.some((key) => o[key] !== undefined) ? scheduleOf(name, o, 1) : histogramSchedule;
  return { policy: o.policy, padding: o.padding === undefined ? undefined : Number(o.padding), minSize: o.min_size === undefined ? undefined : Number(o.min_size), schedule };
}

/**
 * The quantities of a config's `quantities` section: a configuration name (`economy`,
 * `business`, `full`) or a map from quantity names to `true` or their options, with
 * `every`/`offset`, `logarithmic: {start, end, count}` or `steps: [...]` as the schedule
 * (default: every `trackEvery` steps).
 */
export function createQuantities(section: string | Record<string, boolean | Options>, trackEvery: number): Quantity[] {
  const map = typeof section === "string" ? configurationMap(section) : section;
  const entries = Object.entries(map).flatMap(([name, value]) => (value === false ? [] : [[name, value === true ? {} : value] as [string, Options]]));
  return entries.map(([name, options]) => {
    const entry = factories[name];
    if (!entry) {
      const hint = closestName(name, quantityNames);
      throw new Error(`gradscope: unknown quantity "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}; known: ${quantityNames.join(", ")}`);
    }
    for (const key of Object.keys(options)) {
      if (!entry.options.includes(key) && !scheduleKeys.includes(key))
        throw new Error(`gradscope: quantity ${name}: unknown option "${key}"; known: ${[...entry.options, ...scheduleKeys].join(", ")}`);
    }
    return entry.build(scheduleOf(name, options, trackEvery), options);
  });
}

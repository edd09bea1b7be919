import * as z from "zod";
import type { ExtensionRequest } from "../engine/extensions/index.ts";
import { engineMemory } from "../engine/memory.ts";
import type { Tensor } from "../engine/tensor.ts";
import { defineQuantity, hasSchedule, scheduleOf, scheduleShape } from "./definition.ts";
import type { HistogramValue, Quantity, QuantityParts, RequestContext, StepInfo } from "./quantity.ts";
import { every, type StepSchedule } from "./schedule.ts";

const f = Math.fround;

/**
 * torch.linspace(lo, hi, bins+1) in float32: step = fl((hi − lo)/bins); the first half counts up
 * from lo, the second half down from hi, each value rounded once (README §6.7).
 */
export function linspaceEdges(lo: number, hi: number, bins: number): number[] {
  const n = bins + 1;
  const [a, b] = [f(lo), f(hi)];
  const step = f((b - a) / bins);
  return Array.from({ length: n }, (_, i) => (i < Math.floor(n / 2) ? f(a + step * i) : f(b - step * (n - 1 - i))));
}

function countsOf(step: StepInfo, tensor: Tensor, key: "hist1d" | "hist2d"): ArrayLike<number> {
  const counts = step.stats.get(tensor)?.[key];
  if (!counts) throw new Error(`gradscope: quantity needs ${key} for ${tensor.name ?? "a parameter"}, which was not computed`);
  return counts;
}

function summed(step: StepInfo, key: "hist1d" | "hist2d", length: number): Float64Array {
  const total = new Float64Array(length);
  for (const { tensor } of step.params) {
    const counts = countsOf(step, tensor, key);
    for (let i = 0; i < length; i++) total[i] += counts[i];
  }
  return total;
}

/**
 * Cockpit's bin adaptation of a histogram axis: after each step its schedule picks (once that
 * step's histogram is taken), the axis becomes ±(1 + padding)·max(minSize/2, m), with m the
 * largest |g_i[j]| over all per-sample gradient elements (`grad_abs_max`, Cockpit's GradAbsMax)
 * or the largest |θ[j]| (`param_abs_max`, ParamAbsMax). A non-finite m leaves the axis as it is.
 */
export interface BinAdaptation {
  /** Which maximum sets the range: of the per-sample gradient elements or of the parameters. */
  policy: "grad_abs_max" | "param_abs_max";
  /** Relative padding of the maximum (default 0). */
  padding?: number;
  /** The narrowest range (default 1e-6). */
  minSize?: number;
  /** The steps after which the axis is adapted. */
  schedule: StepSchedule;
}

// The largest magnitude the policy looks at, over all parameters.
function absMax(adaptation: BinAdaptation, step: StepInfo): number {
  // Quantities compute before the optimizer steps, so the parameters still hold θ_t: no copy.
  if (adaptation.policy === "param_abs_max") return step.params.reduce((most, { tensor }) => Math.max(most, engineMemory.kernels.maxAbs(tensor.size, tensor.ptr)), 0);
  return step.params.reduce((most, { tensor }) => {
    const value = step.stats.get(tensor)?.batchMaxAbs;
    if (value === undefined) throw new Error(`gradscope: bin adaptation needs batchMaxAbs for ${tensor.name ?? "a parameter"}, which was not computed`);
    return Math.max(most, value);
  }, 0);
}

// Histogram axes with optional adaptations: the range each axis has now, what a step needs for
// adapting, and the update after a step's histogram.
class AdaptiveAxes {
  readonly ranges: Array<[number, number]>;
  constructor(
    ranges: Array<[number, number]>,
    private readonly adaptations: Array<BinAdaptation | null>,
  ) {
    this.ranges = ranges.map((r) => [r[0], r[1]]);
  }
  due(step: number): boolean {
    return this.adaptations.some((a) => a?.schedule(step));
  }
  request(step: number): ExtensionRequest {
    return this.adaptations.some((a) => a?.policy === "grad_abs_max" && a.schedule(step)) ? { batchMaxAbs: true } : {};
  }
  /** The adapted ranges, as a checkpoint keeps them. */
  stateDict(): { ranges: Array<[number, number]> } {
    return { ranges: this.ranges };
  }
  /** Restores `stateDict()` saved from a quantity named `name`, checking the ranges' number and form. */
  loadStateDict(name: string, state: unknown): void {
    const ranges = (state as { ranges?: unknown } | null)?.ranges;
    const valid =
      Array.isArray(ranges) &&
      ranges.length === this.ranges.length &&
      ranges.every((r) => Array.isArray(r) && r.length === 2 && r.every((v) => typeof v === "number" && Number.isFinite(v)) && r[0] < r[1]);
    if (!valid) throw new Error(`gradscope: the checkpoint's ${name} ranges ${JSON.stringify(ranges)} are not ${this.ranges.length} increasing [lo, hi] pairs`);
    (ranges as Array<[number, number]>).forEach((r, axis) => {
      this.ranges[axis] = [r[0], r[1]];
    });
  }
  adapt(step: StepInfo): void {
    for (const [axis, adaptation] of this.adaptations.entries()) {
      if (!adaptation?.schedule(step.step)) continue;
      const most = absMax(adaptation, step);
      if (!Number.isFinite(most)) continue;
      const end = (1 + (adaptation.padding ?? 0)) * Math.max((adaptation.minSize ?? 1e-6) / 2, most);
      this.ranges[axis] = [-end, end];
    }
  }
}

/**
 * Histogram of all N·D per-sample gradient elements, torch.histc semantics, optionally with its
 * range adapted (`adapt`). With `perParameter`, each parameter's own histogram (same bins) is
 * recorded too, as `GradHist1d/<parameter name>`: the extension counts per parameter anyway, so
 * they cost only their storage. Config name `grad_hist_1d` (option `per_parameter`).
 */
export class GradHist1d implements Quantity {
  readonly name = "GradHist1d";
  private readonly axes: AdaptiveAxes;
  /** Due when the histogram or its adaptation is. */
  readonly schedule: StepSchedule;
  constructor(
    private readonly histogramSchedule: StepSchedule = every(1),
    readonly bins = 100,
    range: [number, number] = [-2, 2],
    adapt: BinAdaptation | null = null,
    readonly perParameter = false,
  ) {
    this.axes = new AdaptiveAxes([range], [adapt]);
    this.schedule = (step) => histogramSchedule(step) || this.axes.due(step);
  }
  /** The range the next histogram uses. */
  get range(): [number, number] {
    return this.axes.ranges[0];
  }
  /** The adapted ranges. */
  stateDict(): { ranges: Array<[number, number]> } {
    return this.axes.stateDict();
  }
  loadStateDict(state: unknown): void {
    this.axes.loadStateDict(this.name, state);
  }
  request(context: RequestContext): ExtensionRequest {
    return { ...this.axes.request(context.step), ...(this.histogramSchedule(context.step) ? { hist1d: { bins: this.bins, range: this.range } } : {}) };
  }
  compute(step: StepInfo): HistogramValue | QuantityParts | undefined {
    let value: HistogramValue | QuantityParts | undefined;
    if (this.histogramSchedule(step.step)) {
      const edges = linspaceEdges(this.range[0], this.range[1], this.bins);
      const total = { hist: Array.from(summed(step, "hist1d", this.bins)), edges };
      value = this.perParameter
        ? { total, parts: Object.fromEntries(step.params.map(({ name, tensor }) => [name, { hist: Array.from(countsOf(step, tensor, "hist1d")), edges }])) }
        : total;
    }
    this.axes.adapt(step);
    return value;
  }
}

/**
 * 2-D histogram of (g_i[j], θ[j]), Cockpit's scatter semantics; hist[ix][iy]. Defaults are
 * Cockpit's: 40 gradient (x) by 50 parameter (y) bins over [−1, 1] × [−2, 2]. `adapt` adapts
 * the gradient (x) and parameter (y) axes. Config name `grad_hist_2d`.
 */
export class GradHist2d implements Quantity {
  readonly name = "GradHist2d";
  private readonly axes: AdaptiveAxes;
  /** Due when the histogram or an axis's adaptation is. */
  readonly schedule: StepSchedule;
  constructor(
    private readonly histogramSchedule: StepSchedule = every(1),
    readonly bins: [number, number] = [40, 50],
    range: [[number, number], [number, number]] = [
      [-1, 1],
      [-2, 2],
    ],
    adapt: [BinAdaptation | null, BinAdaptation | null] = [null, null],
  ) {
    this.axes = new AdaptiveAxes(range, adapt);
    this.schedule = (step) => histogramSchedule(step) || this.axes.due(step);
  }
  /** The ranges the next histogram uses. */
  get range(): [[number, number], [number, number]] {
    return [this.axes.ranges[0], this.axes.ranges[1]];
  }
  /** The adapted ranges. */
  stateDict(): { ranges: Array<[number, number]> } {
    return this.axes.stateDict();
  }
  loadStateDict(state: unknown): void {
    this.axes.loadStateDict(this.name, state);
  }
  request(context: RequestContext): ExtensionRequest {
    return { ...this.axes.request(context.step), ...(this.histogramSchedule(context.step) ? { hist2d: { bins: this.bins, range: this.range } } : {}) };
  }
  compute(step: StepInfo): HistogramValue | undefined {
    const [xbins, ybins] = this.bins;
    let value: HistogramValue | undefined;
    if (this.histogramSchedule(step.step)) {
      const flat = summed(step, "hist2d", xbins * ybins);
      const [x, y] = this.range;
      value = {
        hist: Array.from({ length: xbins }, (_, ix) => Array.from(flat.subarray(ix * ybins, (ix + 1) * ybins))),
        edges: [linspaceEdges(x[0], x[1], xbins), linspaceEdges(y[0], y[1], ybins)],
      };
    }
    this.axes.adapt(step);
    return value;
  }
}

// A histogram axis's bin adaptation (see BinAdaptation), with its own schedule keys.
const adaptation = z
  .strictObject({
    policy: z.enum(["grad_abs_max", "param_abs_max"]),
    padding: z.number().min(0).optional(),
    min_size: z.number().positive().optional(),
    ...scheduleShape,
  })
  .nullish()
  .describe("Cockpit's bin adaptation: after the steps of its schedule (default: every histogram) the axis becomes ±(1 + padding)·max(min_size/2, m)");

// Without schedule keys an adaptation follows the histogram's schedule.
function adaptationOf(options: z.output<typeof adaptation>, histogramSchedule: StepSchedule): BinAdaptation | null {
  if (!options) return null;
  const schedule = hasSchedule(options) ? scheduleOf(options, 1) : histogramSchedule;
  return { policy: options.policy, padding: options.padding, minSize: options.min_size, schedule };
}

// An inverted or empty range was accepted, and every value fell outside it.
const range = z.tuple([z.number(), z.number()]).superRefine(([lo, hi], context) => {
  if (!(lo < hi)) context.addIssue({ code: "custom", message: `expected [lo, hi] with lo < hi, got [${lo}, ${hi}]` });
});

// More bins than the linear layers' histogram kernel holds failed at the first histogram, once
// the run had started (exit 1).
const histogramBins = z
  .number()
  .int()
  .positive()
  .superRefine((bins, context) => {
    const most = engineMemory.kernels.rankOneHistogramMaxBins();
    if (bins > most) context.addIssue({ code: "custom", message: `expected at most ${most} bins, got ${bins}` });
  });

/** The definitions of the histograms. */
export const histogramDefinitions = [
  defineQuantity({
    configName: "grad_hist_1d",
    name: "GradHist1d",
    description: "histogram of the per-sample gradient elements",
    options: {
      bins: histogramBins.default(100),
      range: range.default([-2, 2]),
      adapt: adaptation,
      per_parameter: z.boolean().default(false).describe("each parameter's histogram too, as GradHist1d/<parameter name>"),
    },
    create: (options, schedule) => new GradHist1d(schedule, options.bins, options.range, adaptationOf(options.adapt, schedule), options.per_parameter),
  }),
  defineQuantity({
    configName: "grad_hist_2d",
    name: "GradHist2d",
    description: "2-D histogram of (per-sample gradient element, parameter value)",
    options: {
      bins: z.tuple([z.number().int().positive(), z.number().int().positive()]).default([40, 50]),
      range: z.tuple([range, range]).default([
        [-1, 1],
        [-2, 2],
      ]),
      adapt: z.strictObject({ x: adaptation, y: adaptation }).nullish().describe("per axis: x the gradient, y the parameter"),
    },
    create: (options, schedule) => new GradHist2d(schedule, options.bins, options.range, [adaptationOf(options.adapt?.x, schedule), adaptationOf(options.adapt?.y, schedule)]),
  }),
];

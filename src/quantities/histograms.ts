import type { ExtensionRequest } from "../engine/extensions/index.ts";
import type { HistogramValue, Quantity, StepInfo } from "./quantity.ts";
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

function summed(step: StepInfo, key: "hist1d" | "hist2d", length: number): Float64Array {
  const total = new Float64Array(length);
  for (const { tensor } of step.params) {
    const counts = step.stats.get(tensor)?.[key];
    if (!counts) throw new Error(`gradscope: quantity needs ${key} for ${tensor.name ?? "a parameter"}, which was not computed`);
    for (let i = 0; i < length; i++) total[i] += counts[i];
  }
  return total;
}

/** Histogram of all N·D per-sample gradient elements, torch.histc semantics. Config name `grad_hist_1d`. */
export class GradHist1d implements Quantity {
  readonly name = "GradHist1d";
  constructor(
    readonly schedule: StepSchedule = every(1),
    readonly bins = 100,
    readonly range: [number, number] = [-2, 2],
  ) {}
  request(): ExtensionRequest {
    return { hist1d: { bins: this.bins, range: this.range } };
  }
  compute(step: StepInfo): HistogramValue {
    return { hist: Array.from(summed(step, "hist1d", this.bins)), edges: linspaceEdges(this.range[0], this.range[1], this.bins) };
  }
}

/** 2-D histogram of (g_i[j], θ[j]), Cockpit's scatter semantics; hist[ix][iy]. Config name `grad_hist_2d`. */
export class GradHist2d implements Quantity {
  readonly name = "GradHist2d";
  constructor(
    readonly schedule: StepSchedule = every(1),
    readonly bins: [number, number] = [20, 20],
    readonly range: [[number, number], [number, number]] = [
      [-1, 1],
      [-2, 2],
    ],
  ) {}
  request(): ExtensionRequest {
    return { hist2d: { bins: this.bins, range: this.range } };
  }
  compute(step: StepInfo): HistogramValue {
    const [xbins, ybins] = this.bins;
    const flat = summed(step, "hist2d", xbins * ybins);
    return {
      hist: Array.from({ length: xbins }, (_, ix) => Array.from(flat.subarray(ix * ybins, (ix + 1) * ybins))),
      edges: [linspaceEdges(this.range[0][0], this.range[0][1], xbins), linspaceEdges(this.range[1][0], this.range[1][1], ybins)],
    };
  }
}

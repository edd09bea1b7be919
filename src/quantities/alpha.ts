import { copyOf } from "../engine/creation.ts";
import type { DeferredProjection, ExtensionRequest } from "../engine/extensions/index.ts";
import { axpyInto } from "../engine/kernels/elementwise.ts";
import { squaredNorm } from "../engine/kernels/reductions.ts";
import type { Tensor } from "../engine/tensor.ts";
import { defineQuantity } from "./definition.ts";
import { type RequestContext, ScheduledQuantity, type StepInfo, summedStatistic } from "./quantity.ts";

// What the start point of a fit keeps until the next step. The step is d = scale·direction:
// −lr·g in the SGD path (g is the tracker's copy, so nothing is scaled elementwise), and
// θ_{t+1} − θ_t in the general path, formed once the optimizer has stepped.
interface AlphaStart {
  loss: number;
  lossVariance: number;
  direction?: Tensor[];
  scale: number;
  /** SGD path: g_iᵀd per sample (from the Gram matrix). */
  projections?: Float64Array;
  /** General path: θ_t (the tracker's copies) and, per parameter, what projects g_i onto d later. */
  values?: Tensor[];
  deferred?: DeferredProjection[];
}

const sampleVariance = (xs: ArrayLike<number>) => {
  const n = xs.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += xs[i] / n;
  let total = 0;
  for (let i = 0; i < n; i++) total += (xs[i] - mean) ** 2;
  return total / (n - 1);
};

const average = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;

// θ_{t+1} − θ_t as a kept engine tensor per parameter.
const differences = (params: RequestContext["params"], from: Tensor[]): Tensor[] =>
  params.map(({ tensor: p }, k) => {
    const d = copyOf(p).keep();
    axpyInto(d, from[k], -1);
    return d;
  });

/** Plain SGD with Cockpit's "default" arguments, whose step −lr·g is known inside the backward pass. */
export function isDefaultSgd(optimizer: { name: string; hyper: Record<string, unknown> }): boolean {
  const h = optimizer.hyper;
  return optimizer.name === "SGD" && !Number(h.momentum ?? 0) && !Number(h.weightDecay ?? h.weight_decay ?? 0) && !Number(h.dampening ?? 0) && !h.nesterov && !h.maximize;
}

/**
 * Weighted least-squares fit of q(x) = μ0 + μ1x + μ2x² to f(0), f(τ), f′(0), f′(τ) with weights
 * 1/variance (a zero variance counts as 1e-10), as Cockpit's noise-aware line fit.
 */
export function fitQuadratic(tau: number, fs: [number, number], dfs: [number, number], fsVariance: [number, number], dfsVariance: [number, number]): [number, number, number] {
  const rows = [
    [1, 0, 0],
    [1, tau, tau * tau],
    [0, 1, 0],
    [0, 1, 2 * tau],
  ];
  const y = [...fs, ...dfs];
  const weights = [...fsVariance, ...dfsVariance].map((v) => 1 / (v === 0 ? 1e-10 : v));
  // Normal equations (Φ W Φᵀ) μ = Φ W y, solved by Gaussian elimination with partial pivoting.
  const a = [0, 1, 2].map((r) => [0, 1, 2].map((c) => rows.reduce((s, row, k) => s + row[r] * weights[k] * row[c], 0)));
  const b = [0, 1, 2].map((r) => rows.reduce((s, row, k) => s + row[r] * weights[k] * y[k], 0));
  for (let col = 0; col < 3; col++) {
    const pivot = [col, col + 1, col + 2].filter((r) => r < 3).reduce((best, r) => (Math.abs(a[r][col]) > Math.abs(a[best][col]) ? r : best), col);
    [a[col], a[pivot]] = [a[pivot], a[col]];
    [b[col], b[pivot]] = [b[pivot], b[col]];
    for (let r = col + 1; r < 3; r++) {
      const factor = a[r][col] / a[col][col];
      for (let c = col; c < 3; c++) a[r][c] -= factor * a[col][c];
      b[r] -= factor * b[col];
    }
  }
  const mu = [0, 0, 0];
  for (let r = 2; r >= 0; r--) mu[r] = (b[r] - a[r].slice(r + 1).reduce((s, v, k) => s + v * mu[r + 1 + k], 0)) / a[r][r];
  return mu as [number, number, number];
}

/**
 * Cockpit's Alpha (Schneider et al. 2021): the step τ = ‖θ_{t+1} − θ_t‖ placed on a noise-aware
 * quadratic fitted to the losses and projected gradients at both ends, α = 2τ/ᾱ − 1 with ᾱ the
 * step to the fit's far side (0: stepped to the minimum, 1: across it; −1 when the fit is
 * concave). Stored under step t, computed at t+1. For default SGD the direction is −lr·g and the
 * start projections come from the Gram matrix; otherwise each layer's inputs and output gradients
 * are kept until the step is known, and projected then. Config name `alpha`.
 */
export class Alpha extends ScheduledQuantity {
  readonly name = "Alpha";
  private readonly starts = new Map<number, AlphaStart>();

  request(context: RequestContext): ExtensionRequest {
    const request: ExtensionRequest = {};
    if (this.schedule(context.step)) {
      if (isDefaultSgd(context.optimizer)) request.meanProjections = true;
      else request.deferredProjections = true;
    }
    const start = this.starts.get(context.step - 1);
    if (start) {
      // The end point projects its per-sample gradients onto the start's step.
      // The general path's step is θ_{t+1} − θ_t, known now that the optimizer has stepped.
      start.direction ??= differences(context.params, start.values as Tensor[]);
      const direction = start.direction;
      request.projections = new Map(context.params.map(({ tensor: p }, k) => [p, direction[k]]));
    }
    return request;
  }

  compute(step: StepInfo): undefined {
    const start: AlphaStart = { loss: step.loss, lossVariance: sampleVariance(step.individualLosses), scale: 1 };
    if (isDefaultSgd(step.optimizer)) {
      const lr = Number(step.optimizer.hyper.lr);
      start.direction = step.gradTensors;
      start.scale = -lr;
      start.projections = summedStatistic(step, "meanProjections").map((dot) => -lr * dot);
    } else {
      start.deferred = step.params.map(({ tensor: p }) => {
        const deferred = step.stats.get(p)?.deferredProjection;
        if (!deferred) throw new Error(`gradscope: Alpha needs the deferred projections of ${p.name ?? "a parameter"}`);
        return deferred;
      });
      start.values = step.valueTensors;
    }
    this.starts.set(step.step, start);
    return undefined;
  }

  computeAcross(previous: StepInfo, current: StepInfo): number | undefined {
    const start = this.starts.get(previous.step);
    this.starts.delete(previous.step);
    if (!start) return undefined;
    // Set by compute (SGD) or by request at this step (general path), which the tracker calls first.
    const direction = start.direction;
    if (!direction) throw new Error(`gradscope: Alpha's step from ${previous.step} was not requested before it was completed`);
    const tau = Math.abs(start.scale) * Math.sqrt(direction.reduce((total, d) => total + squaredNorm(d), 0));
    const n = previous.batchSize;
    const startProjections = start.projections ?? new Float64Array(n);
    start.deferred?.forEach((deferred, k) => {
      const projections = deferred.project(direction[k]);
      for (let i = 0; i < n; i++) startProjections[i] += projections[i];
    });
    const endProjections = new Float64Array(current.batchSize);
    for (const { tensor: p } of current.params) {
      const projections = current.stats.get(p)?.projections;
      if (!projections) throw new Error(`gradscope: Alpha needs the projections of ${p.name ?? "a parameter"} at step ${current.step}`);
      for (let i = 0; i < projections.length; i++) endProjections[i] += start.scale * projections[i];
    }
    // The general path's differences are Alpha's own; the SGD path's g belongs to the tracker.
    if (start.values) for (const d of direction) d.dispose();
    const [p0, p1] = [startProjections.map((v) => v / tau), endProjections.map((v) => v / tau)];
    const mu = fitQuadratic(
      tau,
      [start.loss, current.loss],
      [average(p0), average(p1)],
      [start.lossVariance, sampleVariance(current.individualLosses)],
      [sampleVariance(p0), sampleVariance(p1)],
    );
    if (mu[2] < 0) return -1;
    return (2 * tau) / (-mu[1] / mu[2]) - 1;
  }
}

/** The definition of Alpha. */
export const alphaDefinition = defineQuantity({
  configName: "alpha",
  name: "Alpha",
  description: "where the step lands on a noise-aware quadratic fit of the loss (Schneider et al. 2021), stored under step t",
  options: {},
  create: (_, schedule) => new Alpha(schedule),
});

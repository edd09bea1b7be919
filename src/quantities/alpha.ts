import { copyOf, tensor } from "../engine/creation.ts";
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
  batchSize: number;
  scale: number;
  /** g_iᵀd per sample, once known: from the Gram matrix (SGD path) or from a checkpoint. */
  projections?: Float64Array;
  /** d in engine memory, once known; Alpha frees it unless it is the tracker's g. */
  direction?: Tensor[];
  ownsDirection: boolean;
  /** General path: θ_t (the tracker's copies), the parameters and, per parameter, what projects g_i onto d later. */
  deferred?: { values: Tensor[]; params: RequestContext["params"]; projections: DeferredProjection[] };
  /** d as a checkpoint carried it, until the next step asks for its projections. */
  savedDirection?: Float32Array[];
}

/** A start as a checkpoint carries it, d and its projections formed after the optimizer's step. */
interface SavedAlphaStart {
  step: number;
  loss: number;
  lossVariance: number;
  batchSize: number;
  scale: number;
  projections: number[];
  direction: Float32Array[];
}

const isSavedStart = (value: unknown): value is SavedAlphaStart => {
  const s = value as SavedAlphaStart;
  return (
    typeof s === "object" &&
    s !== null &&
    [s.step, s.loss, s.lossVariance, s.batchSize, s.scale].every((v) => typeof v === "number") &&
    Array.isArray(s.projections) &&
    s.projections.length === s.batchSize &&
    s.projections.every((v) => typeof v === "number") &&
    Array.isArray(s.direction) &&
    s.direction.every((d) => d instanceof Float32Array)
  );
};

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

// Σ_k g_iᵀd_k per sample over the parameters, in their order, from the deferred projections.
const projectDeferred = (deferred: DeferredProjection[], direction: Tensor[], n: number): Float64Array => {
  const total = new Float64Array(n);
  deferred.forEach((projection, k) => {
    const projections = projection.project(direction[k]);
    for (let i = 0; i < n; i++) total[i] += projections[i];
  });
  return total;
};

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
 * are kept until the step is known, and projected then. A checkpoint written after step t's
 * optimizer step carries the start (its d and start projections), so a resumed run completes it.
 * Config name `alpha`.
 */
export class Alpha extends ScheduledQuantity {
  readonly name = "Alpha";
  // Alpha keeps what it needs of the start itself, and its stateDict carries it.
  readonly readsEarlierStep = [] as const;
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
      start.direction ??= start.savedDirection
        ? start.savedDirection.map((d, k) => tensor(d, context.params[k].tensor.shape).keep())
        : differences(context.params, start.deferred?.values as Tensor[]);
      const direction = start.direction;
      request.projections = new Map(context.params.map(({ tensor: p }, k) => [p, direction[k]]));
    }
    return request;
  }

  compute(step: StepInfo): undefined {
    const start: AlphaStart = { loss: step.loss, lossVariance: sampleVariance(step.individualLosses), batchSize: step.batchSize, scale: 1, ownsDirection: true };
    if (isDefaultSgd(step.optimizer)) {
      const lr = Number(step.optimizer.hyper.lr);
      start.direction = step.gradTensors;
      start.ownsDirection = false;
      start.scale = -lr;
      start.projections = summedStatistic(step, "meanProjections").map((dot) => -lr * dot);
    } else {
      const projections = step.params.map(({ tensor: p }) => {
        const deferred = step.stats.get(p)?.deferredProjection;
        if (!deferred) throw new Error(`gradscope: Alpha needs the deferred projections of ${p.name ?? "a parameter"}`);
        return deferred;
      });
      start.deferred = { values: step.valueTensors, params: step.params, projections };
    }
    this.starts.set(step.step, start);
    return undefined;
  }

  computeAcross(previous: StepInfo, current: StepInfo): number | undefined {
    const start = this.starts.get(previous.step);
    this.starts.delete(previous.step);
    if (!start) return undefined;
    // Set by compute (SGD) or by request at this step (general path, checkpoint), which the tracker calls first.
    const direction = start.direction;
    if (!direction) throw new Error(`gradscope: Alpha's step from ${previous.step} was not requested before it was completed`);
    const tau = Math.abs(start.scale) * Math.sqrt(direction.reduce((total, d) => total + squaredNorm(d), 0));
    const startProjections = start.projections ?? projectDeferred(start.deferred?.projections ?? [], direction, start.batchSize);
    const endProjections = new Float64Array(current.batchSize);
    for (const { tensor: p } of current.params) {
      const projections = current.stats.get(p)?.projections;
      if (!projections) throw new Error(`gradscope: Alpha needs the projections of ${p.name ?? "a parameter"} at step ${current.step}`);
      for (let i = 0; i < projections.length; i++) endProjections[i] += start.scale * projections[i];
    }
    if (start.ownsDirection) for (const d of direction) d.dispose();
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

  /**
   * The pending start, for a checkpoint written after its optimizer step: its loss statistics,
   * d and the start projections g_iᵀd (the general path forms them now from the parameters,
   * θ_{t+1}, exactly as the next step would), so that a resumed run completes it.
   */
  stateDict(): { starts: SavedAlphaStart[] } {
    return {
      starts: [...this.starts].map(([step, start]) => {
        const formed = start.direction ?? (start.deferred && differences(start.deferred.params, start.deferred.values));
        const projections = start.projections ?? projectDeferred(start.deferred?.projections ?? [], formed ?? [], start.batchSize);
        const direction = formed?.map((d) => d.data.slice()) ?? start.savedDirection ?? [];
        if (formed !== start.direction) for (const d of formed ?? []) d.dispose();
        const { loss, lossVariance, batchSize, scale } = start;
        return { step, loss, lossVariance, batchSize, scale, projections: Array.from(projections), direction };
      }),
    };
  }

  loadStateDict(state: unknown): void {
    const starts = (state as { starts?: unknown } | null)?.starts;
    if (!Array.isArray(starts) || !starts.every(isSavedStart)) {
      throw new Error(
        "gradscope: the checkpoint's Alpha state is not { starts: [{ step, loss, lossVariance, batchSize, scale, projections (batchSize numbers), direction (float32 arrays) }] }",
      );
    }
    for (const start of this.starts.values()) if (start.ownsDirection) for (const d of start.direction ?? []) d.dispose();
    this.starts.clear();
    for (const { step, loss, lossVariance, batchSize, scale, projections, direction } of starts) {
      this.starts.set(step, { loss, lossVariance, batchSize, scale, projections: Float64Array.from(projections), savedDirection: direction, ownsDirection: true });
    }
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

import { backward } from "../autograd.ts";
import type { LayerRecord, Tensor } from "../tensor.ts";
import type { Histogram1dSpec, Histogram2dSpec } from "./histograms.ts";
import { individualGradients, type ParameterGradients } from "./individualGradients.ts";
import { rankOneLinear } from "./linearClosedForms.ts";
import { batchDot, batchL2, hist1d, hist2d, type LinearRole, projections, sumGradSquared } from "./statistics.ts";

export type { Histogram1dSpec, Histogram2dSpec } from "./histograms.ts";
export { histogram1d, histogram2d } from "./histograms.ts";

/**
 * The per-sample statistics to compute in one backward pass (BackPACK's extensions). g_i is
 * the gradient of sample i's own loss ℓ_i, not BackPACK's g_i/N.
 */
export interface ExtensionRequest {
  /** ‖g_i‖² per sample. */
  batchL2?: boolean;
  /** The N×N Gram matrix g_iᵀg_j (row-major). */
  batchDot?: boolean;
  /** Σ_i g_i², shaped like the parameter. */
  sumGradSquared?: boolean;
  /** The materialized per-sample gradients [N, *shape]. */
  individualGradients?: boolean;
  /** g_iᵀd_θ for a direction d_θ given per parameter. */
  projections?: ReadonlyMap<Tensor, Tensor>;
  /** Counts of all per-sample gradient elements. */
  hist1d?: Histogram1dSpec;
  /** Counts of (g_i[j], θ[j]) pairs, hist[ix·ybins + iy]. */
  hist2d?: Histogram2dSpec;
}

/** What the extensions computed for one parameter. */
export interface ParameterStatistics {
  batchL2?: Float64Array;
  batchDot?: Float64Array;
  sumGradSquared?: Tensor;
  individualGradients?: Tensor;
  projections?: Float64Array;
  hist1d?: Float64Array;
  hist2d?: Float64Array;
}

/** Options of `backwardWithExtensions`. */
export interface ExtensionBackwardOptions {
  /** Seed gradient for a non-scalar output (per-sample scale then defaults to 1). */
  gradient?: Tensor;
  /**
   * s in g_i = s·(per-sample gradient of the differentiated objective). Defaults to N when the
   * loss is the mean of a per-sample loss vector of length N (the loss convention), else 1.
   */
  perSampleScale?: number;
}

/** The per-sample loss vector ℓ behind a loss L = mean(ℓ) (following reshapes), or null. */
export function perSampleLosses(loss: Tensor): Tensor | null {
  let node = loss.node;
  while (node?.op === "reshape") node = node.inputs[0]?.node ?? null;
  const input = node?.inputs[0];
  return node?.op === "mean" && input && input.rank === 1 ? input : null;
}

/** N when the loss is the mean of a per-sample vector of length N. */
function inferPerSampleScale(loss: Tensor): number {
  const losses = perSampleLosses(loss);
  if (losses) return losses.shape[0];
  if (loss.size === 1) {
    throw new Error("gradscope: per-sample extensions need the loss as the mean of a per-sample loss vector (e.g. mean(crossEntropy(...))), or an explicit perSampleScale");
  }
  return 1;
}

function needsMaterialized(request: ExtensionRequest, closedForm: boolean): boolean {
  if (request.individualGradients || request.hist2d) return true;
  return !closedForm && Boolean(request.batchL2 || request.batchDot || request.sumGradSquared || request.projections || request.hist1d);
}

function computeLayer(layer: LayerRecord, gradOut: Tensor, scale: number, request: ExtensionRequest, results: Map<Tensor, ParameterStatistics>): void {
  const view = rankOneLinear(layer, gradOut, scale);
  const roles: Array<[Tensor, LinearRole]> = [];
  if (layer.weight?.requiresGrad) roles.push([layer.weight, "weight"]);
  if (layer.bias?.requiresGrad) roles.push([layer.bias, "bias"]);
  if (roles.length === 0) return;
  for (const [parameter] of roles) {
    if (results.has(parameter)) {
      throw new Error(`gradscope: parameter ${parameter.name ?? parameter.toString()} is used by more than one op; per-sample statistics of shared parameters are not supported`);
    }
    results.set(parameter, {});
  }
  const materialized: ParameterGradients[] = needsMaterialized(request, view !== null) ? individualGradients(layer, gradOut, scale) : [];
  const gradientsOf = (parameter: Tensor): Tensor | undefined => materialized.find((entry) => entry.parameter === parameter)?.gradients;
  for (const [parameter, role] of roles) {
    const stats = results.get(parameter) as ParameterStatistics;
    const gradients = gradientsOf(parameter);
    // batchDot first: its Gram diagonals then give batchL2 for free.
    if (request.batchDot) stats.batchDot = view ? batchDot.linear(view, role) : batchDot.general(gradients as Tensor);
    if (request.batchL2) stats.batchL2 = view ? batchL2.linear(view, role) : batchL2.general(gradients as Tensor);
    if (request.sumGradSquared) stats.sumGradSquared = view ? sumGradSquared.linear(view, role, parameter) : sumGradSquared.general(gradients as Tensor, parameter);
    const direction = request.projections?.get(parameter);
    if (direction) stats.projections = view ? projections.linear(view, role, direction) : projections.general(gradients as Tensor, direction);
    if (request.hist1d) stats.hist1d = view ? hist1d.linear(view, role, request.hist1d) : hist1d.general(gradients as Tensor, request.hist1d);
    if (request.hist2d) stats.hist2d = hist2d(gradients as Tensor, parameter, request.hist2d);
    // Per-layer buffers are freed as soon as they are reduced, unless the caller asked for them.
    if (request.individualGradients && gradients) stats.individualGradients = gradients;
    else gradients?.dispose();
  }
}

/**
 * `backward(loss)` that also computes the requested per-sample statistics, layer by layer
 * inside the pass. Parameters' `.grad` are accumulated exactly as by `backward`.
 */
export function backwardWithExtensions(loss: Tensor, request: ExtensionRequest, options: ExtensionBackwardOptions = {}): Map<Tensor, ParameterStatistics> {
  const results = new Map<Tensor, ParameterStatistics>();
  const anything = Object.values(request).some((value) => value !== undefined && value !== false);
  if (!anything) {
    backward(loss, { gradient: options.gradient });
    return results;
  }
  const scale = options.perSampleScale ?? (options.gradient ? 1 : inferPerSampleScale(loss));
  backward(loss, {
    gradient: options.gradient,
    onLayer: (layer, gradOut) => computeLayer(layer, gradOut, scale, request, results),
  });
  return results;
}

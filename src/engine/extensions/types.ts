import type { Random } from "../random.ts";
import type { Tensor } from "../tensor.ts";
import type { Histogram1dSpec, Histogram2dSpec } from "./histograms.ts";
import type { DeferredProjection } from "./projections.ts";

/**
 * The per-sample statistics to compute in one backward pass (BackPACK's extensions). g_i is
 * the gradient of sample i's own loss ℓ_i, not BackPACK's g_i/N.
 */
export interface ExtensionRequest {
  /** ‖g_i‖² per sample. */
  batchL2?: boolean;
  /** The N×N Gram matrix g_iᵀg_j (row-major). */
  batchDot?: boolean;
  /**
   * g_iᵀḡ per sample, with ḡ = Σ_j g_j / N the batch mean (the Gram matrix's row means, without
   * the N×N matrix): what the inner-product and orthogonality tests and Alpha's SGD path need.
   */
  meanProjections?: boolean;
  /** Σ_i g_i², shaped like the parameter. */
  sumGradSquared?: boolean;
  /** max_i,j |g_i[j]|, the largest per-sample gradient element in magnitude (NaN if any is). */
  batchMaxAbs?: boolean;
  /** The materialized per-sample gradients [N, *shape]. */
  individualGradients?: boolean;
  /** g_iᵀd_θ for a direction d_θ given per parameter. */
  projections?: ReadonlyMap<Tensor, Tensor>;
  /** Keep what g_iᵀd needs, for a direction known only after the pass (the optimizer's step). */
  deferredProjections?: boolean;
  /** Counts of all per-sample gradient elements. */
  hist1d?: Histogram1dSpec;
  /** Counts of (g_i[j], θ[j]) pairs, hist[ix·ybins + iy]. */
  hist2d?: Histogram2dSpec;
  /** A diagonal of the loss's curvature, shaped like the parameter (BackPACK's DiagHessian/DiagGGN). */
  diagonalCurvature?: DiagonalCurvatureRequest;
}

/**
 * Which curvature diagonal: the exact Hessian's (`diag_h`), the generalized Gauss-Newton's
 * (`diag_ggn_exact`), or a one-sample Monte-Carlo estimate of the latter (`diag_ggn_mc`).
 */
export type CurvatureKind = "diag_h" | "diag_ggn_exact" | "diag_ggn_mc";

/** The curvature diagonal to compute; `random` draws the Monte-Carlo samples. */
export interface DiagonalCurvatureRequest {
  /** Which diagonal: the Hessian's, the GGN's, or a Monte-Carlo estimate of the GGN's. */
  kind: CurvatureKind;
  /** The generator of the Monte-Carlo samples; required for "diag_ggn_mc", unused otherwise. */
  random?: Random;
}

/** What the extensions computed for one parameter. */
export interface ParameterStatistics {
  /** ‖g_i‖² for each sample i (length N), g_i the gradient of sample i's own loss. */
  batchL2?: Float64Array;
  /** The N×N Gram matrix g_iᵀg_j, row-major. */
  batchDot?: Float64Array;
  /** g_iᵀḡ with ḡ = Σ_j g_j / N, for each sample (the Gram matrix's row means, without it). */
  meanProjections?: Float64Array;
  /** Σ_i g_i², shaped like the parameter. */
  sumGradSquared?: Tensor;
  /** The largest |g_i[j]| over samples and elements. */
  batchMaxAbs?: number;
  /** The materialized per-sample gradients, [N, ...parameter shape]. */
  individualGradients?: Tensor;
  /** g_iᵀd for each sample, d the direction the request gave for this parameter. */
  projections?: Float64Array;
  /** Gives g_iᵀd later (`project(d)`), for a d known only after the pass (the optimizer's step). */
  deferredProjection?: DeferredProjection;
  /** Counts of all per-sample gradient elements in the requested bins. */
  hist1d?: Float64Array;
  /** Counts of (g_i[j], θ[j]) pairs, hist[ix·ybins + iy]. */
  hist2d?: Float64Array;
  /** The requested curvature diagonal, shaped like the parameter. */
  diagonalCurvature?: Tensor;
}

import { gemm } from "../kernels/gemm.ts";
import { engineMemory } from "../memory.ts";
import { Tensor } from "../tensor.ts";
import type { Histogram1dSpec, Histogram2dSpec } from "./histograms.ts";
import { gram, type RankOneLinear, rowSquaredNorms, symmetricFromLower } from "./linearClosedForms.ts";
import { rankOneHistogram1d, rankOneHistogram2d, tensorHistogram1d, tensorHistogram2d } from "./linearHistogram.ts";
import type { ParameterRole } from "./projections.ts";

// Each statistic has a closed form for the rank-one Linear case (weight or bias) and a general
// form reduced from materialized per-sample gradients G [N, D].

/** ‖g_i‖² for each sample. Linear: s²‖δ_i‖²‖a_i‖² (weight), s²‖δ_i‖² (bias). */
export const batchL2 = {
  linear(view: RankOneLinear, role: ParameterRole): Float64Array {
    const s2 = view.scale * view.scale;
    const deltaNorms = view.deltaNorms();
    if (role === "bias") return deltaNorms.map((v) => s2 * v);
    const inputNorms = view.activationNorms();
    return deltaNorms.map((v, i) => s2 * v * inputNorms[i]);
  },
  general(gradients: Tensor): Float64Array {
    const batch = gradients.shape[0];
    return rowSquaredNorms(gradients, batch, gradients.size / batch);
  },
};

/** The N×N Gram matrix g_iᵀg_j. Linear: s²(δδᵀ)∘(aaᵀ) (weight), s²δδᵀ (bias). */
export const batchDot = {
  linear(view: RankOneLinear, role: ParameterRole): Float64Array {
    const { delta: deltaGram, activations: inputGram } = view.gramTriangles(role !== "bias");
    return symmetricFromLower(deltaGram, inputGram, view.scale * view.scale);
  },
  general(gradients: Tensor): Float64Array {
    const batch = gradients.shape[0];
    return gram(gradients, batch);
  },
};

/**
 * g_iᵀḡ for each sample, ḡ = Σ_j g_j / N. Linear: s²/N Σ_j (δ_iᵀδ_j)(a_iᵀa_j) (weight),
 * s²/N Σ_j δ_iᵀδ_j (bias), summed from the Gram triangles; general: G·ḡ.
 */
export const meanProjections = {
  linear(view: RankOneLinear, role: ParameterRole): Float64Array {
    const n = view.batch;
    const grams = view.gramTriangles(role !== "bias");
    const deltaGram = grams.delta.data;
    const inputGram = grams.activations?.data;
    const out = new Float64Array(n);
    // Each lower-triangle entry (i, j) counts for row i and, off the diagonal, for row j.
    for (let i = 0; i < n; i++) {
      for (let j = 0; j <= i; j++) {
        const value = deltaGram[i * n + j] * (inputGram ? inputGram[i * n + j] : 1);
        out[i] += value;
        if (j < i) out[j] += value;
      }
    }
    const factor = (view.scale * view.scale) / n;
    return out.map((v) => factor * v);
  },
  general(gradients: Tensor): Float64Array {
    const batch = gradients.shape[0];
    const size = gradients.size / batch;
    const mean = new Tensor([size], "float32", "mean per-sample gradient");
    engineMemory.kernels.sumAxis(gradients.ptr, 1, batch, size, 1 / batch, mean.ptr);
    const out = materializedProjections(gradients, mean);
    mean.dispose();
    return out;
  },
};

/**
 * max_i,j |g_i[j]|. Linear: |s|·max_i (max_o |δ_io|·max_j |a_ij|) (weight), |s|·max_i,o |δ_io|
 * (bias), from row maxima; general: over the materialized gradients.
 */
export const batchMaxAbs = {
  linear(view: RankOneLinear, role: ParameterRole): number {
    const rowMaxima = (x: Tensor, length: number) => Array.from({ length: view.batch }, (_, i) => engineMemory.kernels.maxAbs(length, x.ptr + i * length * 4));
    const deltas = rowMaxima(view.delta, view.outFeatures);
    const inputs = role === "bias" ? null : rowMaxima(view.activations, view.inFeatures);
    return Math.abs(view.scale) * deltas.reduce((most, d, i) => Math.max(most, d * (inputs ? inputs[i] : 1)), 0);
  },
  general(gradients: Tensor): number {
    return engineMemory.kernels.maxAbs(gradients.size, gradients.ptr);
  },
};

/** Σ_i g_i² elementwise, shaped like the parameter. Linear weight: s²·(δ²)ᵀ(a²). */
export const sumGradSquared = {
  linear(view: RankOneLinear, role: ParameterRole, parameter: Tensor): Tensor {
    const squaredDelta = squared(view.delta);
    const out = sumGradSquared.fromSquaredDelta(squaredDelta, view.activations, role, parameter, view.scale * view.scale);
    squaredDelta.dispose();
    return out;
  },
  /**
   * s²·Σ_i δ_i² (a_i²)ᵀ (weight) or s²·Σ_i δ_i² (bias) from δ² [N, out]: the sum may run over
   * several output gradients first, since a_i is shared (the curvature factor columns).
   */
  fromSquaredDelta(squaredDelta: Tensor, activations: Tensor, role: ParameterRole, parameter: Tensor, s2: number): Tensor {
    const out = new Tensor(parameter.shape, "float32", "sumGradSquared");
    const [batch, inFeatures] = activations.shape;
    const outFeatures = squaredDelta.shape[1];
    if (role === "bias") {
      const heap = engineMemory.f32;
      for (let o = 0; o < outFeatures; o++) {
        let total = 0;
        for (let i = 0; i < batch; i++) total += heap[squaredDelta.offset + i * outFeatures + o];
        heap[out.offset + o] = s2 * total;
      }
      return out;
    }
    const squaredInput = squared(activations);
    gemm({
      transA: true,
      transB: false,
      m: outFeatures,
      n: inFeatures,
      k: batch,
      alpha: s2,
      a: squaredDelta.ptr,
      lda: outFeatures,
      b: squaredInput.ptr,
      ldb: inFeatures,
      beta: 0,
      c: out.ptr,
      ldc: inFeatures,
    });
    squaredInput.dispose();
    return out;
  },
  general(gradients: Tensor, parameter: Tensor): Tensor {
    const out = new Tensor(parameter.shape, "float32", "sumGradSquared");
    engineMemory.f32.fill(0, out.offset, out.offset + parameter.size);
    engineMemory.kernels.sumSquaresInto(parameter.size, gradients.shape[0], gradients.ptr, out.ptr, 1);
    return out;
  },
};

/** g_iᵀd for each sample, from materialized per-sample gradients G [N, D]: the rows of G·d (float64 sums). */
export function materializedProjections(gradients: Tensor, direction: Tensor): Float64Array {
  const batch = gradients.shape[0];
  const size = gradients.size / batch;
  if (direction.size !== size) throw new RangeError(`gradscope: projection direction of ${direction.size} elements for per-sample gradients of ${size}`);
  return Float64Array.from({ length: batch }, (_, i) => engineMemory.kernels.dotProduct(size, gradients.ptr + i * size * 4, direction.ptr));
}

/** Histogram counts of all per-sample gradient elements. Linear: counted from δ and a (see linearHistogram.ts). */
export const hist1d = {
  linear(view: RankOneLinear, role: ParameterRole, spec: Histogram1dSpec): Float64Array {
    return rankOneHistogram1d(view, role, spec);
  },
  general(gradients: Tensor, spec: Histogram1dSpec): Float64Array {
    return tensorHistogram1d(gradients, spec);
  },
};

/** Histogram counts of (g_i[j], θ[j]) pairs. Linear: from δ and a (see linearHistogram.ts). */
export const hist2d = {
  linear(view: RankOneLinear, role: ParameterRole, parameter: Tensor, spec: Histogram2dSpec): Float64Array {
    return rankOneHistogram2d(view, role, parameter, spec);
  },
  general(gradients: Tensor, parameter: Tensor, spec: Histogram2dSpec): Float64Array {
    return tensorHistogram2d(gradients, parameter, spec);
  },
};

function squared(x: Tensor): Tensor {
  const out = new Tensor(x.shape, "float32", "squared");
  const heap = engineMemory.f32;
  for (let i = 0; i < x.size; i++) heap[out.offset + i] = heap[x.offset + i] * heap[x.offset + i];
  return out;
}

import { gemm } from "../kernels/gemm.ts";
import { rowDots } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import { computeBinary } from "../ops/binary.ts";
import { Tensor } from "../tensor.ts";
import { convGramBatchDot, convGramBatchL2 } from "./convClosedForms.ts";
import type { Histogram1dSpec, Histogram2dSpec } from "./histograms.ts";
import type { LayerContext } from "./layerContext.ts";
import type { RecordOf, SomeKinds } from "./layerKinds.ts";
import { gram, type RankOneLinear, rowSquaredNorms, symmetricFromLower, symmetricRowSums } from "./linearClosedForms.ts";
import { rankOneHistogram1d, rankOneHistogram2d, tensorHistogram1d, tensorHistogram2d } from "./linearHistogram.ts";
import type { ParameterRole } from "./projections.ts";

// The rule table (BackPACK maps module types to extensions the same way): each statistic has
// closed forms by layer kind, which return undefined where they do not apply or cost more than
// the fallback, and a general form reduced from the materialized per-sample gradients G [N, D].

/** One statistic's rules. */
export interface StatisticRules<Result> {
  /** Closed forms by layer kind: undefined where none applies (then `general` runs). */
  readonly closedForms: SomeKinds<[context: LayerContext, role: ParameterRole, parameter: Tensor], Result | undefined>;
  /** The statistic from the parameter's materialized per-sample gradients [N, *shape]. */
  general(gradients: Tensor, parameter: Tensor, context: LayerContext): Result;
}

// A Linear layer's closed form, where its per-sample gradients are rank one.
const rankOne =
  <Result>(rule: (view: RankOneLinear, role: ParameterRole, parameter: Tensor, context: LayerContext) => Result) =>
  (_layer: RecordOf<"linear">, context: LayerContext, role: ParameterRole, parameter: Tensor): Result | undefined => {
    const view = context.rankOneLinear();
    return view ? rule(view, role, parameter, context) : undefined;
  };

/**
 * ‖g_i‖² for each sample. Linear: s²‖δ_i‖²‖a_i‖² (weight), s²‖δ_i‖² (bias). Conv2d weight: from
 * the Grams of unfolded inputs and output gradients where cheaper (convClosedForms.ts), else
 * in sumGradSquared's chunked pass over the per-sample gradients; bias: from Σ_p δ_i.
 */
export const batchL2: StatisticRules<Float64Array> = {
  closedForms: {
    linear: rankOne((view, role) => {
      const s2 = view.scale * view.scale;
      const deltaNorms = view.deltaNorms();
      if (role === "bias") return deltaNorms.map((v) => s2 * v);
      const inputNorms = view.activationNorms();
      return deltaNorms.map((v, i) => s2 * v * inputNorms[i]);
    }),
    conv2d: (layer, context, role) => {
      if (role === "bias") return batchL2.general(context.convBiasGradients(layer), layer.bias as Tensor, context);
      if (context.hasMaterialized) return undefined;
      // The chunked pass that sumGradSquared needs anyway gives batchL2 for N·D more work.
      if (!context.request.sumGradSquared && context.prefersGram(layer, "batchL2")) return convGramBatchL2(layer, context.gradOut, context.scale);
      return context.convWeightReductions(layer).batchL2 ?? undefined;
    },
  },
  general(gradients: Tensor): Float64Array {
    const batch = gradients.shape[0];
    return rowSquaredNorms(gradients, batch, gradients.size / batch);
  },
};

/**
 * The N×N Gram matrix g_iᵀg_j. Linear: s²(δδᵀ)∘(aaᵀ) (weight), s²δδᵀ (bias). Conv2d weight:
 * s²Σ_{p,q}(U_iU_jᵀ)∘(δ_iδ_jᵀ) where cheaper (convClosedForms.ts); bias: from Σ_p δ_i.
 */
export const batchDot: StatisticRules<Float64Array> = {
  closedForms: {
    linear: rankOne((view, role) => {
      const { delta: deltaGram, activations: inputGram } = view.gramTriangles(role !== "bias");
      return symmetricFromLower(deltaGram, inputGram, view.scale * view.scale);
    }),
    conv2d: (layer, context, role) => {
      if (role === "bias") return batchDot.general(context.convBiasGradients(layer), layer.bias as Tensor, context);
      return context.prefersGram(layer, "batchDot") ? convGramBatchDot(layer, context.gradOut, context.scale) : undefined;
    },
  },
  general(gradients: Tensor): Float64Array {
    const batch = gradients.shape[0];
    return gram(gradients, batch);
  },
};

function meanProjectionsOfRankOne(view: RankOneLinear, role: ParameterRole): Float64Array {
  const grams = view.gramTriangles(role !== "bias");
  return symmetricRowSums(grams.delta, grams.activations, (view.scale * view.scale) / view.batch);
}

/**
 * g_iᵀḡ for each sample, ḡ = Σ_j g_j / N. Linear: s²/N Σ_j (δ_iᵀδ_j)(a_iᵀa_j) (weight),
 * s²/N Σ_j δ_iᵀδ_j (bias), summed from the Gram triangles; general: G·ḡ.
 */
export const meanProjections: StatisticRules<Float64Array> = {
  closedForms: { linear: rankOne(meanProjectionsOfRankOne) },
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
export const batchMaxAbs: StatisticRules<number> = {
  closedForms: {
    linear: rankOne((view, role) => {
      const rowMaxima = (x: Tensor, length: number) => Array.from({ length: view.batch }, (_, i) => engineMemory.kernels.maxAbs(length, x.ptr + i * length * 4));
      const deltas = rowMaxima(view.delta, view.outFeatures);
      const inputs = role === "bias" ? null : rowMaxima(view.activations, view.inFeatures);
      return Math.abs(view.scale) * deltas.reduce((most, d, i) => Math.max(most, d * (inputs ? inputs[i] : 1)), 0);
    }),
  },
  general(gradients: Tensor): number {
    return engineMemory.kernels.maxAbs(gradients.size, gradients.ptr);
  },
};

/**
 * Σ_i g_i² elementwise, shaped like the parameter. Linear weight: s²·(δ²)ᵀ(a²). Conv2d weight:
 * summed over per-sample gradients formed a chunk of samples at a time (no closed form needs
 * less than each g_i, but none needs them all at once); bias: from Σ_p δ_i.
 */
export const sumGradSquared: StatisticRules<Tensor> = {
  closedForms: {
    linear: rankOne((view, role, parameter) => {
      const squaredDelta = squared(view.delta);
      const out = sumGradSquaredFromSquaredDelta(squaredDelta, view.activations, role, parameter, view.scale * view.scale);
      squaredDelta.dispose();
      return out;
    }),
    conv2d: (layer, context, role) => {
      if (role === "bias") return sumGradSquared.general(context.convBiasGradients(layer), layer.bias as Tensor, context);
      // Materialized gradients, where another statistic made them, are cheaper to square.
      if (context.hasMaterialized) return undefined;
      const squares = context.convWeightReductions(layer).sumGradSquared;
      return squares ? context.handOut(squares) : undefined;
    },
  },
  general(gradients: Tensor, parameter: Tensor): Tensor {
    const out = new Tensor(parameter.shape, "float32", "sumGradSquared");
    engineMemory.f32.fill(0, out.offset, out.offset + parameter.size);
    engineMemory.kernels.sumSquaresInto(parameter.size, gradients.shape[0], gradients.ptr, out.ptr, 1);
    return out;
  },
};

/**
 * s²·Σ_i δ_i² (a_i²)ᵀ (weight) or s²·Σ_i δ_i² (bias) of a rank-one Linear layer, from δ² [N, out]:
 * the sum may run over several output gradients first, since a_i is shared (the curvature
 * factor columns).
 */
export function sumGradSquaredFromSquaredDelta(squaredDelta: Tensor, activations: Tensor, role: ParameterRole, parameter: Tensor, s2: number): Tensor {
  const out = new Tensor(parameter.shape, "float32", "sumGradSquared");
  const [batch, inFeatures] = activations.shape;
  const outFeatures = squaredDelta.shape[1];
  if (role === "bias") {
    engineMemory.kernels.sumAxis(squaredDelta.ptr, 1, batch, outFeatures, s2, out.ptr);
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
}

/** g_iᵀd for each sample, from materialized per-sample gradients G [N, D]: the rows of G·d (float64 sums). */
export function materializedProjections(gradients: Tensor, direction: Tensor): Float64Array {
  const batch = gradients.shape[0];
  const size = gradients.size / batch;
  if (direction.size !== size) throw new RangeError(`gradscope: projection direction of ${direction.size} elements for per-sample gradients of ${size}`);
  return rowDots(gradients.ptr, direction.ptr, batch, size, { sharedY: true, precise: true });
}

/** Histogram counts of all per-sample gradient elements. Linear: counted from δ and a (see linearHistogram.ts). */
export const hist1d: StatisticRules<Float64Array> = {
  closedForms: { linear: rankOne((view, role, _parameter, context) => rankOneHistogram1d(view, role, histogram1dSpec(context))) },
  general(gradients: Tensor, _parameter: Tensor, context: LayerContext): Float64Array {
    return tensorHistogram1d(gradients, histogram1dSpec(context));
  },
};

/** Histogram counts of (g_i[j], θ[j]) pairs. Linear: from δ and a (see linearHistogram.ts). */
export const hist2d: StatisticRules<Float64Array> = {
  closedForms: { linear: rankOne((view, role, parameter, context) => rankOneHistogram2d(view, role, parameter, histogram2dSpec(context))) },
  general(gradients: Tensor, parameter: Tensor, context: LayerContext): Float64Array {
    return tensorHistogram2d(gradients, parameter, histogram2dSpec(context));
  },
};

const histogram1dSpec = (context: LayerContext): Histogram1dSpec => context.request.hist1d as Histogram1dSpec;
const histogram2dSpec = (context: LayerContext): Histogram2dSpec => context.request.hist2d as Histogram2dSpec;

function squared(x: Tensor): Tensor {
  return computeBinary("mul", x, x, x.shape.slice());
}

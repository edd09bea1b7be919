import { engineMemory } from "../memory.ts";
import { isMostlyZero } from "../ops/conv2d.ts";
import type { LayerRecord, Tensor } from "../tensor.ts";
import { gramRouteCheaper } from "./convClosedForms.ts";
import { ConvColumnSquares } from "./convCurvature.ts";
import { conv2dBiasGradients, individualGradients, type ParameterGradients } from "./individualGradients.ts";
import type { RecordOf } from "./layerKinds.ts";
import { type RankOneLinear, rankOneLinear } from "./linearClosedForms.ts";
import type { ParameterRole } from "./projections.ts";
import type { ExtensionRequest } from "./types.ts";

/**
 * One layer's output gradient during a backward pass with extensions, and what its rules share:
 * the rank-one view of a Linear layer, a conv layer's per-sample bias gradients and squared
 * sums, and the materialized per-sample gradients (made at most once, when a rule falls back).
 * `dispose` frees what is not handed out.
 */
export class LayerContext {
  private rankOne: RankOneLinear | null | undefined;
  private materialized: ParameterGradients[] | null = null;
  private convBias: Tensor | null = null;
  private convSquares: ConvColumnSquares | null = null;
  private sparseGradOut: boolean | undefined;
  private readonly kept = new Set<Tensor>();

  constructor(
    readonly layer: LayerRecord,
    readonly gradOut: Tensor,
    /** s in g_i = s·(per-sample gradient). */
    readonly scale: number,
    readonly request: ExtensionRequest,
  ) {}

  /** The rank-one view of a Linear layer without middle axes, else null. */
  rankOneLinear(): RankOneLinear | null {
    if (this.rankOne === undefined) this.rankOne = rankOneLinear(this.layer, this.gradOut, this.scale);
    return this.rankOne;
  }

  /** Whether the per-sample gradients are materialized, so statistics reduce them cheaply. */
  get hasMaterialized(): boolean {
    return this.materialized !== null;
  }

  /** The per-sample gradients g_i of one of the layer's parameters [N, *shape], materialized once. */
  gradients(parameter: Tensor): Tensor {
    this.materialized ??= individualGradients(this.layer, this.gradOut, this.scale);
    const entry = this.materialized.find((e) => e.parameter === parameter);
    if (!entry) throw new Error(`gradscope: no per-sample gradients of ${parameter.name ?? "a parameter"} in its layer`);
    return entry.gradients;
  }

  /** Hands the materialized gradients of `parameter` to the caller, who then owns them. */
  keepGradients(parameter: Tensor): Tensor {
    const gradients = this.gradients(parameter);
    this.kept.add(gradients);
    return gradients;
  }

  /** Whether a conv weight's batchL2 or batchDot is cheaper from the Grams than from materialized g_i. */
  prefersGram(layer: RecordOf<"conv2d">, statistic: "batchL2" | "batchDot"): boolean {
    this.sparseGradOut ??= isMostlyZero(this.gradOut);
    return !this.hasMaterialized && gramRouteCheaper(layer.hyper, statistic, this.sparseGradOut);
  }

  /** A conv layer's per-sample bias gradients [N, out]. */
  convBiasGradients(layer: RecordOf<"conv2d">): Tensor {
    this.convBias ??= conv2dBiasGradients(layer, this.gradOut, this.scale);
    return this.convBias;
  }

  /** Σ_i g_i² of a conv layer's weight or bias, the caller's to own, summed one sample at a time. */
  convSquaredSum(layer: RecordOf<"conv2d">, role: ParameterRole): Tensor {
    if (!this.convSquares) {
      this.convSquares = new ConvColumnSquares(layer);
      this.convSquares.add(this.gradOut, 1);
      this.convSquares.flush();
      for (const sum of [this.convSquares.weight, this.convSquares.bias]) if (sum) engineMemory.kernels.scaleInPlace(sum.size, sum.ptr, this.scale * this.scale);
    }
    const sum = role === "weight" ? this.convSquares.weight : this.convSquares.bias;
    if (!sum) throw new Error(`gradscope: the conv layer's ${role} takes no gradient`);
    this.kept.add(sum);
    return sum;
  }

  /** Frees the layer's buffers that were not handed out. */
  dispose(): void {
    this.rankOne?.dispose();
    for (const { gradients } of this.materialized ?? []) if (!this.kept.has(gradients)) gradients.dispose();
    this.convBias?.dispose();
    for (const sum of [this.convSquares?.weight, this.convSquares?.bias]) if (sum && !this.kept.has(sum)) sum.dispose();
    this.materialized = null;
    this.convBias = null;
  }
}

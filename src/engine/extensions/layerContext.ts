import { zeros } from "../creation.ts";
import { engineMemory } from "../memory.ts";
import { isMostlyZero } from "../ops/conv2d.ts";
import type { LayerRecord, Tensor } from "../tensor.ts";
import { gramRouteCheaper } from "./convClosedForms.ts";
import { conv2dBiasGradients, forEachConvWeightChunk, individualGradients, type ParameterGradients } from "./individualGradients.ts";
import type { RecordOf } from "./layerKinds.ts";
import { type RankOneLinear, rankOneLinear, rowSquaredNorms } from "./linearClosedForms.ts";
import type { ExtensionRequest } from "./types.ts";

/** What one chunked pass over a conv weight's per-sample gradients reduces them to. */
export interface ConvWeightReductions {
  /** ‖g_i‖², if the request has batchL2. */
  batchL2: Float64Array | null;
  /** Σ_i g_i², if the request has sumGradSquared. */
  sumGradSquared: Tensor | null;
}

/**
 * One layer's output gradient during a backward pass with extensions, and what its rules share:
 * the rank-one view of a Linear layer, a conv layer's per-sample bias gradients and the chunked
 * reductions of its weight's, and the materialized per-sample gradients (made at most once,
 * when a rule falls back). `dispose` frees what is not handed out.
 */
export class LayerContext {
  private rankOne: RankOneLinear | null | undefined;
  private materialized: ParameterGradients[] | null = null;
  private convBias: Tensor | null = null;
  private convReductions: ConvWeightReductions | null = null;
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
    return this.handOut(this.gradients(parameter));
  }

  /** Whether a conv weight's batchL2 or batchDot is cheaper from the Grams than from materialized g_i. */
  prefersGram(layer: RecordOf<"conv2d">, statistic: "batchL2" | "batchDot"): boolean {
    this.sparseGradOut ??= isMostlyZero(this.gradOut);
    return !this.hasMaterialized && gramRouteCheaper(layer.hyper, statistic, this.sparseGradOut);
  }

  /** A conv layer's per-sample bias gradients [N, out] (the materialized ones, where they are). */
  convBiasGradients(layer: RecordOf<"conv2d">): Tensor {
    if (this.materialized) return this.gradients(layer.bias as Tensor);
    this.convBias ??= conv2dBiasGradients(layer, this.gradOut, this.scale);
    return this.convBias;
  }

  /**
   * A conv weight's batchL2 and sumGradSquared, as requested, reduced in one pass from per-sample
   * gradients formed a chunk of samples at a time.
   */
  convWeightReductions(layer: RecordOf<"conv2d">): ConvWeightReductions {
    if (!this.convReductions) {
      const weight = layer.weight as Tensor;
      const norms = this.request.batchL2 ? new Float64Array(layer.hyper.batch) : null;
      const squares = this.request.sumGradSquared ? zeros(weight.shape) : null;
      forEachConvWeightChunk(layer, this.gradOut, this.scale, (first, gradients) => {
        const samples = gradients.shape[0];
        norms?.set(rowSquaredNorms(gradients, samples, weight.size), first);
        if (squares) engineMemory.kernels.sumSquaresInto(weight.size, samples, gradients.ptr, squares.ptr, 1);
      });
      this.convReductions = { batchL2: norms, sumGradSquared: squares };
    }
    return this.convReductions;
  }

  /** Hands a tensor the context made to the caller, who then owns it. */
  handOut<T extends Tensor>(tensor: T): T {
    this.kept.add(tensor);
    return tensor;
  }

  /** Frees the layer's buffers that were not handed out. */
  dispose(): void {
    this.rankOne?.dispose();
    for (const { gradients } of this.materialized ?? []) if (!this.kept.has(gradients)) gradients.dispose();
    this.convBias?.dispose();
    const squares = this.convReductions?.sumGradSquared;
    if (squares && !this.kept.has(squares)) squares.dispose();
    this.materialized = null;
    this.convBias = null;
  }
}

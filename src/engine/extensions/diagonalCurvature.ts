import { backward } from "../autograd.ts";
import { zeros } from "../creation.ts";
import { rulesOf } from "../curvature/hvp.ts";
import type { HessianFactor } from "../curvature/rules.ts";
import { axpyInto } from "../kernels/elementwise.ts";
import { engineMemory } from "../memory.ts";
import type { GradNode, LayerRecord, Tensor } from "../tensor.ts";
import { ConvColumnSquares } from "./convCurvature.ts";
import { computeLayer } from "./layerStatistics.ts";
import { rankOneLinear } from "./linearClosedForms.ts";
import { sumGradSquaredFromSquaredDelta } from "./statistics.ts";
import type { DiagonalCurvatureRequest, ParameterStatistics } from "./types.ts";

/**
 * BackPACK's DiagHessian and DiagGGN. During the ordinary backward pass (`onNode`), the loss
 * contributes the symmetric factor of its Hessian w.r.t. the prediction and, for the exact
 * Hessian, every op with curvature (tanh, sigmoid, ...) contributes σ''(x)·gradOut. `finish`
 * then backpropagates each factor column from where it entered; a parameter's diagonal is the
 * signed sum of the squared per-sample gradients these columns produce at its layer.
 */
export class DiagonalCurvature {
  private readonly injected: Array<{ at: Tensor; factor: HessianFactor }> = [];

  constructor(private readonly request: DiagonalCurvatureRequest) {}

  /** The backward hook: records the factors the op contributes. */
  readonly onNode = (node: GradNode, gradOut: Tensor): void => {
    const exact = this.request.kind === "diag_h";
    const rules = exact ? rulesOf(node, "the Hessian diagonal (diag_h)") : node.curvature;
    const random = this.request.kind === "diag_ggn_mc" ? this.request.random : undefined;
    if (this.request.kind === "diag_ggn_mc" && !random) throw new Error("gradscope: diag_ggn_mc needs a random generator for its Monte-Carlo samples");
    const factors = rules?.lossFactors ? rules.lossFactors(gradOut, random) : exact ? (rules?.residualFactors?.(gradOut) ?? []) : [];
    const at = node.inputs[0];
    for (const factor of factors) {
      if (at?.requiresGrad && at.node) this.injected.push({ at, factor });
      else for (const column of factor.columns) column.dispose();
    }
  };

  /** Propagates the recorded factors and stores each parameter's diagonal in `results`. */
  finish(results: Map<Tensor, ParameterStatistics>): void {
    if (this.request.kind !== "diag_h" && !this.injected.length) throw new Error(`gradscope: ${this.request.kind} found no loss with curvature factors in the graph`);
    const totals = new Map<Tensor, Tensor>();
    // Adds ±squares to the parameter's diagonal and frees them.
    const add = (parameter: Tensor, squares: Tensor, sign: number): void => {
      const total = totals.get(parameter);
      if (total) {
        axpyInto(total, squares, sign);
        squares.dispose();
      } else if (sign === 1) totals.set(parameter, squares);
      else {
        totals.set(parameter, zeros(parameter.shape));
        add(parameter, squares, sign);
      }
    };
    // Rank-one linear layers share a_i across columns: Σ_k ±(δ_ik a_iᵀ)² = (Σ_k ±δ_ik²)(a_i²)ᵀ,
    // so their δ² are summed over all columns first and meet the activations in one GEMM.
    const linearSquares = new Map<LayerRecord, Tensor>();
    // Conv layers stack the columns per sample instead (see ConvColumnSquares).
    const convSquares = new Map<LayerRecord, ConvColumnSquares>();
    for (const { at, factor } of this.injected.splice(0)) {
      for (const column of factor.columns) {
        const perColumn = new Map<Tensor, ParameterStatistics>();
        const onLayer = (layer: LayerRecord, gradOut: Tensor): void => {
          if (layer.kind === "conv2d") {
            let entry = convSquares.get(layer);
            if (!entry) {
              entry = new ConvColumnSquares(layer);
              convSquares.set(layer, entry);
            }
            entry.add(gradOut, factor.sign);
            return;
          }
          if (!rankOneLinear(layer, gradOut, 1)) {
            computeLayer(layer, gradOut, 1, { sumGradSquared: true }, perColumn);
            return;
          }
          let squares = linearSquares.get(layer);
          if (!squares) {
            squares = zeros(gradOut.shape);
            linearSquares.set(layer, squares);
          }
          engineMemory.kernels.sumSquaresInto(gradOut.size, 1, gradOut.ptr, squares.ptr, factor.sign);
        };
        backward(at, { gradient: column, accumulate: false, onLayer });
        column.dispose();
        for (const [parameter, stats] of perColumn) add(parameter, stats.sumGradSquared as Tensor, factor.sign);
      }
    }
    for (const [layer, squares] of linearSquares) {
      for (const [parameter, role] of [
        [layer.weight, "weight"],
        [layer.bias, "bias"],
      ] as const) {
        if (parameter?.requiresGrad) add(parameter, sumGradSquaredFromSquaredDelta(squares, layer.input, role, parameter, 1), 1);
      }
      squares.dispose();
    }
    for (const [layer, entry] of convSquares) {
      entry.flush();
      if (layer.weight && entry.weight) add(layer.weight, entry.weight, 1);
      if (layer.bias && entry.bias) add(layer.bias, entry.bias, 1);
    }
    for (const [parameter, stats] of results) stats.diagonalCurvature = totals.get(parameter) ?? zeros(parameter.shape);
  }
}

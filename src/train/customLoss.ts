import { backward, isGradEnabled, noGrad, record } from "../engine/autograd.ts";
import { copyOf, ones, tensor, zeros } from "../engine/creation.ts";
import type { CurvatureRules, HessianFactor } from "../engine/curvature/rules.ts";
import { addInto } from "../engine/kernels/elementwise.ts";
import type { Random } from "../engine/random.ts";
import { shapeString } from "../engine/shapes.ts";
import type { Tensor } from "../engine/tensor.ts";

/**
 * A loss of the user's own: the per-sample loss vector ℓ [N] of a batch's `output` [N, ...]
 * against its `target` (DESIGN.md's loss convention; the trained objective is its mean). Sample
 * n's loss must depend on row n of the output only, and on the parameters only through it.
 */
export type PerSampleLoss = (output: Tensor, target: Tensor) => Tensor;

/**
 * The curvature of a custom loss: columns c_k shaped like `output`, with the Hessian of sample
 * n's loss w.r.t. its output row equal to Σ_k c_k[n] c_k[n]ᵀ (a symmetric positive
 * semi-definite factor, the form the engine's curvature extensions propagate). For
 * cross-entropy of logits z with p = softmax(z): c_k = √p_k (e_k − p), k = 1..C.
 */
export type LossCurvature = (output: Tensor, target: Tensor) => Tensor[];

// Row n of `x` (N rows) scaled by `weights[n]`, in place.
function scaleRows(x: Tensor, weights: ArrayLike<number>): void {
  const features = x.size / x.shape[0];
  const values = x.data;
  for (let n = 0; n < x.shape[0]; n++) for (let j = 0; j < features; j++) values[n * features + j] *= weights[n];
}

// ⟨a[n], b[n]⟩ per row.
function rowDots(a: Tensor, b: Tensor): Float64Array {
  const rows = a.shape[0];
  const features = a.size / rows;
  const dots = new Float64Array(rows);
  const [x, y] = [a.data, b.data];
  for (let n = 0; n < rows; n++) for (let j = 0; j < features; j++) dots[n] += x[n * features + j] * y[n * features + j];
  return dots;
}

// The user's factor columns, checked to be shaped like the output.
function factorColumns(curvature: LossCurvature, output: Tensor, target: Tensor): Tensor[] {
  const columns = noGrad(() => curvature(output, target));
  for (const column of columns) {
    if (column.size !== output.size || column.shape[0] !== output.shape[0]) {
      throw new RangeError(
        `gradscope: lossCurvature returned a column of shape ${shapeString(column.shape)}; each column must be shaped like the output ${shapeString(output.shape)}`,
      );
    }
  }
  return columns;
}

// Adds each column, scaled per row by `weights(k)`, into `into`; frees the columns.
function addScaledColumns(into: Tensor, columns: Tensor[], weights: (column: Tensor) => ArrayLike<number>): void {
  for (const column of columns) {
    scaleRows(column, weights(column));
    addInto(into, column);
    column.dispose();
  }
}

// The second-order rules of the loss op, from the user's factor: the output Hessian of
// Σ_n w_n ℓ_n is Σ_n w_n Σ_k c_k[n] c_k[n]ᵀ. `outputGradient()` is ∇ℓ_n per row, a new tensor.
function factorRules(curvature: LossCurvature, output: Tensor, target: Tensor, outputGradient: () => Tensor): CurvatureRules {
  return {
    jvp: ([tangent]) => {
      if (!tangent) return null;
      const gradient = outputGradient();
      const products = tensor(rowDots(gradient, tangent), [output.shape[0]]);
      gradient.dispose();
      return products;
    },
    backwardTangent: (gradOut, gradOutTangent, [tangent]) => {
      const result = zeros(output.shape);
      if (gradOutTangent) {
        const gradient = outputGradient();
        scaleRows(gradient, gradOutTangent.data);
        addInto(result, gradient);
        gradient.dispose();
      }
      if (tangent) {
        const weights = gradOut.data.slice();
        addScaledColumns(result, factorColumns(curvature, output, target), (column) => rowDots(column, tangent).map((dot, n) => dot * weights[n]));
      }
      return [result, null];
    },
    lossFactors: (gradOut: Tensor, random?: Random): HessianFactor[] => {
      if (gradOut.data.some((w) => w < 0)) throw new RangeError("gradscope: a custom loss's curvature factor needs non-negative per-sample loss weights");
      const roots = Array.from(gradOut.data, Math.sqrt);
      const columns = factorColumns(curvature, output, target);
      if (!random) {
        for (const column of columns) scaleRows(column, roots);
        return [{ sign: 1, columns }];
      }
      // One Monte-Carlo column Σ_k ε_k c_k (ε standard normal per sample and column), whose
      // outer product is Σ_k c_k c_kᵀ in expectation.
      const sampled = zeros(output.shape);
      addScaledColumns(sampled, columns, () => roots.map((root) => root * random.normal()));
      return [{ sign: 1, columns: [sampled] }];
    },
  };
}

/**
 * ℓ = loss(output, target) as one op of the graph. The user's loss runs on a copy of the output
 * in a graph of its own, which the op's backward differentiates; the model's graph sees a single
 * loss op, like a built-in loss. Its second-order rules (Hessian diagonals, Hessian-vector
 * products) come from `curvature` alone; without it the op has none, and the curvature
 * extensions refuse it by name ("custom_loss").
 */
export function customLoss(loss: PerSampleLoss, output: Tensor, target: Tensor, curvature?: LossCurvature): Tensor {
  if (!isGradEnabled() || !output.requiresGrad) return checkedLosses(loss(output, target), output);
  const leaf = copyOf(output);
  leaf.requiresGrad = true;
  const inner = checkedLosses(loss(leaf, target), output);
  // ∂(Σ_n weights_n ℓ_n)/∂output through the user's graph, in a new tensor of the caller's scope.
  const gradientFor = (weights: Tensor): Tensor => {
    if (!inner.requiresGrad) return zeros(output.shape);
    backward(inner, { gradient: weights });
    const gradient = copyOf(leaf.grad as Tensor);
    leaf.grad?.dispose();
    leaf.grad = null;
    return gradient;
  };
  const outputGradient = (): Tensor => {
    const weights = ones([output.shape[0]]);
    const gradient = gradientFor(weights);
    weights.dispose();
    return gradient;
  };
  return record(copyOf(inner), {
    op: "custom_loss",
    inputs: [output, target],
    backward: (gradOut) => [gradientFor(gradOut), null],
    curvature: curvature ? factorRules(curvature, output, target, outputGradient) : undefined,
  });
}

function checkedLosses(losses: Tensor, output: Tensor): Tensor {
  if (losses.rank !== 1 || losses.shape[0] !== output.shape[0]) {
    throw new RangeError(
      `gradscope: a custom loss must return the per-sample losses, shape [${output.shape[0]}] for this batch of ${output.shape[0]}; it returned ${shapeString(losses.shape)}`,
    );
  }
  return losses;
}

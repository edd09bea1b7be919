import { addInto } from "../kernels/elementwise.ts";
import { engineMemory } from "../memory.ts";
import type { Random } from "../random.ts";
import { Tensor } from "../tensor.ts";

/**
 * A symmetric factor Σ_k sign·c_k c_kᵀ of a curvature term. Each column c_k is shaped like the
 * op's input; row n of every column belongs to sample n, because the term is block-diagonal over
 * the samples of a batch.
 */
export interface HessianFactor {
  readonly sign: 1 | -1;
  readonly columns: Tensor[];
}

/**
 * Second-order rules of an op: Pearlmutter's R-operator (forward-over-reverse) for exact
 * Hessian-vector products, and the curvature the op adds for BackPACK-style Hessian diagonals.
 * A tangent of null stands for zero.
 */
export interface CurvatureRules {
  /** The directional derivative of the output, given those of the inputs. */
  jvp(tangents: ReadonlyArray<Tensor | null>): Tensor | null;
  /**
   * The directional derivative of `backward(gradOut)`: the input gradients' tangents, given the
   * output gradient, its tangent and the inputs' tangents.
   */
  backwardTangent(gradOut: Tensor, gradOutTangent: Tensor | null, tangents: ReadonlyArray<Tensor | null>): Array<Tensor | null>;
  /**
   * Losses: the factor of Σ_n gradOut_n·∇²ℓ_n w.r.t. the prediction (the generalized
   * Gauss-Newton's output Hessian). With `random`, one Monte-Carlo column whose outer product
   * equals it in expectation.
   */
  lossFactors?(gradOut: Tensor, random?: Random): HessianFactor[];
  /**
   * Ops nonlinear in their input (activations): the factors of Σ_o gradOut_o·∇²y_o w.r.t. the
   * input, which the exact Hessian diagonal adds to the Gauss-Newton part. Absent on ops that are
   * (piecewise) linear in their input.
   */
  residualFactors?(gradOut: Tensor): HessianFactor[];
}

type Backward = (gradOut: Tensor) => Array<Tensor | null>;

/** a + b for owned temporaries, either possibly null (zero); reuses `a`. */
export function sumTangents(a: Tensor | null, b: Tensor | null): Tensor | null {
  if (!a) return b;
  if (!b) return a;
  addInto(a, b);
  b.dispose();
  return a;
}

/** A new tensor x ⊙ y (same shapes). */
export function multiplied(x: Tensor, y: Tensor, what: string): Tensor {
  const out = new Tensor(x.shape, "float32", what);
  const heap = engineMemory.f32;
  for (let i = 0; i < x.size; i++) heap[out.offset + i] = heap[x.offset + i] * heap[y.offset + i];
  return out;
}

/** Zeros shaped like `like`. */
export function zerosLike(like: Tensor, what: string): Tensor {
  const out = new Tensor(like.shape, "float32", what);
  engineMemory.f32.fill(0, out.offset, out.offset + out.size);
  return out;
}

/**
 * Rules of an op that is linear in its inputs (reshape, pooling with a fixed argmax, sums, the
 * adds): the output tangent is the op applied to the tangents, and its backward does not depend
 * on the inputs, so only the output gradient's tangent flows back.
 */
export function linearRules(apply: (tangents: ReadonlyArray<Tensor | null>) => Tensor | null, backward: Backward): CurvatureRules {
  return {
    jvp: (tangents) => (tangents.some((t) => t !== null) ? apply(tangents) : null),
    backwardTangent: (_gradOut, gradOutTangent, tangents) => (gradOutTangent ? backward(gradOutTangent) : tangents.map(() => null)),
  };
}

/**
 * Rules of an elementwise op y = σ(x). Its Jacobian is diagonal, so the backward applied to a
 * tangent is the forward tangent. `secondDerivative(gradOut)` returns σ''(x) ⊙ gradOut, the
 * diagonal curvature; omit it for piecewise-linear ops (relu, dropout).
 */
export function elementwiseRules(backward: Backward, secondDerivative?: (gradOut: Tensor) => Tensor): CurvatureRules {
  return {
    jvp: ([tangent]) => (tangent ? backward(tangent)[0] : null),
    backwardTangent: (gradOut, gradOutTangent, [tangent]) => {
      const first = gradOutTangent ? backward(gradOutTangent)[0] : null;
      if (!secondDerivative || !tangent) return [first];
      const curvature = secondDerivative(gradOut);
      const second = multiplied(curvature, tangent, "curvature tangent");
      curvature.dispose();
      return [sumTangents(first, second)];
    },
    residualFactors: secondDerivative
      ? (gradOut) => {
          const curvature = secondDerivative(gradOut);
          const factors = diagonalFactors(curvature);
          curvature.dispose();
          return factors;
        }
      : undefined,
  };
}

/**
 * Factors of a per-sample diagonal curvature d [N, ...]: one unit column per feature and sign,
 * scaled by √|d| (columns that are zero for every sample are left out).
 */
export function diagonalFactors(diagonal: Tensor): HessianFactor[] {
  const batch = diagonal.shape[0];
  const features = diagonal.size / batch;
  const heap = engineMemory.f32;
  const factors: HessianFactor[] = [];
  for (const sign of [1, -1] as const) {
    const columns: Tensor[] = [];
    for (let f = 0; f < features; f++) {
      let any = false;
      for (let n = 0; n < batch && !any; n++) any = sign * heap[diagonal.offset + n * features + f] > 0;
      if (!any) continue;
      const column = zerosLike(diagonal, "curvature factor column");
      for (let n = 0; n < batch; n++) {
        const value = sign * heap[diagonal.offset + n * features + f];
        if (value > 0) heap[column.offset + n * features + f] = Math.sqrt(value);
      }
      columns.push(column);
    }
    if (columns.length > 0) factors.push({ sign, columns });
  }
  return factors;
}

/** One Monte-Carlo column √d ⊙ ε (ε standard normal) of a non-negative diagonal curvature d. */
export function sampledDiagonalFactor(diagonal: Tensor, random: Random): HessianFactor[] {
  const column = new Tensor(diagonal.shape, "float32", "sampled curvature factor");
  const heap = engineMemory.f32;
  for (let i = 0; i < diagonal.size; i++) heap[column.offset + i] = Math.sqrt(Math.max(heap[diagonal.offset + i], 0)) * random.normal();
  return [{ sign: 1, columns: [column] }];
}

/**
 * Rules of an op bilinear in (input x, weight W) plus an optional bias b, such as linear and
 * conv2d: y = f(x, W) + b. `forward(x, w, b)` evaluates it without recording, and
 * `vjp(x, w, gradOut, wants)` returns [∂x, ∂W, ∂b] of ⟨gradOut, f(x, w) + b⟩ for the wanted ones.
 */
export function bilinearRules(
  inputs: { x: Tensor; weight: Tensor; bias: Tensor | null },
  forward: (x: Tensor, weight: Tensor, bias: Tensor | null) => Tensor,
  vjp: (x: Tensor, weight: Tensor, gradOut: Tensor, wants: { x: boolean; weight: boolean; bias: boolean }) => Array<Tensor | null>,
): CurvatureRules {
  const { x, weight, bias } = inputs;
  return {
    jvp: ([dx, dw, db]) => {
      const fromInput = dx ? forward(dx, weight, null) : null;
      if (!dw && !db) return fromInput;
      const zeroWeight = dw ? null : zerosLike(weight, "zero weight tangent");
      const fromParameters = forward(x, dw ?? (zeroWeight as Tensor), db ?? null);
      zeroWeight?.dispose();
      return sumTangents(fromInput, fromParameters);
    },
    backwardTangent: (gradOut, gradOutTangent, [dx, dw]) => {
      const wants = { x: x.requiresGrad, weight: weight.requiresGrad, bias: Boolean(bias?.requiresGrad) };
      const first = gradOutTangent ? vjp(x, weight, gradOutTangent, wants) : [null, null, null];
      // The product rule's other halves: ∂x sees the weight's tangent, ∂W the input's.
      const inputCross = dw && wants.x ? vjp(x, dw, gradOut, { x: true, weight: false, bias: false })[0] : null;
      const weightCross = dx && wants.weight ? vjp(dx, weight, gradOut, { x: false, weight: true, bias: false })[1] : null;
      return [sumTangents(first[0], inputCross), sumTangents(first[1], weightCross), first[2]];
    },
  };
}

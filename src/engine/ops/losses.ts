import { record } from "../autograd.ts";
import { zeros } from "../creation.ts";
import { diagonalFactors, type HessianFactor, linearRules, multiplied, sampledDiagonalFactor, sumTangents } from "../curvature/rules.ts";
import { engineMemory } from "../memory.ts";
import type { Random } from "../random.ts";
import { shapeString } from "../shapes.ts";
import { Tensor } from "../tensor.ts";
import { logSoftmaxRows } from "./softmax.ts";
import { sigmoidOf } from "./unary.ts";

// Every loss returns the per-sample loss vector ℓ of length N; the trained objective is its
// mean (DESIGN.md, "Loss convention"). Multi-element samples are averaged over their elements,
// so that mean_i ℓ_i equals PyTorch's reduction="mean" value.

function classTargets(op: string, input: Tensor, target: Tensor): { batch: number; classes: number } {
  if (input.rank !== 2 || target.dtype !== "int32" || target.rank !== 1 || target.shape[0] !== input.shape[0]) {
    throw new RangeError(
      `gradscope: ${op}: expected input [N, C] and int32 targets [N], got ${input.dtype}${shapeString(input.shape)} and ${target.dtype}${shapeString(target.shape)}`,
    );
  }
  const [batch, classes] = input.shape;
  const ints = engineMemory.i32;
  for (let i = 0; i < batch; i++) {
    const label = ints[target.offset + i];
    if (label < 0 || label >= classes) throw new RangeError(`gradscope: ${op}: target ${label} of sample ${i} is outside [0, ${classes})`);
  }
  return { batch, classes };
}

/** Options of `crossEntropy`. */
export interface CrossEntropyOptions {
  /** ε of label smoothing: ℓ = (1−ε)(−log p_y) + ε·mean_c(−log p_c). */
  labelSmoothing?: number;
}

/**
 * Cross-entropy from logits [N, C], per sample, against int32 class targets [N] or float32 class
 * probabilities [N, C] (soft targets, as MixUp and CutMix make). With targets q_n (one-hot for a
 * label) smoothed to q̃ = (1−ε)·q + ε/C: ℓ_n = −Σ_c q̃_nc·log p_nc.
 */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  if (target.dtype === "float32") return softCrossEntropy(logits, target, options);
  const { batch, classes } = classTargets("cross_entropy", logits, target);
  const smoothing = checkedSmoothing(options);
  const logProbs = logSoftmaxCopy(logits, batch, classes);
  const out = new Tensor([batch], "float32", "cross_entropy");
  const heap = engineMemory.f32;
  const ints = engineMemory.i32;
  for (let i = 0; i < batch; i++) {
    const row = i * classes;
    let meanNegLog = 0;
    for (let c = 0; c < classes; c++) meanNegLog -= logProbs[row + c];
    meanNegLog /= classes;
    heap[out.offset + i] = -(1 - smoothing) * logProbs[row + ints[target.offset + i]] + smoothing * meanNegLog;
  }
  const smoothed = (n: number, c: number): number => (c === ints[target.offset + n] ? 1 - smoothing : 0) + smoothing / classes;
  return record(out, {
    op: "cross_entropy",
    inputs: [logits, target],
    curvature: softmaxCrossEntropyRules(logProbs, smoothed, null, batch, classes),
    backward: (gradOut) => {
      // ∂ℓ_i/∂z_ic = p_ic − ((1−ε)·[c = y_i] + ε/C)
      const grad = new Tensor(logits.shape, "float32", "cross_entropy backward");
      const h = engineMemory.f32;
      const t = engineMemory.i32;
      for (let i = 0; i < batch; i++) {
        const g = h[gradOut.offset + i];
        const label = t[target.offset + i];
        for (let c = 0; c < classes; c++) {
          const q = (c === label ? 1 - smoothing : 0) + smoothing / classes;
          h[grad.offset + i * classes + c] = g * (Math.exp(logProbs[i * classes + c]) - q);
        }
      }
      return [grad, null];
    },
  });
}

function checkedSmoothing(options: CrossEntropyOptions): number {
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeError(`gradscope: cross_entropy: label smoothing must be in [0, 1], got ${smoothing}`);
  return smoothing;
}

function logSoftmaxCopy(logits: Tensor, batch: number, classes: number): Float32Array {
  const logProbs = new Float32Array(batch * classes);
  const scratch = new Tensor([batch, classes], "float32", "cross_entropy log-probabilities");
  logSoftmaxRows(logits.offset, scratch.offset, batch, classes);
  logProbs.set(scratch.data);
  scratch.dispose();
  return logProbs;
}

// Soft targets must be class probabilities: rows of non-negative numbers that sum to 1 (to float32
// rounding of a blend such as MixUp's λ·a + (1−λ)·b).
const SOFT_TARGET_SUM_TOLERANCE = 1e-3;

/** Cross-entropy against float32 class probabilities [N, C]; the smoothed targets are computed once, in double. */
function softCrossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions): Tensor {
  if (logits.rank !== 2 || target.rank !== 2 || target.shape[0] !== logits.shape[0] || target.shape[1] !== logits.shape[1]) {
    throw new RangeError(
      `gradscope: cross_entropy: expected input [N, C] and int32 targets [N] or float32 class probabilities [N, C], got ${logits.dtype}${shapeString(logits.shape)} and ${target.dtype}${shapeString(target.shape)}`,
    );
  }
  const [batch, classes] = logits.shape;
  const smoothing = checkedSmoothing(options);
  const probabilities = target.data;
  const q = new Float64Array(batch * classes);
  // Σ_c q̃_nc: 1 up to rounding; the gradient p·Σq̃ − q̃ stays exact for whatever the rows sum to.
  const mass = new Float64Array(batch);
  for (let n = 0; n < batch; n++) {
    let sum = 0;
    for (let c = 0; c < classes; c++) {
      const value = probabilities[n * classes + c];
      if (!(value >= 0)) throw new RangeError(`gradscope: cross_entropy: soft target [${n}, ${c}] is ${value}; class probabilities must be >= 0`);
      sum += value;
      q[n * classes + c] = (1 - smoothing) * value + smoothing / classes;
    }
    if (Math.abs(sum - 1) > SOFT_TARGET_SUM_TOLERANCE)
      throw new RangeError(`gradscope: cross_entropy: soft targets of sample ${n} sum to ${sum}; class probabilities must sum to 1`);
    mass[n] = (1 - smoothing) * sum + smoothing;
  }
  const logProbs = logSoftmaxCopy(logits, batch, classes);
  const out = new Tensor([batch], "float32", "cross_entropy");
  const heap = engineMemory.f32;
  for (let n = 0; n < batch; n++) {
    let loss = 0;
    for (let c = 0; c < classes; c++) loss -= q[n * classes + c] * logProbs[n * classes + c];
    heap[out.offset + n] = loss;
  }
  return record(out, {
    op: "cross_entropy",
    inputs: [logits, target],
    curvature: softmaxCrossEntropyRules(logProbs, (n, c) => q[n * classes + c], mass, batch, classes),
    backward: (gradOut) => {
      // ∂ℓ_n/∂z_nc = p_nc·Σ_k q̃_nk − q̃_nc
      const grad = new Tensor(logits.shape, "float32", "cross_entropy backward");
      const h = engineMemory.f32;
      for (let n = 0; n < batch; n++) {
        const g = h[gradOut.offset + n];
        for (let c = 0; c < classes; c++) {
          const k = n * classes + c;
          h[grad.offset + k] = g * (Math.exp(logProbs[k]) * mass[n] - q[k]);
        }
      }
      return [grad, null];
    },
  });
}

// ∂ℓ_n/∂z_nc = p_nc·m_n − q_nc with the smoothed targets q and their mass m_n = Σ_c q_nc (1 for
// labels, `mass` null); ∇²ℓ_n = m_n·(diag(p_n) − p_n p_nᵀ).
function softmaxCrossEntropyRules(logProbs: Float32Array, smoothed: (n: number, c: number) => number, mass: Float64Array | null, batch: number, classes: number) {
  const p = logProbs.map(Math.exp);
  const residual = (n: number, c: number): number => (mass ? p[n * classes + c] * mass[n] : p[n * classes + c]) - smoothed(n, c);
  const nonNegative = (gradOut: Tensor): Float32Array => {
    const weights = gradOut.data;
    if (weights.some((w) => w < 0)) throw new RangeError("gradscope: cross_entropy: curvature factors need non-negative per-sample loss weights");
    return weights;
  };
  // The per-sample weight of the curvature: the loss weight times the target mass.
  const weightOf = (weights: Float32Array, n: number): number => (mass ? weights[n] * mass[n] : weights[n]);
  return {
    jvp: ([tangent]: ReadonlyArray<Tensor | null>): Tensor | null => {
      if (!tangent) return null;
      const out = new Tensor([batch], "float32", "cross_entropy tangent");
      const t = tangent.data;
      for (let n = 0; n < batch; n++) {
        let total = 0;
        for (let c = 0; c < classes; c++) total += residual(n, c) * t[n * classes + c];
        out.data[n] = total;
      }
      return out;
    },
    backwardTangent: (gradOut: Tensor, gradOutTangent: Tensor | null, [tangent]: ReadonlyArray<Tensor | null>): Array<Tensor | null> => {
      if (!tangent && !gradOutTangent) return [null, null];
      const out = new Tensor([batch, classes], "float32", "cross_entropy gradient tangent");
      const [o, g, dg, t] = [out.data, gradOut.data, gradOutTangent?.data, tangent?.data];
      for (let n = 0; n < batch; n++) {
        const row = n * classes;
        let pt = 0;
        if (t) for (let c = 0; c < classes; c++) pt += p[row + c] * t[row + c];
        for (let c = 0; c < classes; c++) {
          const curvature = t ? (mass ? g[n] * mass[n] : g[n]) * p[row + c] * (t[row + c] - pt) : 0;
          o[row + c] = curvature + (dg ? dg[n] * residual(n, c) : 0);
        }
      }
      return [out, null];
    },
    lossFactors: (gradOut: Tensor, random?: Random): HessianFactor[] => {
      const weights = nonNegative(gradOut);
      if (random) {
        // A sampled class y gives the Monte-Carlo column e_y − p.
        const factor = new Tensor([batch, classes], "float32", "cross_entropy sampled curvature factor");
        for (let n = 0; n < batch; n++) {
          const row = n * classes;
          const y = sampleCategorical(p, row, classes, random);
          const root = Math.sqrt(weightOf(weights, n));
          for (let c = 0; c < classes; c++) factor.data[row + c] = root * ((c === y ? 1 : 0) - p[row + c]);
        }
        return [{ sign: 1, columns: [factor] }];
      }
      // diag(p) − ppᵀ has rank C − 1: its Cholesky factor (the multinomial covariance's, in
      // closed form with suffix sums s_k = Σ_{j≥k} p_j) has C − 1 nonzero columns,
      //   c_k[k] = √(p_k·s_{k+1}/s_k),  c_k[i] = −p_i·√(p_k/(s_k·s_{k+1})) for i > k,  0 above,
      // one column fewer to backpropagate than the symmetric square root's √p_k (e_k − p).
      const columns = Array.from({ length: classes - 1 }, () => zeros([batch, classes]));
      const suffix = new Float64Array(classes + 1);
      for (let n = 0; n < batch; n++) {
        const row = n * classes;
        for (let c = classes - 1; c >= 0; c--) suffix[c] = suffix[c + 1] + p[row + c];
        const root = Math.sqrt(weightOf(weights, n));
        for (let k = 0; k < classes - 1; k++) {
          const [here, rest] = [suffix[k], suffix[k + 1]];
          if (!(here > 0 && rest > 0)) continue;
          const values = columns[k].data;
          values[row + k] = root * Math.sqrt((p[row + k] * rest) / here);
          const scale = root * Math.sqrt(p[row + k] / (here * rest));
          for (let i = k + 1; i < classes; i++) values[row + i] = -scale * p[row + i];
        }
      }
      return [{ sign: 1, columns }];
    },
  };
}

function sampleCategorical(p: Float32Array, start: number, length: number, random: Random): number {
  let u = random.uniform();
  for (let c = 0; c < length - 1; c++) {
    u -= p[start + c];
    if (u < 0) return c;
  }
  return length - 1;
}

/** Negative log-likelihood of log-probabilities [N, C] at int32 targets [N], per sample. */
export function nllLoss(logProbs: Tensor, target: Tensor): Tensor {
  const { batch, classes } = classTargets("nll", logProbs, target);
  const out = new Tensor([batch], "float32", "nll");
  const heap = engineMemory.f32;
  const ints = engineMemory.i32;
  for (let i = 0; i < batch; i++) heap[out.offset + i] = -heap[logProbs.offset + i * classes + ints[target.offset + i]];
  const backward = (gradOut: Tensor): Array<Tensor | null> => {
    const grad = new Tensor(logProbs.shape, "float32", "nll backward");
    const h = engineMemory.f32;
    const t = engineMemory.i32;
    h.fill(0, grad.offset, grad.offset + grad.size);
    for (let i = 0; i < batch; i++) h[grad.offset + i * classes + t[target.offset + i]] = -h[gradOut.offset + i];
    return [grad, null];
  };
  const pick = ([tangent]: ReadonlyArray<Tensor | null>): Tensor => {
    const picked = new Tensor([batch], "float32", "nll tangent");
    const h = engineMemory.f32;
    for (let i = 0; i < batch; i++) h[picked.offset + i] = -h[(tangent as Tensor).offset + i * classes + ints[target.offset + i]];
    return picked;
  };
  return record(out, { op: "nll", inputs: [logProbs, target], backward, curvature: linearRules(pick, backward) });
}

function pairedShapes(op: string, input: Tensor, target: Tensor): { batch: number; perSample: number } {
  if (input.rank < 1 || target.dtype !== "float32" || input.shape.length !== target.shape.length || input.shape.some((d, i) => d !== target.shape[i])) {
    throw new RangeError(`gradscope: ${op}: input ${shapeString(input.shape)} and float32 target ${target.dtype}${shapeString(target.shape)} must have the same shape`);
  }
  const batch = input.shape[0];
  return { batch, perSample: batch === 0 ? 0 : input.size / batch };
}

/** An elementwise loss s(x, t) with its derivatives in x (and in t, for the target's gradient). */
interface ElementwiseLoss {
  value(x: number, t: number): number;
  derivative(x: number, t: number): number;
  second(x: number, t: number): number;
  targetDerivative(x: number, t: number): number;
}

/** Elementwise loss averaged per sample; the target gets a gradient when it requires one. */
function meanPerSample(op: string, input: Tensor, target: Tensor, loss: ElementwiseLoss): Tensor {
  const { batch, perSample } = pairedShapes(op, input, target);
  const out = new Tensor([batch], "float32", op);
  const heap = engineMemory.f32;
  for (let i = 0; i < batch; i++) {
    let total = 0;
    for (let j = 0; j < perSample; j++) total += loss.value(heap[input.offset + i * perSample + j], heap[target.offset + i * perSample + j]);
    heap[out.offset + i] = total / perSample;
  }
  // (gradOut_n / P)·fn(x, t) elementwise.
  const gradientOf = (fn: (x: number, t: number) => number, what: string, gradOut: Tensor): Tensor => {
    const grad = new Tensor(input.shape, "float32", what);
    const h = engineMemory.f32;
    for (let i = 0; i < batch; i++) {
      const g = h[gradOut.offset + i] / perSample;
      for (let j = 0; j < perSample; j++) {
        const k = i * perSample + j;
        h[grad.offset + k] = g * fn(h[input.offset + k], h[target.offset + k]);
      }
    }
    return grad;
  };
  const withoutTargetTangent = (tangents: ReadonlyArray<Tensor | null>): Tensor | null => {
    if (tangents[1] || target.requiresGrad) throw new Error(`gradscope: ${op}: second-order rules need a target that does not depend on parameters`);
    return tangents[0];
  };
  return record(out, {
    op,
    inputs: [input, target],
    backward: (gradOut) => [
      input.requiresGrad ? gradientOf(loss.derivative, `${op} backward`, gradOut) : null,
      target.requiresGrad ? gradientOf(loss.targetDerivative, `${op} target backward`, gradOut) : null,
    ],
    curvature: {
      jvp: (tangents) => {
        const tangent = withoutTargetTangent(tangents);
        if (!tangent) return null;
        const result = new Tensor([batch], "float32", `${op} tangent`);
        const h = engineMemory.f32;
        for (let i = 0; i < batch; i++) {
          let total = 0;
          for (let j = 0; j < perSample; j++) {
            const k = i * perSample + j;
            total += loss.derivative(h[input.offset + k], h[target.offset + k]) * h[tangent.offset + k];
          }
          h[result.offset + i] = total / perSample;
        }
        return result;
      },
      backwardTangent: (gradOut, gradOutTangent, tangents) => {
        const tangent = withoutTargetTangent(tangents);
        const fromOutput = gradOutTangent ? gradientOf(loss.derivative, `${op} gradient tangent`, gradOutTangent) : null;
        if (!tangent) return [fromOutput, null];
        const curvature = gradientOf(loss.second, `${op} curvature`, gradOut);
        const fromInput = multiplied(curvature, tangent, `${op} gradient tangent`);
        curvature.dispose();
        return [sumTangents(fromOutput, fromInput), null];
      },
      lossFactors: (gradOut, random) => {
        const curvature = gradientOf(loss.second, `${op} curvature`, gradOut);
        const factors = random ? sampledDiagonalFactor(curvature, random) : diagonalFactors(curvature);
        curvature.dispose();
        return factors;
      },
    },
  });
}

/** Squared error averaged over each sample's elements. */
export function mseLoss(input: Tensor, target: Tensor): Tensor {
  return meanPerSample("mse", input, target, { value: (x, t) => (x - t) * (x - t), derivative: (x, t) => 2 * (x - t), second: () => 2, targetDerivative: (x, t) => 2 * (t - x) });
}

/** Binary cross-entropy from logits with targets in [0, 1], averaged over each sample's elements. */
export function bceWithLogitsLoss(logits: Tensor, target: Tensor): Tensor {
  return meanPerSample("bce_with_logits", logits, target, {
    // max(x, 0) − x·t + log(1 + e^−|x|): stable for large |x|.
    value: (x, t) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x))),
    derivative: (x, t) => sigmoidOf(x) - t,
    second: (x) => sigmoidOf(x) * (1 - sigmoidOf(x)),
    targetDerivative: (x) => -x,
  });
}

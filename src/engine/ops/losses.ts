import { record } from "../autograd.ts";
import { engineMemory } from "../memory.ts";
import { shapeString } from "../shapes.ts";
import { Tensor } from "../tensor.ts";
import { logSoftmaxRows } from "./softmax.ts";

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

/** Cross-entropy from logits [N, C] and int32 class targets [N], per sample. */
export function crossEntropy(logits: Tensor, target: Tensor, options: CrossEntropyOptions = {}): Tensor {
  const { batch, classes } = classTargets("cross_entropy", logits, target);
  const smoothing = options.labelSmoothing ?? 0;
  if (!(smoothing >= 0 && smoothing <= 1)) throw new RangeError(`gradscope: cross_entropy: label smoothing must be in [0, 1], got ${smoothing}`);
  const logProbs = new Float32Array(batch * classes);
  const scratch = new Tensor([batch, classes], "float32", "cross_entropy log-probabilities");
  logSoftmaxRows(logits.offset, scratch.offset, batch, classes);
  logProbs.set(scratch.data);
  scratch.dispose();
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
  return record(out, {
    op: "cross_entropy",
    inputs: [logits, target],
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

/** Negative log-likelihood of log-probabilities [N, C] at int32 targets [N], per sample. */
export function nllLoss(logProbs: Tensor, target: Tensor): Tensor {
  const { batch, classes } = classTargets("nll", logProbs, target);
  const out = new Tensor([batch], "float32", "nll");
  const heap = engineMemory.f32;
  const ints = engineMemory.i32;
  for (let i = 0; i < batch; i++) heap[out.offset + i] = -heap[logProbs.offset + i * classes + ints[target.offset + i]];
  return record(out, {
    op: "nll",
    inputs: [logProbs, target],
    backward: (gradOut) => {
      const grad = new Tensor(logProbs.shape, "float32", "nll backward");
      const h = engineMemory.f32;
      const t = engineMemory.i32;
      h.fill(0, grad.offset, grad.offset + grad.size);
      for (let i = 0; i < batch; i++) h[grad.offset + i * classes + t[target.offset + i]] = -h[gradOut.offset + i];
      return [grad, null];
    },
  });
}

function pairedShapes(op: string, input: Tensor, target: Tensor): { batch: number; perSample: number } {
  if (input.rank < 1 || target.dtype !== "float32" || input.shape.length !== target.shape.length || input.shape.some((d, i) => d !== target.shape[i])) {
    throw new RangeError(`gradscope: ${op}: input ${shapeString(input.shape)} and float32 target ${target.dtype}${shapeString(target.shape)} must have the same shape`);
  }
  const batch = input.shape[0];
  return { batch, perSample: batch === 0 ? 0 : input.size / batch };
}

/**
 * Elementwise loss averaged per sample. `value(x, t)` and `derivative(x, t)` (∂/∂x) define it;
 * the target gets the gradient `targetDerivative` when it requires one.
 */
function meanPerSample(
  op: string,
  input: Tensor,
  target: Tensor,
  value: (x: number, t: number) => number,
  derivative: (x: number, t: number) => number,
  targetDerivative: (x: number, t: number) => number,
): Tensor {
  const { batch, perSample } = pairedShapes(op, input, target);
  const out = new Tensor([batch], "float32", op);
  const heap = engineMemory.f32;
  for (let i = 0; i < batch; i++) {
    let total = 0;
    for (let j = 0; j < perSample; j++) total += value(heap[input.offset + i * perSample + j], heap[target.offset + i * perSample + j]);
    heap[out.offset + i] = total / perSample;
  }
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
  return record(out, {
    op,
    inputs: [input, target],
    backward: (gradOut) => [
      input.requiresGrad ? gradientOf(derivative, `${op} backward`, gradOut) : null,
      target.requiresGrad ? gradientOf(targetDerivative, `${op} target backward`, gradOut) : null,
    ],
  });
}

/** Squared error averaged over each sample's elements. */
export function mseLoss(input: Tensor, target: Tensor): Tensor {
  return meanPerSample(
    "mse",
    input,
    target,
    (x, t) => (x - t) * (x - t),
    (x, t) => 2 * (x - t),
    (x, t) => 2 * (t - x),
  );
}

/** Binary cross-entropy from logits with targets in [0, 1], averaged over each sample's elements. */
export function bceWithLogitsLoss(logits: Tensor, target: Tensor): Tensor {
  return meanPerSample(
    "bce_with_logits",
    logits,
    target,
    // max(x, 0) − x·t + log(1 + e^−|x|): stable for large |x|.
    (x, t) => Math.max(x, 0) - x * t + Math.log1p(Math.exp(-Math.abs(x))),
    (x, t) => (x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x))) - t,
    (x) => -x,
  );
}

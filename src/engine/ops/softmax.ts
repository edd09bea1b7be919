import { record } from "../autograd.ts";
import { engineMemory } from "../memory.ts";
import { normalizeAxis, shapeString } from "../shapes.ts";
import { Tensor } from "../tensor.ts";

function rows(op: string, x: Tensor, axis: number): { count: number; length: number } {
  if (normalizeAxis(op, axis, x.rank) !== x.rank - 1) {
    throw new RangeError(`gradscope: ${op} supports the last axis only (got axis ${axis} of ${shapeString(x.shape)})`);
  }
  const length = x.shape[x.rank - 1];
  return { count: length === 0 ? 0 : x.size / length, length };
}

/** log_softmax along the last axis, stabilized by the row maximum. */
export function logSoftmaxRows(src: number, dst: number, count: number, length: number): void {
  const heap = engineMemory.f32;
  for (let r = 0; r < count; r++) {
    const s = src + r * length;
    const d = dst + r * length;
    let maxValue = Number.NEGATIVE_INFINITY;
    for (let j = 0; j < length; j++) maxValue = Math.max(maxValue, heap[s + j]);
    let total = 0;
    for (let j = 0; j < length; j++) total += Math.exp(heap[s + j] - maxValue);
    const logTotal = Math.log(total) + maxValue;
    for (let j = 0; j < length; j++) heap[d + j] = heap[s + j] - logTotal;
  }
}

/** Softmax along the last axis. */
export function softmax(x: Tensor, axis = -1): Tensor {
  const { count, length } = rows("softmax", x, axis);
  const out = new Tensor(x.shape, "float32", "softmax");
  logSoftmaxRows(x.offset, out.offset, count, length);
  const heap = engineMemory.f32;
  for (let i = 0; i < out.size; i++) heap[out.offset + i] = Math.exp(heap[out.offset + i]);
  return record(out, {
    op: "softmax",
    inputs: [x],
    backward: (gradOut) => {
      // dx = y ⊙ (dy − Σ_j dy_j y_j)
      const grad = new Tensor(x.shape, "float32", "softmax backward");
      const h = engineMemory.f32;
      for (let r = 0; r < count; r++) {
        const base = r * length;
        let dot = 0;
        for (let j = 0; j < length; j++) dot += h[gradOut.offset + base + j] * h[out.offset + base + j];
        for (let j = 0; j < length; j++) h[grad.offset + base + j] = h[out.offset + base + j] * (h[gradOut.offset + base + j] - dot);
      }
      return [grad];
    },
  });
}

/** log(softmax(x)) along the last axis, computed stably. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  const { count, length } = rows("log_softmax", x, axis);
  const out = new Tensor(x.shape, "float32", "log_softmax");
  logSoftmaxRows(x.offset, out.offset, count, length);
  return record(out, {
    op: "log_softmax",
    inputs: [x],
    backward: (gradOut) => {
      // dx = dy − softmax(x) Σ_j dy_j
      const grad = new Tensor(x.shape, "float32", "log_softmax backward");
      const h = engineMemory.f32;
      for (let r = 0; r < count; r++) {
        const base = r * length;
        let total = 0;
        for (let j = 0; j < length; j++) total += h[gradOut.offset + base + j];
        for (let j = 0; j < length; j++) h[grad.offset + base + j] = h[gradOut.offset + base + j] - Math.exp(h[out.offset + base + j]) * total;
      }
      return [grad];
    },
  });
}

import { noGrad, record } from "../autograd.ts";
import { linearRules } from "../curvature/rules.ts";
import { sumAxisInto } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import { normalizeAxis } from "../shapes.ts";
import { Tensor } from "../tensor.ts";
import { reshape } from "./shape.ts";

// A reduction over one axis viewed as [outer, length, inner] -> [outer, 1, inner].
function split(shape: readonly number[], axis: number): { outer: number; length: number; inner: number } {
  let outer = 1;
  let inner = 1;
  for (let i = 0; i < axis; i++) outer *= shape[i];
  for (let i = axis + 1; i < shape.length; i++) inner *= shape[i];
  return { outer, length: shape[axis], inner };
}

function keptShape(shape: readonly number[], axis: number): number[] {
  const out = shape.slice();
  out[axis] = 1;
  return out;
}

/** Broadcasts a [outer, 1, inner] gradient back over [outer, length, inner], times `scale`. WASM SIMD. */
function expandAxis(gradOut: Tensor, shape: readonly number[], axis: number, scale: number): Tensor {
  const { outer, length, inner } = split(shape, axis);
  const out = new Tensor(shape, "float32", "sum backward");
  engineMemory.kernels.expandAxis(gradOut.ptr, outer, length, inner, scale, out.ptr);
  return out;
}

/** The TypeScript reference of the sum backward (tests compare the kernel with it). */
export function referenceExpandAxis(gradOut: Tensor, shape: readonly number[], axis: number, scale: number): Tensor {
  const { outer, length, inner } = split(shape, axis);
  const out = new Tensor(shape, "float32", "sum backward");
  const heap = engineMemory.f32;
  for (let o = 0; o < outer; o++) {
    for (let l = 0; l < length; l++) {
      const dst = out.offset + (o * length + l) * inner;
      const src = gradOut.offset + o * inner;
      for (let i = 0; i < inner; i++) heap[dst + i] = heap[src + i] * scale;
    }
  }
  return out;
}

function sumAxis(x: Tensor, axis: number, scale: number): Tensor {
  const { outer, length, inner } = split(x.shape, axis);
  const out = new Tensor(keptShape(x.shape, axis), "float32", "sum");
  sumAxisInto(x.ptr, outer, length, inner, scale, out.ptr);
  const backward = (gradOut: Tensor): Tensor[] => [expandAxis(gradOut, x.shape, axis, scale)];
  return record(out, { op: scale === 1 ? "sum" : "mean", inputs: [x], backward, curvature: linearRules(([t]) => noGrad(() => sumAxis(t as Tensor, axis, scale)), backward) });
}

/** The TypeScript reference of a sum over one axis, times `scale` (no autograd; for tests). */
export function referenceSumAxis(x: Tensor, axis: number, scale: number): Tensor {
  const { outer, length, inner } = split(x.shape, axis);
  const out = new Tensor(keptShape(x.shape, axis), "float32", "sum");
  const heap = engineMemory.f32;
  for (let o = 0; o < outer; o++) {
    const dst = out.offset + o * inner;
    for (let i = 0; i < inner; i++) heap[dst + i] = 0;
    for (let l = 0; l < length; l++) {
      const src = x.offset + (o * length + l) * inner;
      for (let i = 0; i < inner; i++) heap[dst + i] += heap[src + i];
    }
    if (scale !== 1) for (let i = 0; i < inner; i++) heap[dst + i] *= scale;
  }
  return out;
}

function maxAxis(x: Tensor, axis: number): Tensor {
  const { outer, length, inner } = split(x.shape, axis);
  const out = new Tensor(keptShape(x.shape, axis), "float32", "max");
  // The index along the axis of each maximum, where the backward pass sends the gradient.
  const argmax = new Tensor(out.shape, "int32", "max indices");
  engineMemory.kernels.maxAxis(x.ptr, outer, length, inner, out.ptr, argmax.ptr);
  return record(out, {
    op: "max",
    inputs: [x],
    backward: (gradOut) => {
      const grad = new Tensor(x.shape, "float32", "max backward");
      const h = engineMemory.f32;
      const indices = argmax.ints;
      h.fill(0, grad.offset, grad.offset + grad.size);
      for (let o = 0; o < outer; o++) {
        for (let i = 0; i < inner; i++) {
          h[grad.offset + (o * length + indices[o * inner + i]) * inner + i] = h[gradOut.offset + o * inner + i];
        }
      }
      return [grad];
    },
  });
}

/** TypeScript reference of the maxAxis kernel (values and first-maximum indices; a NaN wins at its first position). */
export function referenceMaxAxis(x: Tensor, axis: number): { values: Float32Array; indices: Int32Array } {
  const { outer, length, inner } = split(x.shape, axis);
  const values = new Float32Array(outer * inner);
  const indices = new Int32Array(outer * inner);
  const data = x.data;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < inner; i++) {
      let best = Number.NEGATIVE_INFINITY;
      let bestIndex = 0;
      for (let l = 0; l < length; l++) {
        const value = data[(o * length + l) * inner + i];
        if (value > best || Number.isNaN(value)) {
          best = value;
          bestIndex = l;
          if (Number.isNaN(value)) break;
        }
      }
      values[o * inner + i] = best;
      indices[o * inner + i] = bestIndex;
    }
  }
  return { values, indices };
}

function reduceAxes(op: string, x: Tensor, axes: number | readonly number[] | undefined, keepDims: boolean, one: (t: Tensor, axis: number) => Tensor): Tensor {
  const list = axes === undefined ? x.shape.map((_, i) => i) : typeof axes === "number" ? [axes] : axes;
  const normalized = [...new Set(list.map((axis) => normalizeAxis(op, axis, x.rank)))].sort((a, b) => a - b);
  let current = x;
  for (const axis of normalized) {
    const next = one(current, axis);
    // Intermediates stay alive while the graph needs them; otherwise free them now.
    if (current !== x && !next.node) current.dispose();
    current = next;
  }
  if (keepDims) return current === x ? reshape(x, x.shape) : current;
  const finalShape = x.shape.filter((_, axis) => !normalized.includes(axis));
  const result = reshape(current, finalShape);
  if (current !== x && !result.node) current.dispose();
  return result;
}

/** Sum over `axes` (all by default). */
export function sum(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceAxes("sum", x, axes, keepDims, (t, axis) => sumAxis(t, axis, 1));
}

/** Mean over `axes` (all by default). */
export function mean(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceAxes("mean", x, axes, keepDims, (t, axis) => sumAxis(t, axis, 1 / t.shape[axis]));
}

/** Maximum over `axes` (all by default); the gradient flows to the first maximal element. */
export function max(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  return reduceAxes("max", x, axes, keepDims, maxAxis);
}

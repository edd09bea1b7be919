import { noGrad, record } from "../autograd.ts";
import { linearRules, zerosLike } from "../curvature/rules.ts";
import { transposeMatrix } from "../kernels/elementwise.ts";
import { engineMemory } from "../memory.ts";
import { normalizeAxis, shapeString, sizeOf, stridesOf } from "../shapes.ts";
import { Tensor } from "../tensor.ts";

function copyOf(x: Tensor, shape: readonly number[], what: string): Tensor {
  const out = new Tensor(shape, x.dtype, what);
  const heap = x.dtype === "int32" ? engineMemory.i32 : engineMemory.f32;
  heap.copyWithin(out.offset, x.offset, x.offset + x.size);
  return out;
}

/** The same elements in a new shape; one dimension may be -1 (inferred). */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  const resolved = shape.slice();
  const inferred = resolved.indexOf(-1);
  if (inferred >= 0) {
    const known = resolved.reduce((a, b, i) => (i === inferred ? a : a * b), 1);
    resolved[inferred] = known === 0 ? 0 : x.size / known;
  }
  if (sizeOf(resolved) !== x.size || resolved.some((d) => !Number.isInteger(d) || d < 0)) {
    throw new RangeError(`gradscope: reshape: cannot reshape ${shapeString(x.shape)} (${x.size} elements) to ${shapeString(shape)}`);
  }
  const out = copyOf(x, resolved, "reshape");
  const backward = (gradOut: Tensor): Tensor[] => [copyOf(gradOut, x.shape, "reshape backward")];
  return record(out, { op: "reshape", inputs: [x], backward, curvature: linearRules(([t]) => noGrad(() => reshape(t as Tensor, resolved)), backward) });
}

/** Flattens axes startDim..endDim into one (PyTorch's flatten; default keeps the batch axis). */
export function flatten(x: Tensor, startDim = 1, endDim = -1): Tensor {
  const start = normalizeAxis("flatten", startDim, x.rank);
  const end = normalizeAxis("flatten", endDim, x.rank);
  const shape = [...x.shape.slice(0, start), sizeOf(x.shape.slice(start, end + 1)), ...x.shape.slice(end + 1)];
  return reshape(x, shape);
}

/**
 * A permutation as batched matrix transposes, when it keeps leading and trailing axes in place
 * and swaps two groups between them (a 2-D transpose, NCHW ↔ NHWC, [B, T, H, D] → [B, H, T, D]):
 * `batch` blocks of rows × cols elements, each element a run of `run` values. Null otherwise.
 */
function asBatchedTranspose(shape: readonly number[], perm: readonly number[]): { batch: number; rows: number; cols: number; run: number } | null {
  let first = 0;
  while (first < perm.length && perm[first] === first) first++;
  let end = perm.length;
  while (end > first && perm[end - 1] === end - 1) end--;
  if (first === end) return null;
  // The middle must read [split, ..., end − 1, first, ..., split − 1].
  const split = perm[first];
  const middle = [...Array.from({ length: end - split }, (_, i) => split + i), ...Array.from({ length: split - first }, (_, i) => first + i)];
  if (middle.some((axis, i) => perm[first + i] !== axis)) return null;
  return { batch: sizeOf(shape.slice(0, first)), rows: sizeOf(shape.slice(first, split)), cols: sizeOf(shape.slice(split, end)), run: sizeOf(shape.slice(end)) };
}

function permute(x: Tensor, perm: readonly number[]): Tensor {
  const outShape = perm.map((axis) => x.shape[axis]);
  const out = new Tensor(outShape, x.dtype, "transpose");
  const heap = x.dtype === "int32" ? engineMemory.i32 : engineMemory.f32;
  const blocks = asBatchedTranspose(x.shape, perm);
  if (blocks && out.size > 0) {
    const { batch, rows, cols, run } = blocks;
    const block = rows * cols * run;
    for (let b = 0; b < batch; b++) {
      // Single values go through the SIMD 4×4 transpose; longer runs are copied whole.
      if (run === 1) transposeMatrix(x.ptr + 4 * b * block, rows, cols, out.ptr + 4 * b * block);
      else {
        for (let i = 0; i < rows; i++) {
          for (let j = 0; j < cols; j++) {
            const from = x.offset + b * block + (i * cols + j) * run;
            heap.copyWithin(out.offset + b * block + (j * rows + i) * run, from, from + run);
          }
        }
      }
    }
    return out;
  }
  const inStrides = stridesOf(x.shape);
  const strides = perm.map((axis) => inStrides[axis]);
  const rank = perm.length;
  const index = new Array<number>(rank).fill(0);
  let source = x.offset;
  for (let i = 0; i < out.size; i++) {
    heap[out.offset + i] = heap[source];
    for (let axis = rank - 1; axis >= 0; axis--) {
      index[axis]++;
      source += strides[axis];
      if (index[axis] < outShape[axis]) break;
      source -= strides[axis] * outShape[axis];
      index[axis] = 0;
    }
  }
  return out;
}

/** Permutes the axes (default: reverses them, the matrix transpose for 2-D). */
export function transpose(x: Tensor, perm?: readonly number[]): Tensor {
  const order = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  const sorted = [...order].map((a) => normalizeAxis("transpose", a, x.rank)).sort((a, b) => a - b);
  if (order.length !== x.rank || sorted.some((axis, i) => axis !== i)) {
    throw new RangeError(`gradscope: transpose: [${order.join(", ")}] is not a permutation of the axes of ${shapeString(x.shape)}`);
  }
  const normalized = order.map((a) => normalizeAxis("transpose", a, x.rank));
  const inverse = new Array<number>(x.rank);
  normalized.forEach((axis, i) => {
    inverse[axis] = i;
  });
  const out = permute(x, normalized);
  return record(out, { op: "transpose", inputs: [x], backward: (gradOut) => [permute(gradOut, inverse)] });
}

// Copies a [outer, length, inner] block from `src` (at `from` along the axis) into `dst`.
function copyBlock(src: Tensor, srcLength: number, srcStart: number, dst: Tensor, dstLength: number, dstStart: number, outer: number, length: number, inner: number): void {
  const heap = src.dtype === "int32" ? engineMemory.i32 : engineMemory.f32;
  for (let o = 0; o < outer; o++) {
    const from = src.offset + (o * srcLength + srcStart) * inner;
    heap.copyWithin(dst.offset + (o * dstLength + dstStart) * inner, from, from + length * inner);
  }
}

/** Joins tensors along `axis`; all other axes must agree. */
export function concat(tensors: readonly Tensor[], axis = 0): Tensor {
  if (tensors.length === 0) throw new RangeError("gradscope: concat needs at least one tensor");
  const first = tensors[0];
  const a = normalizeAxis("concat", axis, first.rank);
  for (const t of tensors) {
    if (t.rank !== first.rank || t.shape.some((d, i) => i !== a && d !== first.shape[i]) || t.dtype !== first.dtype) {
      throw new RangeError(`gradscope: concat along axis ${a}: ${tensors.map((x) => x.dtype + shapeString(x.shape)).join(" and ")} do not match`);
    }
  }
  const total = tensors.reduce((s, t) => s + t.shape[a], 0);
  const outShape = first.shape.slice();
  outShape[a] = total;
  const outer = sizeOf(first.shape.slice(0, a));
  const inner = sizeOf(first.shape.slice(a + 1));
  const out = new Tensor(outShape, first.dtype, "concat");
  const starts: number[] = [];
  let start = 0;
  for (const t of tensors) {
    starts.push(start);
    copyBlock(t, t.shape[a], 0, out, total, start, outer, t.shape[a], inner);
    start += t.shape[a];
  }
  const backward = (gradOut: Tensor): Array<Tensor | null> =>
    tensors.map((t, i) => {
      if (!t.requiresGrad) return null;
      const grad = new Tensor(t.shape, "float32", "concat backward");
      copyBlock(gradOut, total, starts[i], grad, t.shape[a], 0, outer, t.shape[a], inner);
      return grad;
    });
  // Concatenation is linear: the output tangent is the concatenation of the inputs' tangents.
  const applyToTangents = (tangents: ReadonlyArray<Tensor | null>): Tensor =>
    noGrad(() => {
      const zeros = tensors.map((t, i) => (tangents[i] ? null : zerosLike(t, "zero concat tangent")));
      const joined = concat(
        tensors.map((_, i) => (tangents[i] ?? zeros[i]) as Tensor),
        a,
      );
      for (const zero of zeros) zero?.dispose();
      return joined;
    });
  return record(out, { op: "concat", inputs: tensors, backward, curvature: linearRules(applyToTangents, backward) });
}

/** The sub-tensor starting at `begin` with extent `size` per axis (-1: to the end). */
export function slice(x: Tensor, begin: readonly number[], size: readonly number[]): Tensor {
  if (begin.length !== x.rank || size.length !== x.rank) {
    throw new RangeError(`gradscope: slice of ${shapeString(x.shape)} needs ${x.rank} begins and sizes, got [${begin.join(", ")}] and [${size.join(", ")}]`);
  }
  const extent = size.map((s, i) => (s === -1 ? x.shape[i] - begin[i] : s));
  extent.forEach((s, i) => {
    if (begin[i] < 0 || s < 0 || begin[i] + s > x.shape[i]) {
      throw new RangeError(`gradscope: slice begin [${begin.join(", ")}] size [${size.join(", ")}] is outside ${shapeString(x.shape)} (axis ${i})`);
    }
  });
  const out = new Tensor(extent, x.dtype, "slice");
  const strides = stridesOf(x.shape);
  const outStrides = stridesOf(extent);
  const heap = x.dtype === "int32" ? engineMemory.i32 : engineMemory.f32;
  const rows = extent.length === 0 ? 1 : out.size / (extent[extent.length - 1] || 1);
  const rowLength = extent.length === 0 ? 1 : extent[extent.length - 1];
  // Walk the output row by row; each row is one contiguous run of the input.
  const forEachRow = (visit: (inputStart: number, outputStart: number) => void): void => {
    if (out.size === 0) return;
    for (let row = 0; row < rows; row++) {
      let inputStart = 0;
      let remainder = row * rowLength;
      for (let axis = 0; axis < extent.length; axis++) {
        const coordinate = Math.floor(remainder / outStrides[axis]);
        remainder -= coordinate * outStrides[axis];
        inputStart += (coordinate + begin[axis]) * strides[axis];
      }
      visit(inputStart, row * rowLength);
    }
  };
  forEachRow((i, o) => heap.copyWithin(out.offset + o, x.offset + i, x.offset + i + rowLength));
  return record(out, {
    op: "slice",
    inputs: [x],
    backward: (gradOut) => {
      const grad = new Tensor(x.shape, "float32", "slice backward");
      const h = engineMemory.f32;
      h.fill(0, grad.offset, grad.offset + grad.size);
      forEachRow((i, o) => h.copyWithin(grad.offset + i, gradOut.offset + o, gradOut.offset + o + rowLength));
      return [grad];
    },
  });
}

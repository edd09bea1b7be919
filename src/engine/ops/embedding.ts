import { record } from "../autograd.ts";
import { engineMemory } from "../memory.ts";
import { shapeString } from "../shapes.ts";
import { type LayerRecordBase, Tensor } from "../tensor.ts";

/** An embedding lookup as the per-sample extensions see it: int32 indices as `input`. */
export interface EmbeddingRecord extends LayerRecordBase {
  /** The op kind the rules dispatch on. */
  readonly kind: "embedding";
  /** The row that receives no gradient, if any. */
  readonly paddingIndex: number | null;
  /** The embedding width. */
  readonly dim: number;
}

/**
 * Looks up rows of weight [numEmbeddings, dim] for int32 indices of any shape; the output has
 * shape [...indices.shape, dim]. The `paddingIndex` row receives no gradient.
 */
export function embedding(indices: Tensor, weight: Tensor, paddingIndex: number | null = null): Tensor {
  if (indices.dtype !== "int32" || weight.rank !== 2) {
    throw new TypeError(`gradscope: embedding needs int32 indices and a 2-D weight, got ${indices.dtype}${shapeString(indices.shape)} and ${shapeString(weight.shape)}`);
  }
  const [rows, dim] = weight.shape;
  const ints = engineMemory.i32;
  for (let i = 0; i < indices.size; i++) {
    const index = ints[indices.offset + i];
    if (index < 0 || index >= rows) throw new RangeError(`gradscope: embedding index ${index} at position ${i} is outside [0, ${rows})`);
  }
  const out = new Tensor([...indices.shape, dim], "float32", "embedding");
  const heap = engineMemory.f32;
  for (let i = 0; i < indices.size; i++) {
    const src = weight.offset + ints[indices.offset + i] * dim;
    heap.copyWithin(out.offset + i * dim, src, src + dim);
  }
  return record(out, {
    op: "embedding",
    inputs: [indices, weight],
    layer: { kind: "embedding", input: indices, weight, bias: null, paddingIndex, dim },
    backward: (gradOut) => {
      const grad = new Tensor(weight.shape, "float32", "embedding weight gradient");
      const h = engineMemory.f32;
      const idx = engineMemory.i32;
      h.fill(0, grad.offset, grad.offset + grad.size);
      // One SIMD axpy per looked-up row: rows repeat, so they are added, not copied.
      for (let i = 0; i < indices.size; i++) {
        const row = idx[indices.offset + i];
        if (row !== paddingIndex) engineMemory.kernels.axpy(dim, 1, gradOut.ptr + 4 * i * dim, grad.ptr + 4 * row * dim);
      }
      return [null, grad];
    },
  });
}

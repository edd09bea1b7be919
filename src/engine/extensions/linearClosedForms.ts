import { engineMemory } from "../memory.ts";
import { matmulRaw } from "../ops/matmul.ts";
import type { LayerRecord, Tensor } from "../tensor.ts";

/**
 * A Linear layer whose per-sample gradient is rank one, g_i(W) = s·δ_i a_iᵀ and g_i(b) = s·δ_i
 * (no middle axes). The statistics below never form the N×out×in per-sample gradients.
 */
export interface RankOneLinear {
  batch: number;
  inFeatures: number;
  outFeatures: number;
  /** δ = gradOut as [N, out] and a = input as [N, in] (engine offsets). */
  delta: Tensor;
  activations: Tensor;
  scale: number;
}

/** The rank-one view of a linear layer, or null when the input has middle axes. */
export function rankOneLinear(layer: LayerRecord, gradOut: Tensor, scale: number): RankOneLinear | null {
  if (layer.kind !== "linear" || layer.input.rank !== 2) return null;
  const [batch, inFeatures] = layer.input.shape;
  return { batch, inFeatures, outFeatures: gradOut.shape[1], delta: gradOut, activations: layer.input, scale };
}

/** Row-wise squared norms ‖x_i‖² of a [rows, length] tensor. */
export function rowSquaredNorms(x: Tensor, rows: number, length: number): Float64Array {
  const heap = engineMemory.f32;
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let total = 0;
    const base = x.offset + i * length;
    for (let j = 0; j < length; j++) total += heap[base + j] * heap[base + j];
    out[i] = total;
  }
  return out;
}

/** The Gram matrix X Xᵀ of a [rows, length] tensor, in float64 of the float32 GEMM result. */
export function gram(x: Tensor): Float64Array {
  const product = matmulRaw(x, x, false, true, "gram");
  const out = Float64Array.from(product.data);
  product.dispose();
  return out;
}

import { gramLower } from "../kernels/gemm.ts";
import { engineMemory } from "../memory.ts";
import { type LayerRecord, Tensor } from "../tensor.ts";

/**
 * A Linear layer whose per-sample gradient is rank one, g_i(W) = s·δ_i a_iᵀ and g_i(b) = s·δ_i
 * (no middle axes). The statistics never form the N×out×in per-sample gradients; they share
 * the Gram matrices and row norms of δ and a, which this view computes once per layer.
 */
export class RankOneLinear {
  readonly batch: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  private readonly memo = new Map<string, Float64Array | Float32Array>();

  /** δ = gradOut as [N, out] and a = input as [N, in]; s scales the per-sample gradients. */
  constructor(
    readonly delta: Tensor,
    readonly activations: Tensor,
    readonly scale: number,
  ) {
    [this.batch, this.inFeatures] = activations.shape;
    this.outFeatures = delta.shape[1];
  }

  /** δδᵀ as computed in float32, row-major N×N; only the lower triangle (i >= j) is valid. */
  deltaGram(): Float32Array {
    return this.remember("deltaGram", () => lowerGram(this.delta));
  }

  /** aaᵀ as computed in float32, row-major N×N; only the lower triangle (i >= j) is valid. */
  activationGram(): Float32Array {
    return this.remember("activationGram", () => lowerGram(this.activations));
  }

  /** ‖δ_i‖², the Gram diagonal when that is known. */
  deltaNorms(): Float64Array {
    return this.remember("deltaNorms", () => this.norms(this.delta, "deltaGram")) as Float64Array;
  }

  /** ‖a_i‖², the Gram diagonal when that is known. */
  activationNorms(): Float64Array {
    return this.remember("activationNorms", () => this.norms(this.activations, "activationGram")) as Float64Array;
  }

  private norms(x: Tensor, gramKey: string): Float64Array {
    const known = this.memo.get(gramKey);
    if (known) return Float64Array.from({ length: this.batch }, (_, i) => known[i * this.batch + i]);
    return rowSquaredNorms(x, this.batch, x.size / this.batch);
  }

  private remember<T extends Float64Array | Float32Array>(key: string, compute: () => T): T {
    let value = this.memo.get(key) as T | undefined;
    if (!value) {
      value = compute();
      this.memo.set(key, value);
    }
    return value;
  }
}

/** The rank-one view of a linear layer, or null when the input has middle axes. */
export function rankOneLinear(layer: LayerRecord, gradOut: Tensor, scale: number): RankOneLinear | null {
  if (layer.kind !== "linear" || layer.input.rank !== 2) return null;
  return new RankOneLinear(gradOut, layer.input, scale);
}

/** Row-wise squared norms ‖x_i‖² of a [rows, length] tensor (WASM SIMD dot products). */
export function rowSquaredNorms(x: Tensor, rows: number, length: number): Float64Array {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    const row = x.ptr + i * length * 4;
    out[i] = engineMemory.kernels.dot(length, row, row);
  }
  return out;
}

/** The lower triangle (i >= j) of X Xᵀ for a [rows, length] tensor, in float32 from WASM. */
export function lowerGram(x: Tensor, rows = x.shape[0]): Float32Array {
  const product = new Tensor([rows, rows], "float32", "gram");
  gramLower(x.ptr, rows, x.size / rows, product.ptr);
  const lower = product.data.slice();
  product.dispose();
  return lower;
}

/** The Gram matrix X Xᵀ of a [rows, length] tensor in float64: one triangle in WASM, mirrored. */
export function gram(x: Tensor, rows = x.shape[0]): Float64Array {
  const lower = lowerGram(x, rows);
  const out = new Float64Array(rows * rows);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j <= i; j++) {
      const value = lower[i * rows + j];
      out[i * rows + j] = value;
      out[j * rows + i] = value;
    }
  }
  return out;
}

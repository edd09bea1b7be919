import { gramLower, startGramLower } from "../kernels/gemm.ts";
import { rowDots } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import { type LayerRecord, Tensor } from "../tensor.ts";
import type { BackgroundTicket } from "../threads/pool.ts";
import { awaitBackground } from "../threads/settings.ts";

/**
 * A Linear layer whose per-sample gradient is rank one, g_i(W) = s·δ_i a_iᵀ and g_i(b) = s·δ_i
 * (no middle axes). The statistics never form the N×out×in per-sample gradients; they share
 * the Gram matrices and row norms of δ and a, which this view computes once per layer.
 */
export class RankOneLinear {
  readonly batch: number;
  readonly inFeatures: number;
  readonly outFeatures: number;
  private readonly memo = new Map<string, Float64Array>();
  // Gram triangles stay in engine memory (64 KB each at N = 128, twice per layer and step,
  // would otherwise be copied out as garbage); `dispose` frees them.
  private readonly grams = new Map<string, Tensor>();
  // The triangles of grams started on the worker threads and not awaited yet.
  private started: Array<BackgroundTicket | null> = [];

  /** δ = gradOut as [N, out] and a = input as [N, in]; s scales the per-sample gradients. */
  constructor(
    readonly delta: Tensor,
    readonly activations: Tensor,
    readonly scale: number,
  ) {
    [this.batch, this.inFeatures] = activations.shape;
    this.outFeatures = delta.shape[1];
  }

  /**
   * The lower triangles (i >= j) of δδᵀ and, unless only δ's is wanted, aaᵀ, computed in
   * float32, row-major N×N engine tensors that `dispose` frees.
   */
  gramTriangles(withActivations: boolean): { delta: Tensor; activations: Tensor | null } {
    return { delta: this.gram("delta", this.delta), activations: withActivations ? this.gram("activations", this.activations) : null };
  }

  /**
   * Starts gramTriangles' triangles on the engine's worker threads (startGramLower), to be
   * computed while the caller goes on; gramTriangles then waits for them. δ and a must stay
   * unchanged until then.
   */
  startGrams(withActivations: boolean): void {
    const start = (key: string, x: Tensor) => {
      const gram = new Tensor([this.batch, this.batch], "float32", "gram");
      // Kept before it starts, so that dispose frees it should starting throw.
      this.grams.set(key, gram);
      this.started.push(startGramLower(x.ptr, this.batch, x.size / this.batch, gram.ptr));
    };
    start("delta", this.delta);
    if (withActivations) start("activations", this.activations);
  }

  /** Frees the Gram matrices. */
  dispose(): void {
    this.awaitGrams();
    for (const gram of this.grams.values()) gram.dispose();
    this.grams.clear();
  }

  private gram(key: string, x: Tensor): Tensor {
    let gram = this.knownGram(key);
    if (!gram) {
      gram = new Tensor([this.batch, this.batch], "float32", "gram");
      gramLower(x.ptr, this.batch, x.size / this.batch, gram.ptr);
      this.grams.set(key, gram);
    }
    return gram;
  }

  private knownGram(key: string): Tensor | undefined {
    this.awaitGrams();
    return this.grams.get(key);
  }

  // Every triangle is awaited, also after one failed: `dispose` frees them all next.
  private awaitGrams(): void {
    let failure: unknown;
    for (const ticket of this.started.splice(0)) {
      try {
        awaitBackground(ticket);
      } catch (error) {
        failure ??= error;
      }
    }
    if (failure !== undefined) throw failure;
  }

  /** ‖δ_i‖², the Gram diagonal when that is known. */
  deltaNorms(): Float64Array {
    return this.remember("deltaNorms", () => this.norms(this.delta, "delta"));
  }

  /** ‖a_i‖², the Gram diagonal when that is known. */
  activationNorms(): Float64Array {
    return this.remember("activationNorms", () => this.norms(this.activations, "activations"));
  }

  private norms(x: Tensor, gramKey: string): Float64Array {
    const known = this.knownGram(gramKey)?.data;
    if (known) {
      const diagonal = new Float64Array(this.batch);
      for (let i = 0; i < this.batch; i++) diagonal[i] = known[i * this.batch + i];
      return diagonal;
    }
    return rowSquaredNorms(x, this.batch, x.size / this.batch);
  }

  private remember(key: string, compute: () => Float64Array): Float64Array {
    let value = this.memo.get(key);
    if (!value) {
      value = compute();
      this.memo.set(key, value);
    }
    return value;
  }
}

/** The rank-one view of a linear layer, or null when the input has middle axes. */
export function rankOneLinear(layer: LayerRecord, gradOut: Tensor, scale: number): RankOneLinear | null {
  return isRankOneLinear(layer) ? new RankOneLinear(gradOut, layer.input, scale) : null;
}

/** Whether the layer is a Linear one whose per-sample gradients are rank one (no middle axes). */
export function isRankOneLinear(layer: LayerRecord): boolean {
  return layer.kind === "linear" && layer.input.rank === 2;
}

/** Row-wise squared norms ‖x_i‖² of a [rows, length] tensor (WASM SIMD dot products). */
export function rowSquaredNorms(x: Tensor, rows: number, length: number): Float64Array {
  return rowDots(x.ptr, x.ptr, rows, length);
}

/** The Gram matrix X Xᵀ of a [rows, length] tensor in float64: one triangle in WASM, mirrored. */
export function gram(x: Tensor, rows = x.shape[0]): Float64Array {
  const product = new Tensor([rows, rows], "float32", "gram");
  gramLower(x.ptr, rows, x.size / rows, product.ptr);
  const out = symmetricFromLower(product, null, 1);
  product.dispose();
  return out;
}

/**
 * The full symmetric N×N matrix whose lower triangle (i >= j) is (scale·first[i][j])·second[i][j]
 * (second omitted: 1) in float64, from N×N float32 lower triangles (WASM).
 */
export function symmetricFromLower(first: Tensor, second: Tensor | null, scale: number): Float64Array {
  const n = first.shape[0];
  // A copy out of the shared memory: set() copies a block where slice() takes twice as long.
  const product = new Float64Array(n * n);
  product.set(symmetricInWorkspace(first, second, scale));
  return product;
}

/** Each row's sum of symmetricFromLower's matrix, in float64. */
export function symmetricRowSums(first: Tensor, second: Tensor | null, scale: number): Float64Array {
  const n = first.shape[0];
  const product = symmetricInWorkspace(first, second, scale);
  const sums = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let total = 0;
    for (let j = i * n; j < (i + 1) * n; j++) total += product[j];
    sums[i] = total;
  }
  return sums;
}

// symmetricFromLower's matrix as a view of the engine's workspace, valid until the next kernel call.
function symmetricInWorkspace(first: Tensor, second: Tensor | null, scale: number): Float64Array {
  const n = first.shape[0];
  const out = engineMemory.workspace(n * n * 8);
  engineMemory.kernels.symmetricProduct(first.ptr, second?.ptr ?? 0, n, scale, out);
  return new Float64Array(engineMemory.memory.buffer, out, n * n);
}

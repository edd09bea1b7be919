import { copyOf, zeros } from "../creation.ts";
import { countNonzero } from "../kernels/reductions.ts";
import type { Conv2dHyper, Conv2dRecord } from "../ops/conv2d.ts";
import { columnSquaresBySample } from "../ops/convSamples.ts";
import type { Tensor } from "../tensor.ts";

// Columns are held (as copies) until this many floats, 64 MB, then reduced, so memory stays
// bounded however many factor columns a loss has.
const PENDING_FLOATS = 1 << 24;

// Below this fraction of nonzero output gradients, each channel multiplies only its nonzero
// positions (sparseColumnSquares) instead of all of them in one GEMM per sample. ReLU and
// max-pooling after a conv leave about 20%.
const SPARSE_DENSITY = 0.5;

function density(columns: Tensor[]): number {
  const size = columns.reduce((total, column) => total + column.size, 0);
  return columns.reduce((total, column) => total + countNonzero(column), 0) / size;
}

/**
 * Σ_k sign_k Σ_i g_ik² of a conv layer's weight and bias over the factor columns k of a curvature
 * diagonal, where g_ik = δ_ik·unfold(x_i)ᵀ. The columns' output gradients are stacked per sample,
 * so each sample's input is unfolded once and meets all columns in one GEMM, and no per-sample
 * gradient outlives its sample.
 */
export class ConvColumnSquares {
  /** The sums, owned by the caller once complete. */
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  private readonly hyper: Conv2dHyper;
  private pending: Array<{ delta: Tensor; sign: number }> = [];
  private pendingFloats = 0;

  /**
   * `budget`: floats of held columns that trigger a reduction; `sparseBelow`: the fraction of
   * nonzero output gradients below which channels gather their nonzero positions.
   */
  constructor(
    private readonly layer: Conv2dRecord,
    private readonly budget = PENDING_FLOATS,
    private readonly sparseBelow = SPARSE_DENSITY,
  ) {
    this.hyper = layer.hyper;
    this.weight = layer.weight?.requiresGrad ? zeros(layer.weight.shape) : null;
    this.bias = layer.bias?.requiresGrad ? zeros(layer.bias.shape) : null;
  }

  /** One column's output gradient [N, out, outH, outW] with its factor's sign. */
  add(gradOut: Tensor, sign: number): void {
    this.pending.push({ delta: copyOf(gradOut), sign });
    this.pendingFloats += gradOut.size;
    if (this.pendingFloats >= this.budget) this.flush();
  }

  /** Reduces the columns still held; `weight` and `bias` are complete afterwards. */
  flush(): void {
    for (const sign of [1, -1]) {
      const columns = this.pending.filter((column) => column.sign === sign).map((column) => column.delta);
      if (columns.length > 0) this.reduce(columns, sign);
    }
    for (const { delta } of this.pending) delta.dispose();
    this.pending = [];
    this.pendingFloats = 0;
  }

  private reduce(columns: Tensor[], sign: number): void {
    const sparse = this.weight !== null && density(columns) < this.sparseBelow;
    columnSquaresBySample(this.hyper, this.layer.input, columns, sign, sparse, this.weight, this.bias);
  }
}

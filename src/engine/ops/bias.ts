import { full } from "../creation.ts";
import { gemm } from "../kernels/gemm.ts";
import { engineMemory } from "../memory.ts";
import { Tensor } from "../tensor.ts";

/**
 * Where the channel axis of a biased output lies: last ([rows, channels], Linear) or right after
 * the batch axis ([batch, channels, positions], Conv2d).
 */
export interface BiasLayout {
  batch: number;
  channels: number;
  positions: number;
  channelsLast: boolean;
}

// Bias add and the channels-last bias gradient are rank-one GEMMs against a vector of ones, so
// they run in the SIMD kernel instead of a scalar loop: out += 1·bᵀ (or b·1ᵀ per sample),
// db = 1ᵀ·δ. Channels first, the gradient sums each (sample, channel) row with a SIMD kernel.

function withOnes(length: number, use: (ones: Tensor) => void): void {
  const ones = full([length], 1);
  use(ones);
  ones.dispose();
}

/** Adds `bias` along the channel axis of `out`, in place. */
export function addBias(out: Tensor, bias: Tensor, layout: BiasLayout): void {
  const { batch, channels, positions, channelsLast } = layout;
  if (channelsLast) {
    const rows = batch * positions;
    withOnes(rows, (ones) =>
      gemm({ transA: false, transB: false, m: rows, n: channels, k: 1, alpha: 1, a: ones.ptr, lda: 1, b: bias.ptr, ldb: channels, beta: 1, c: out.ptr, ldc: channels }),
    );
    return;
  }
  withOnes(positions, (ones) => {
    for (let n = 0; n < batch; n++) {
      gemm({
        transA: false,
        transB: false,
        m: channels,
        n: positions,
        k: 1,
        alpha: 1,
        a: bias.ptr,
        lda: 1,
        b: ones.ptr,
        ldb: positions,
        beta: 1,
        c: out.ptr + n * channels * positions * 4,
        ldc: positions,
      });
    }
  });
}

/** The bias gradient: `gradOut` summed over every axis but the channel axis. */
export function biasGradient(gradOut: Tensor, layout: BiasLayout): Tensor {
  const { batch, channels, positions, channelsLast } = layout;
  const grad = new Tensor([channels], "float32", "bias gradient");
  if (channelsLast) {
    const rows = batch * positions;
    withOnes(rows, (ones) =>
      gemm({ transA: false, transB: false, m: 1, n: channels, k: rows, alpha: 1, a: ones.ptr, lda: rows, b: gradOut.ptr, ldb: channels, beta: 0, c: grad.ptr, ldc: channels }),
    );
    return grad;
  }
  // Channels first: one SIMD sum per (sample, channel) row, then a sum over samples.
  const sums = new Tensor([batch * channels], "float32", "bias row sums");
  engineMemory.kernels.rowSums(gradOut.ptr, batch * channels, positions, sums.ptr);
  const [rowTotals, out] = [sums.data, grad.data];
  for (let c = 0; c < channels; c++) {
    let total = 0;
    for (let n = 0; n < batch; n++) total += rowTotals[n * channels + c];
    out[c] = total;
  }
  sums.dispose();
  return grad;
}

import { transposeMatrix } from "../kernels/elementwise.ts";
import { gemm } from "../kernels/gemm.ts";
import { engineMemory } from "../memory.ts";
import { type Conv2dHyper, type Conv2dRecord, forEachUnfolded, outputBlock } from "../ops/conv2d.ts";
import { gramSquaredNormsBySample } from "../ops/convSamples.ts";
import { Tensor } from "../tensor.ts";

// A conv weight's per-sample gradient is g_i = Σ_g δ_igᵀ U_ig (per group g: δ_ig [P, out/groups]
// the output gradient, U_ig [P, K] the unfolded input, P output positions, K = in/groups·kh·kw).
// Contracting over the channels first instead of the positions gives
//   g_iᵀg_j = Σ_g Σ_{p,q} (U_ig U_jgᵀ)[p,q]·(δ_ig δ_jgᵀ)[p,q]
// (BackPACK's conv batch_l2 and the Gram of Dangel et al. 2020), which costs P²·(K + out/groups)
// per pair instead of P·out/groups·K per sample to materialize g_i: cheaper only where the
// output planes are small against the channels (late layers of deep nets, 1×1 outputs).

/**
 * How much slower, per multiply-add, the Gram route runs than materializing: its P×P Gram
 * GEMMs are thinner than the materializing GEMM, and each pair's Hadamard sum is a dot product
 * of P rows. Measured on conv layers of 16 to 256 channels with 1 to 196 output positions.
 */
const GRAM_ROUTE_OVERHEAD = 1.5;

// Output gradients mostly zero (ReLU then max-pooling) let materializing follow the nonzeros:
// measured 1.5 to 2 times faster at 20% nonzeros; the Grams gain nothing from them.
const SPARSE_MATERIALIZING_SHARE = 0.6;

/** The multiply-adds of both routes to a conv weight's batchL2 or batchDot (materializing from mostly zero output gradients when `sparse`). */
export function convRouteCosts(hyper: Conv2dHyper, statistic: "batchL2" | "batchDot", sparse = false): { gram: number; materialized: number } {
  const { batch, groups, groupOut, patch, plane } = hyper;
  const perSample = groups * plane * groupOut * patch * (sparse ? SPARSE_MATERIALIZING_SHARE : 1);
  const size = groups * groupOut * patch;
  // Symmetric Grams: only the lower triangles are computed.
  const pairs = statistic === "batchL2" ? batch : (batch * (batch + 1)) / 2;
  const perPair = statistic === "batchL2" ? (groups * plane * plane * (patch + groupOut)) / 2 : groups * plane * plane * (patch + groupOut);
  const reduction = statistic === "batchL2" ? batch * size : pairs * size;
  return { gram: GRAM_ROUTE_OVERHEAD * pairs * perPair, materialized: batch * perSample + reduction };
}

/** Whether the Gram route to a conv weight's statistic costs less than materializing g_i. */
export function gramRouteCheaper(hyper: Conv2dHyper, statistic: "batchL2" | "batchDot", sparse = false): boolean {
  const { gram, materialized } = convRouteCosts(hyper, statistic, sparse);
  return gram < materialized;
}

/**
 * ‖g_i‖² of a conv layer's weight, s²·Σ_g Σ_{p,q} (U_ig U_igᵀ)∘(δ_ig δ_igᵀ), samples split over
 * the threads, each holding two P×P Grams at a time (ops/convSamples.ts).
 */
export function convGramBatchL2(layer: Conv2dRecord, gradOut: Tensor, scale: number): Float64Array {
  const s2 = scale * scale;
  return gramSquaredNormsBySample(layer.hyper, layer.input, gradOut).map((v) => s2 * v);
}

/**
 * The Gram matrix g_iᵀg_j (N×N, row-major) of a conv layer's weight, s²·Σ_g Σ_{p,q}
 * (U_ig U_jgᵀ)∘(δ_ig δ_jgᵀ). Holds the position-major unfolded inputs and output gradients of
 * the batch (N·P·(in·kh·kw + out) floats, the size of the layer's unfolded input) and, per
 * sample i, its P rows of the Grams against samples 0..i.
 */
export function convGramBatchDot(layer: Conv2dRecord, gradOut: Tensor, scale: number): Float64Array {
  const { hyper } = layer;
  const { batch, groups, groupOut, patch, plane } = hyper;
  const rows = batch * plane;
  const unfolded = new Tensor([groups, rows, patch], "float32", "position-major unfolded inputs");
  const deltas = new Tensor([groups, rows, groupOut], "float32", "position-major output gradients");
  forEachUnfolded(layer.input, hyper, (n, group, columns) => {
    transposeMatrix(columns.ptr, patch, plane, unfolded.ptr + (group * batch + n) * plane * patch * 4);
    transposeMatrix(gradOut.ptr + outputBlock(hyper, n, group) * 4, groupOut, plane, deltas.ptr + (group * batch + n) * plane * groupOut * 4);
  });
  const inputRows = new Tensor([plane, rows], "float32", "unfolded input Gram rows");
  const deltaRows = new Tensor([plane, rows], "float32", "output gradient Gram rows");
  const dots = new Float64Array(batch * batch);
  // Row block i of X Xᵀ up to column block i, for X [rows, width] at byte offset x.
  const gramRows = (x: number, width: number, i: number, into: Tensor) =>
    gemm({
      transA: false,
      transB: true,
      m: plane,
      n: (i + 1) * plane,
      k: width,
      alpha: 1,
      a: x + i * plane * width * 4,
      lda: width,
      b: x,
      ldb: width,
      beta: 0,
      c: into.ptr,
      ldc: rows,
    });
  for (let group = 0; group < groups; group++) {
    const x = unfolded.ptr + group * rows * patch * 4;
    const d = deltas.ptr + group * rows * groupOut * 4;
    for (let i = 0; i < batch; i++) {
      gramRows(x, patch, i, inputRows);
      gramRows(d, groupOut, i, deltaRows);
      for (let j = 0; j <= i; j++) {
        let total = 0;
        for (let p = 0; p < plane; p++) {
          const at = (p * rows + j * plane) * 4;
          total += engineMemory.kernels.dotProduct(plane, inputRows.ptr + at, deltaRows.ptr + at);
        }
        dots[i * batch + j] += total;
      }
    }
  }
  for (const t of [unfolded, deltas, inputRows, deltaRows]) t.dispose();
  const s2 = scale * scale;
  for (let i = 0; i < batch; i++) {
    for (let j = 0; j <= i; j++) {
      dots[i * batch + j] *= s2;
      dots[j * batch + i] = dots[i * batch + j];
    }
  }
  return dots;
}

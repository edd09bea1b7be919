import { sparseColumnSquares, sparseColumnSquaresWorkspaceBytes } from "./curvature";
import { rowSums, sumSquaresInto, transpose } from "./elementwise";
import { gemm, gemmWorkspaceBytes, gramLower } from "./gemm";
import { col2imAdd, im2col } from "./im2col";
import { dotProduct } from "./reduce";
import { sparseConvInputGradient, sparseDenseProduct, sparseDenseProductWorkspaceBytes } from "./sparseConv";

// A convolution's per-sample loops over a range of samples, so that threads can take sample
// ranges: each sample (and group) is computed by the same kernels, in the same order, as one
// thread computes it, whatever range it falls in.

/** What `convSamples` computes per sample. */
const CONV_FORWARD: i32 = 0;
const CONV_INPUT_GRADIENT: i32 = 1;
const CONV_SPARSE_INPUT_GRADIENT: i32 = 2;
const CONV_WEIGHT_GRADIENT: i32 = 3;
const CONV_GRAM_SQUARED_NORMS: i32 = 4;
const CONV_SAMPLE_WEIGHT_GRADIENTS: i32 = 5;
const CONV_SPARSE_SAMPLE_WEIGHT_GRADIENTS: i32 = 6;

// The int32 fields of the geometry block `convSamples` reads.
const CHANNELS = 0; // input channels per group
const HEIGHT = 1;
const WIDTH = 2;
const KERNEL_H = 3;
const KERNEL_W = 4;
const STRIDE_H = 5;
const STRIDE_W = 6;
const PAD_H = 7;
const PAD_W = 8;
const DILATION_H = 9;
const DILATION_W = 10;
const OUT_H = 11;
const OUT_W = 12;
const GROUPS = 13;
const GROUP_OUT = 14; // output channels per group
const CHUNK = 15; // samples per weight-gradient partial sum

/** Int32 fields of the geometry block. */
export function convSamplesGeometryInts(): i32 {
  return CHUNK + 1;
}

@inline
function field(geometry: usize, index: i32): i32 {
  return load<i32>(geometry + (<usize>index << 2));
}

/**
 * For samples [first, last) of an NCHW convolution described by the int32 block at `geometry`,
 * with weight W [groups·groupOut, patch] at `weight`, `columns` one sample-group's [patch, plane]
 * scratch and `work` the GEMM's or sparse kernel's workspace:
 * - CONV_FORWARD: y = W·unfold(x) into `b` from the input at `a`;
 * - CONV_INPUT_GRADIENT: ∂x += fold(Wᵀ·δ) into `b` from the output gradient δ at `a`;
 * - CONV_SPARSE_INPUT_GRADIENT: the same, summed from δ's nonzeros;
 * - CONV_WEIGHT_GRADIENT: unfold(x)·δᵀ [groups, patch, groupOut] summed over each chunk of CHUNK
 *   samples (chunks counted from sample 0) into the chunk's own block of `b`, from the input at
 *   `a` and δ at `c`. Ranges start on chunk boundaries.
 * - CONV_GRAM_SQUARED_NORMS: ‖unfold(x)·δᵀ‖² of each sample, summed over its groups, as float64
 *   into `b`, from the Grams of the position-major unfolded input and output gradient:
 *   Σ_{p,q} (U Uᵀ)∘(δ δᵀ) (`work` holds convGramWorkBytes).
 * - CONV_SAMPLE_WEIGHT_GRADIENTS: each sample's weight gradient δ·unfold(x)ᵀ [groups·groupOut,
 *   patch] into its own block of `b`, from the input at `a` and δ at `c`;
 * - CONV_SPARSE_SAMPLE_WEIGHT_GRADIENTS: the same from δ's nonzeros (a mostly zero δ; `work`
 *   holds sparseSampleWeightGradientsWorkBytes).
 */
export function convSamples(mode: i32, first: i32, last: i32, geometry: usize, a: usize, weight: usize, b: usize, c: usize, columns: usize, work: usize): void {
  const channels = field(geometry, CHANNELS);
  const height = field(geometry, HEIGHT);
  const width = field(geometry, WIDTH);
  const kernelH = field(geometry, KERNEL_H);
  const kernelW = field(geometry, KERNEL_W);
  const strideH = field(geometry, STRIDE_H);
  const strideW = field(geometry, STRIDE_W);
  const padH = field(geometry, PAD_H);
  const padW = field(geometry, PAD_W);
  const dilationH = field(geometry, DILATION_H);
  const dilationW = field(geometry, DILATION_W);
  const outH = field(geometry, OUT_H);
  const outW = field(geometry, OUT_W);
  const groups = field(geometry, GROUPS);
  const groupOut = field(geometry, GROUP_OUT);
  const chunk = field(geometry, CHUNK);
  const patch = channels * kernelH * kernelW;
  const plane = outH * outW;
  const inputBytes = (<usize>channels * height * width) << 2;
  const outputBytes = (<usize>groupOut * plane) << 2;
  const weightBytes = (<usize>groupOut * patch) << 2;
  for (let n = first; n < last; n++) {
    for (let group = 0; group < groups; group++) {
      const block = <usize>(n * groups + group);
      const input = block * inputBytes;
      const output = block * outputBytes;
      const w = weight + <usize>group * weightBytes;
      if (mode == CONV_FORWARD) {
        unfold(geometry, a + input, columns);
        gemm(false, false, groupOut, plane, patch, 1, w, patch, columns, plane, 0, b + output, plane, work);
      } else if (mode == CONV_INPUT_GRADIENT) {
        gemm(true, false, patch, plane, groupOut, 1, w, patch, a + output, plane, 0, columns, plane, work);
        col2imAdd(columns, b + input, channels, height, width, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW, plane);
      } else if (mode == CONV_SPARSE_INPUT_GRADIENT) {
        sparseConvInputGradient(a + output, groupOut, w, b + input, channels, height, width, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW, work);
      } else if (mode == CONV_SAMPLE_WEIGHT_GRADIENTS || mode == CONV_SPARSE_SAMPLE_WEIGHT_GRADIENTS) {
        unfold(geometry, a + input, columns);
        const rows = b + block * weightBytes;
        if (mode == CONV_SAMPLE_WEIGHT_GRADIENTS) {
          gemm(false, true, groupOut, patch, plane, 1, c + output, plane, columns, plane, 0, rows, patch, work);
        } else {
          const unfoldedT = work + <usize>sparseDenseProductWorkspaceBytes(plane);
          transpose(columns, patch, plane, unfoldedT);
          sparseDenseProduct(c + output, groupOut, plane, unfoldedT, patch, rows, work);
        }
      } else if (mode == CONV_GRAM_SQUARED_NORMS) {
        unfold(geometry, a + input, columns);
        const value = gramInnerProduct(columns, c + output, patch, groupOut, plane, work);
        const sum = b + (<usize>n << 3);
        store<f64>(sum, group == 0 ? value : load<f64>(sum) + value);
      } else {
        unfold(geometry, a + input, columns);
        const partial = b + <usize>((n / chunk) * groups + group) * weightBytes;
        gemm(false, true, patch, groupOut, plane, 1, columns, plane, c + output, plane, n % chunk == 0 ? 0 : 1, partial, groupOut, work);
      }
    }
  }
}

/** The workspace bytes of CONV_SPARSE_SAMPLE_WEIGHT_GRADIENTS: the sparse product's and a position-major copy. */
export function sparseSampleWeightGradientsWorkBytes(patch: i32, plane: i32): f64 {
  return <f64>sparseDenseProductWorkspaceBytes(plane) + 4 * <f64>plane * patch;
}

/** The workspace bytes of CONV_GRAM_SQUARED_NORMS: a GEMM's, two position-major copies and two Grams. */
export function convGramWorkBytes(patch: i32, groupOut: i32, plane: i32): f64 {
  return <f64>gemmWorkspaceBytes() + 4 * (<f64>plane * (patch + groupOut) + 2 * <f64>plane * plane);
}

// Σ_{p,q} (U Uᵀ)[p,q]·(D Dᵀ)[p,q] for U = columnsᵀ [plane, patch] and D = δᵀ [plane, groupOut]:
// both Grams' lower triangles, then the symmetric inner product row by row in float64.
function gramInnerProduct(columns: usize, delta: usize, patch: i32, groupOut: i32, plane: i32, work: usize): f64 {
  const unfoldedT = work + <usize>gemmWorkspaceBytes();
  const deltaT = unfoldedT + ((<usize>plane * patch) << 2);
  const inputGram = deltaT + ((<usize>plane * groupOut) << 2);
  const deltaGram = inputGram + ((<usize>plane * plane) << 2);
  transpose(columns, patch, plane, unfoldedT);
  transpose(delta, groupOut, plane, deltaT);
  gramLower(unfoldedT, plane, patch, inputGram, work);
  gramLower(deltaT, plane, groupOut, deltaGram, work);
  let total: f64 = 0;
  for (let p = 0; p < plane; p++) {
    const rowA = inputGram + ((<usize>p * plane) << 2);
    const rowB = deltaGram + ((<usize>p * plane) << 2);
    const diagonal = <f64>load<f32>(rowA + (<usize>p << 2)) * <f64>load<f32>(rowB + (<usize>p << 2));
    total += 2 * dotProduct(p, rowA, rowB) + diagonal;
  }
  return total;
}

// im2col of one sample-group's input by the geometry block.
function unfold(geometry: usize, input: usize, columns: usize): void {
  const outH = field(geometry, OUT_H);
  const outW = field(geometry, OUT_W);
  im2col(
    input,
    columns,
    field(geometry, CHANNELS),
    field(geometry, HEIGHT),
    field(geometry, WIDTH),
    field(geometry, KERNEL_H),
    field(geometry, KERNEL_W),
    field(geometry, STRIDE_H),
    field(geometry, STRIDE_W),
    field(geometry, PAD_H),
    field(geometry, PAD_W),
    field(geometry, DILATION_H),
    field(geometry, DILATION_W),
    outH,
    outW,
    outH * outW,
  );
}

@inline
function aligned(bytes: usize): usize {
  return (bytes + 15) & ~(<usize>15);
}

/** The workspace bytes of convColumnSquares for `columns` factor columns (float64: may pass 2³¹). */
export function convColumnSquaresWorkBytes(columns: i32, groupOut: i32, plane: i32, patch: i32): f64 {
  const floats = <f64>columns * groupOut * plane + 2 * <f64>patch * plane + <f64>columns * groupOut * patch + <f64>columns * groupOut;
  // The inner kernels' workspace, then five areas each aligned to 16 bytes.
  return <f64>innerWorkBytes(columns, plane, patch) + 4 * floats + 5 * 16;
}

// The larger of the GEMM's workspace and the gathered squares' (sparseColumnSquares).
function innerWorkBytes(columns: i32, plane: i32, patch: i32): i32 {
  return max(gemmWorkspaceBytes(), sparseColumnSquaresWorkspaceBytes(columns, plane, patch));
}

/**
 * For samples [first, last) of the convolution at `geometry` (chunks of CHUNK samples, ranges
 * starting on chunk boundaries): sign·Σ_k Σ_n g_nk² of the weight (g_nk = δ_nk·unfold(x_n)ᵀ) and of
 * the bias (Σ_p δ_nk), over the `columns` factor columns whose output gradients [N, out, plane]
 * start at the int32 byte offsets in `deltas`. Each chunk's sums go to its own zeroed block of
 * `weightSums` ([chunks, out·patch]) and `biasSums` ([chunks, out]), either 0 when not wanted,
 * for the caller to add in chunk order. `sparse`: each channel multiplies only the positions
 * where some column's δ is not zero (sparseColumnSquares), else one GEMM per sample and group.
 */
export function convColumnSquares(
  first: i32,
  last: i32,
  geometry: usize,
  x: usize,
  deltas: usize,
  columns: i32,
  sparse: i32,
  sign: f32,
  weightSums: usize,
  biasSums: usize,
  work: usize,
): void {
  const groups = field(geometry, GROUPS);
  const groupOut = field(geometry, GROUP_OUT);
  const chunk = field(geometry, CHUNK);
  const patch = field(geometry, CHANNELS) * field(geometry, KERNEL_H) * field(geometry, KERNEL_W);
  const plane = field(geometry, OUT_H) * field(geometry, OUT_W);
  const inputBytes = (<usize>field(geometry, CHANNELS) * field(geometry, HEIGHT) * field(geometry, WIDTH)) << 2;
  const outChannels = groups * groupOut;
  const blockBytes = (<usize>groupOut * plane) << 2;
  const stacked = work + <usize>innerWorkBytes(columns, plane, patch);
  const unfolded = stacked + aligned((<usize>columns * groupOut * plane) << 2);
  const unfoldedT = unfolded + aligned((<usize>patch * plane) << 2);
  const products = unfoldedT + aligned((<usize>patch * plane) << 2);
  const sums = products + aligned((<usize>columns * groupOut * patch) << 2);
  const weightBytes = (<usize>outChannels * patch) << 2;
  const biasBytes = <usize>outChannels << 2;
  for (let n = first; n < last; n++) {
    const weightChunk = weightSums + <usize>(n / chunk) * weightBytes;
    const biasChunk = biasSums + <usize>(n / chunk) * biasBytes;
    if (n % chunk == 0) {
      if (weightSums) memory.fill(weightChunk, 0, weightBytes);
      if (biasSums) memory.fill(biasChunk, 0, biasBytes);
    }
    for (let group = 0; group < groups; group++) {
      const offset = <usize>(n * outChannels + group * groupOut) * plane << 2;
      for (let k = 0; k < columns; k++) memory.copy(stacked + <usize>k * blockBytes, <usize>load<i32>(deltas + (<usize>k << 2)) + offset, blockBytes);
      if (weightSums) {
        const target = weightChunk + ((<usize>group * groupOut * patch) << 2);
        unfold(geometry, x + <usize>(n * groups + group) * inputBytes, unfolded);
        if (sparse) {
          transpose(unfolded, patch, plane, unfoldedT);
          sparseColumnSquares(columns, groupOut, plane, patch, stacked, unfoldedT, target, sign, work);
        } else {
          gemm(false, true, columns * groupOut, patch, plane, 1, stacked, plane, unfolded, plane, 0, products, patch, work);
          sumSquaresInto(groupOut * patch, columns, products, target, sign);
        }
      }
      if (biasSums) {
        rowSums(stacked, columns * groupOut, plane, sums);
        sumSquaresInto(groupOut, columns, sums, biasChunk + ((<usize>group * groupOut) << 2), sign);
      }
    }
  }
}

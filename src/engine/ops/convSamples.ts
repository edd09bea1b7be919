import { runElementwise, transposeMatrix } from "../kernels/elementwise.ts";
import { MIN_GEMM_WORK_PER_THREAD } from "../kernels/gemm.ts";
import { float64Results } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import { Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import { runRanges } from "../threads/settings.ts";
import { type Conv2dHyper, isMostlyZero } from "./conv2d.ts";
import { geometryArgs } from "./im2col.ts";

// The modes of assembly/convSamples.ts.
const CONV_FORWARD = 0;
const CONV_INPUT_GRADIENT = 1;
const CONV_SPARSE_INPUT_GRADIENT = 2;
const CONV_WEIGHT_GRADIENT = 3;
const CONV_GRAM_SQUARED_NORMS = 4;
const CONV_SAMPLE_WEIGHT_GRADIENTS = 5;
const CONV_SPARSE_SAMPLE_WEIGHT_GRADIENTS = 6;

// Samples per partial sum of the weight gradient. Fixed, not derived from the thread count: the
// partials are added in chunk order, so the sum's rounding is the same at any count.
const WEIGHT_GRADIENT_CHUNK = 8;

// Multiply-adds each thread's share of samples must hold for a split to pay (as a GEMM's, whose
// fork/join it pays the same; a sample's im2col or fold adds a little to each).
const MIN_SAMPLE_WORK_PER_THREAD = MIN_GEMM_WORK_PER_THREAD;

// Bytes the threads' workspaces of one op may take together (WebAssembly's memory is 4 GiB).
const WORKSPACES_BUDGET = 2 ** 29;

function geometryBlock(hyper: Conv2dHyper): Tensor {
  const fields = [...geometryArgs(hyper.geometry), hyper.groups, hyper.groupOut, WEIGHT_GRADIENT_CHUNK];
  const block = new Tensor([engineMemory.kernels.convSamplesGeometryInts()], "int32", "conv2d geometry");
  engineMemory.i32.set(fields, block.offset);
  return block;
}

// Runs one mode over all samples, split into sample ranges of whole `unit`s over the threads;
// each thread gets a column buffer and a workspace of its own.
function runBySamples(hyper: Conv2dHyper, mode: number, unit: number, workBytes: number, pointers: [a: number, weight: number, b: number, c: number]): void {
  const { batch, groups, groupOut, patch, plane } = hyper;
  const parts = partsFor(batch * groups * groupOut * patch * plane, MIN_SAMPLE_WORK_PER_THREAD);
  const ranges = splitRange(batch, unit, parts);
  const geometry = geometryBlock(hyper);
  const columns = new Tensor([ranges.length, patch * plane], "float32", "conv2d columns");
  runRanges(ranges, (first, last, thread) => ({
    kernel: "convSamples",
    args: [mode, first, last, geometry.ptr, ...pointers, columns.ptr + thread * patch * plane * 4, engineMemory.workspace(workBytes, thread)],
  }));
  columns.dispose();
  geometry.dispose();
}

/** out = conv(x, W) without bias, one im2col and GEMM per sample and group, samples split over the threads. */
export function convolveBySample(hyper: Conv2dHyper, x: Tensor, weight: Tensor, out: Tensor): void {
  runBySamples(hyper, CONV_FORWARD, 1, engineMemory.kernels.gemmWorkspaceBytes(), [x.ptr, weight.ptr, out.ptr, 0]);
}

/**
 * gradX += fold(Wᵀ·δ) per sample and group, samples split over the threads; `sparse` sums it
 * from δ's nonzeros (a mostly zero δ).
 */
export function inputGradientBySample(hyper: Conv2dHyper, gradOut: Tensor, weight: Tensor, gradX: Tensor, sparse: boolean): void {
  const kernels = engineMemory.kernels;
  const workBytes = sparse ? kernels.sparseConvInputGradientWorkspaceBytes(hyper.groupOut, hyper.patch) : kernels.gemmWorkspaceBytes();
  runBySamples(hyper, sparse ? CONV_SPARSE_INPUT_GRADIENT : CONV_INPUT_GRADIENT, 1, workBytes, [gradOut.ptr, weight.ptr, gradX.ptr, 0]);
}

/**
 * gradW = δ·unfold(x)ᵀ summed over the samples: per chunk of WEIGHT_GRADIENT_CHUNK samples,
 * unfold(x)·δᵀ (output channels as the GEMM's columns fill its panels even for 1-channel inputs),
 * chunks split over the threads, then the chunks' sums added in chunk order and transposed.
 */
export function weightGradientBySample(hyper: Conv2dHyper, x: Tensor, gradOut: Tensor, gradW: Tensor): void {
  const { batch, groups, groupOut, patch } = hyper;
  if (batch === 0) return;
  const chunks = Math.ceil(batch / WEIGHT_GRADIENT_CHUNK);
  const blockFloats = groups * patch * groupOut;
  const partials = new Tensor([chunks, blockFloats], "float32", "conv2d weight gradient partial sums");
  runBySamples(hyper, CONV_WEIGHT_GRADIENT, WEIGHT_GRADIENT_CHUNK, engineMemory.kernels.gemmWorkspaceBytes(), [x.ptr, 0, partials.ptr, gradOut.ptr]);
  for (let chunk = 1; chunk < chunks; chunk++) engineMemory.kernels.axpy(blockFloats, 1, partials.ptr + chunk * blockFloats * 4, partials.ptr);
  for (let group = 0; group < groups; group++) {
    transposeMatrix(partials.ptr + group * patch * groupOut * 4, patch, groupOut, gradW.ptr + group * groupOut * patch * 4);
  }
  partials.dispose();
}

/**
 * ‖unfold(x_n)·δ_nᵀ‖² of each sample n, summed over the groups, in float64, from the Grams of
 * the position-major unfolded input and output gradient (P×P each, per thread): samples split
 * over the threads, each computed whole on one.
 */
export function gramSquaredNormsBySample(hyper: Conv2dHyper, x: Tensor, gradOut: Tensor): Float64Array {
  const { batch, groupOut, patch, plane } = hyper;
  const workBytes = engineMemory.kernels.convGramWorkBytes(patch, groupOut, plane);
  return float64Results(batch, (out) => runBySamples(hyper, CONV_GRAM_SQUARED_NORMS, 1, workBytes, [x.ptr, 0, out, gradOut.ptr]));
}

/**
 * weight += sign·Σ_k Σ_n (δ_nk·unfold(x_n)ᵀ)² and bias += sign·Σ_k Σ_n (Σ_p δ_nk)² (either may be
 * null) over the factor columns' output gradients `deltas` [N, out, outH, outW]: each sample's
 * input unfolded once for all columns, samples split over the threads in chunks of
 * WEIGHT_GRADIENT_CHUNK whose sums are added in chunk order. `sparse`: channels multiply only the
 * positions where some column's δ is not zero.
 */
export function columnSquaresBySample(hyper: Conv2dHyper, x: Tensor, deltas: Tensor[], sign: number, sparse: boolean, weight: Tensor | null, bias: Tensor | null): void {
  const { batch, groupOut, outChannels, patch, plane } = hyper;
  if (batch === 0 || deltas.length === 0) return;
  const chunks = Math.ceil(batch / WEIGHT_GRADIENT_CHUNK);
  const weightSums = weight ? new Tensor([chunks, weight.size], "float32", "conv column squares per chunk") : null;
  const biasSums = bias ? new Tensor([chunks, outChannels], "float32", "conv bias column squares per chunk") : null;
  const pointers = new Tensor([deltas.length], "int32", "column output gradients");
  engineMemory.i32.set(
    deltas.map((delta) => delta.ptr),
    pointers.offset,
  );
  const geometry = geometryBlock(hyper);
  const workBytes = engineMemory.kernels.convColumnSquaresWorkBytes(deltas.length, groupOut, plane, patch);
  // Each thread holds its own stacked columns and products: fewer threads where they would not fit.
  const parts = Math.max(
    1,
    Math.min(partsFor(deltas.length * batch * hyper.groups * groupOut * patch * plane, MIN_SAMPLE_WORK_PER_THREAD), Math.floor(WORKSPACES_BUDGET / workBytes)),
  );
  runRanges(splitRange(batch, WEIGHT_GRADIENT_CHUNK, parts), (first, last, thread) => ({
    kernel: "convColumnSquares",
    args: [
      first,
      last,
      geometry.ptr,
      x.ptr,
      pointers.ptr,
      deltas.length,
      sparse ? 1 : 0,
      sign,
      weightSums?.ptr ?? 0,
      biasSums?.ptr ?? 0,
      engineMemory.workspace(workBytes, thread),
    ],
  }));
  for (let chunk = 0; chunk < chunks; chunk++) {
    if (weight && weightSums) engineMemory.kernels.axpy(weight.size, 1, weightSums.ptr + chunk * weight.size * 4, weight.ptr);
    if (bias && biasSums) engineMemory.kernels.axpy(outChannels, 1, biasSums.ptr + chunk * outChannels * 4, bias.ptr);
  }
  for (const t of [weightSums, biasSums, pointers, geometry]) t?.dispose();
}

/**
 * Each sample's weight gradient alpha·δ_n·unfold(x_n)ᵀ into out [N, ...weight shape], samples
 * split over the threads; from δ's nonzeros when it is mostly zero (after ReLU and pooling).
 */
export function perSampleWeightGradients(hyper: Conv2dHyper, x: Tensor, gradOut: Tensor, alpha: number, out: Tensor): void {
  const kernels = engineMemory.kernels;
  const sparse = isMostlyZero(gradOut);
  const workBytes = sparse ? kernels.sparseSampleWeightGradientsWorkBytes(hyper.patch, hyper.plane) : kernels.gemmWorkspaceBytes();
  runBySamples(hyper, sparse ? CONV_SPARSE_SAMPLE_WEIGHT_GRADIENTS : CONV_SAMPLE_WEIGHT_GRADIENTS, 1, workBytes, [x.ptr, 0, out.ptr, gradOut.ptr]);
  if (alpha !== 1) runElementwise(out.size, (start, end) => ({ kernel: "scaleInPlace", args: [end - start, out.ptr + 4 * start, alpha] }));
}

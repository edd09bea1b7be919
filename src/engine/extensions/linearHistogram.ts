import { engineMemory } from "../memory.ts";
import { Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import type { KernelCall } from "../threads/pool.ts";
import { runRanges } from "../threads/settings.ts";
import type { WasmKernels } from "../wasm.ts";
import { type Histogram1dSpec, type Histogram2dSpec, histogram2dGeometry, histogram2dYBins } from "./histograms.ts";
import type { RankOneLinear } from "./linearClosedForms.ts";

// Values (or rank-one rows and columns) each thread must bin for a split to pay: binning takes
// about 1 ns a value on one thread, so 2^15 take some 30 µs, a worker's wake-up split two ways.
const MIN_HISTOGRAM_WORK_PER_THREAD = 2 ** 15;

/**
 * Counts over `extent` items (values, rows or samples) split into ranges over the threads: the
 * part on thread t counts into float64 bins at the start of thread t's kernel workspace,
 * followed by `scratchBytes` of its own scratch, and the parts' counts are added. Counts are
 * whole numbers far below 2^53, so the sum is exact and the same at any thread count.
 */
function countInParts(
  bins: number,
  scratchBytes: number,
  extent: number,
  workPerItem: number,
  part: (first: number, end: number, counts: number, scratch: number) => [kernel: keyof WasmKernels, args: number[]],
): Float64Array {
  const countBytes = bins * 8;
  const ranges = splitRange(extent, 1, partsFor(extent * workPerItem, MIN_HISTOGRAM_WORK_PER_THREAD));
  const areas = ranges.map((_, thread) => {
    const counts = engineMemory.workspace(countBytes + scratchBytes, thread);
    new Float64Array(engineMemory.memory.buffer, counts, bins).fill(0);
    return counts;
  });
  runRanges(ranges, (first, end, thread): KernelCall => {
    const [kernel, args] = part(first, end, areas[thread], areas[thread] + countBytes);
    return { kernel, args };
  });
  const total = new Float64Array(bins);
  for (const counts of areas) {
    const partCounts = new Float64Array(engineMemory.memory.buffer, counts, bins);
    for (let b = 0; b < bins; b++) total[b] += partCounts[b];
  }
  return total;
}

/**
 * torch.histc counts (float32 arithmetic, NaNs not counted) of fl(scale·x) over a float32
 * tensor's values x, in WASM.
 */
export function tensorHistogram1d(values: Tensor, spec: Histogram1dSpec, scale = 1): Float64Array {
  return countInParts(spec.bins, 16 * spec.bins, values.size, 1, (first, end, counts, lanes) => [
    "histogram1d",
    [values.ptr + 4 * first, end - first, scale, spec.range[0], spec.range[1], spec.bins, counts, lanes],
  ]);
}

/**
 * hist1d of a rank-one Linear layer's per-sample gradients without forming them: the counts
 * of fl(s·fl(δ_io·a_ij)) over all i, o, j, exactly the values the materialized path bins
 * (see assembly/histogram.ts for how). Samples are split over the threads.
 */
export function rankOneHistogram1d(view: RankOneLinear, role: "weight" | "bias", spec: Histogram1dSpec): Float64Array {
  // g_i(b) = fl(s·δ_i), which a plain pass over δ bins.
  if (role === "bias") return tensorHistogram1d(view.delta, spec, view.scale);
  const kernels = engineMemory.kernels;
  const maxBins = kernels.rankOneHistogramMaxBins();
  if (spec.bins > maxBins) throw new RangeError(`gradscope: hist1d of a linear layer supports at most ${maxBins} bins, got ${spec.bins}`);
  const [lo, hi] = spec.range;
  // The longer of δ_i and a_i is the column: rows cost a fixed amount each and a crossing row's
  // SIMD scan of the column is cheap (measured on the MLP: 0.84 against 1.3 ms the other way).
  const deltaIsColumn = view.outFeatures > view.inFeatures;
  const [columns, columnLength, rows, rowCount] = deltaIsColumn
    ? [view.delta.ptr, view.outFeatures, view.activations.ptr, view.inFeatures]
    : [view.activations.ptr, view.inFeatures, view.delta.ptr, view.outFeatures];
  // The scratch: the compacted rows, then the kernel's tables, 16-byte aligned.
  const rowBytes = Math.ceil(rowCount / 4) * 16;
  return countInParts(spec.bins, rowBytes + kernels.rankOneHistogramWorkBytes(), view.batch, rowCount + columnLength, (first, end, counts, scratch) => [
    "rankOneHistogram1d",
    [columns + 4 * first * columnLength, columnLength, rows + 4 * first * rowCount, rowCount, end - first, view.scale, lo, hi, spec.bins, counts, scratch, scratch + rowBytes],
  ]);
}

// The 2-D kernels read each parameter element's y bin from `yBins` and count into four u32
// sub-histograms (16 bytes per bin) of each thread's own, followed by its `extraBytes`.
function countPairs(
  parameter: Tensor,
  spec: Histogram2dSpec,
  extent: number,
  workPerItem: number,
  extraBytes: number,
  part: (first: number, end: number, yBins: number, counts: number, bins: number, lanes: number, extra: number) => [kernel: keyof WasmKernels, args: number[]],
): Float64Array {
  const yBins = new Tensor([parameter.size], "int32", "hist2d y bins");
  engineMemory.i32.set(histogram2dYBins(parameter.data, spec), yBins.offset);
  const bins = spec.bins[0] * spec.bins[1];
  const counts = countInParts(bins, 16 * bins + extraBytes, extent, workPerItem, (first, end, partCounts, lanes) =>
    part(first, end, yBins.ptr, partCounts, bins, lanes, lanes + 16 * bins),
  );
  yBins.dispose();
  return counts;
}

/** GradHist2d counts of materialized per-sample gradients [N, *parameter.shape] against θ, in WASM. */
export function tensorHistogram2d(gradients: Tensor, parameter: Tensor, spec: Histogram2dSpec): Float64Array {
  const { xlo, wx, xmin, xmax } = histogram2dGeometry(spec);
  const rows = gradients.size / parameter.size;
  return countPairs(parameter, spec, rows, parameter.size, 0, (first, end, yBins, counts, bins, lanes) => [
    "histogram2d",
    [gradients.ptr + 4 * first * parameter.size, end - first, parameter.size, yBins, xlo, wx, xmin, xmax, spec.bins[1], counts, bins, lanes],
  ]);
}

/**
 * GradHist2d of a rank-one Linear layer's per-sample gradients against θ without forming them:
 * the values fl(s·fl(δ_io·a_ik)) the materialized path bins (a bias: a = 1).
 */
export function rankOneHistogram2d(view: RankOneLinear, role: "weight" | "bias", parameter: Tensor, spec: Histogram2dSpec): Float64Array {
  const { xlo, wx, xmin, xmax } = histogram2dGeometry(spec);
  const ones = role === "bias" ? new Tensor([view.batch], "float32", "hist2d bias activations") : null;
  ones?.data.fill(1);
  const [activations, inFeatures] = ones ? [ones.ptr, 1] : [view.activations.ptr, view.inFeatures];
  // Each part's extra bytes: the kernel's zero-row tallies.
  const counts = countPairs(parameter, spec, view.batch, view.outFeatures * inFeatures, view.outFeatures * 4, (first, end, yBins, partCounts, bins, lanes, tallies) => [
    "rankOneHistogram2d",
    [
      view.delta.ptr + 4 * first * view.outFeatures,
      activations + 4 * first * inFeatures,
      yBins,
      end - first,
      view.outFeatures,
      inFeatures,
      view.scale,
      xlo,
      wx,
      xmin,
      xmax,
      spec.bins[1],
      partCounts,
      bins,
      lanes,
      tallies,
    ],
  ]);
  ones?.dispose();
  return counts;
}

import { engineMemory } from "../memory.ts";
import type { Tensor } from "../tensor.ts";
import { type Histogram1dSpec, type Histogram2dSpec, histogram2dGeometry, histogram2dYBins } from "./histograms.ts";
import type { RankOneLinear } from "./linearClosedForms.ts";

// The WASM histogram kernels count into float64 bins at the start of the kernel workspace,
// followed by any scratch the caller needs; the counts are copied out after the call.
function countInWorkspace(bins: number, scratchBytes: number, run: (counts: number, scratch: number) => void): Float64Array {
  const countBytes = bins * 8;
  const counts = engineMemory.workspace(countBytes + scratchBytes);
  new Float64Array(engineMemory.memory.buffer, counts, bins).fill(0);
  run(counts, counts + countBytes);
  return new Float64Array(engineMemory.memory.buffer, counts, bins).slice();
}

/**
 * torch.histc counts (float32 arithmetic, NaNs not counted) of fl(scale·x) over a float32
 * tensor's values x, in WASM.
 */
export function tensorHistogram1d(values: Tensor, spec: Histogram1dSpec, scale = 1): Float64Array {
  return countInWorkspace(spec.bins, 16 * spec.bins, (counts, lanes) =>
    engineMemory.kernels.histogram1d(values.ptr, values.size, scale, spec.range[0], spec.range[1], spec.bins, counts, lanes),
  );
}

/**
 * hist1d of a rank-one Linear layer's per-sample gradients without forming them: the counts
 * of fl(s·fl(δ_io·a_ij)) over all i, o, j, exactly the values the materialized path bins
 * (see assembly/histogram.ts for how).
 */
export function rankOneHistogram1d(view: RankOneLinear, role: "weight" | "bias", spec: Histogram1dSpec): Float64Array {
  // g_i(b) = fl(s·δ_i), which a plain pass over δ bins.
  if (role === "bias") return tensorHistogram1d(view.delta, spec, view.scale);
  const maxBins = engineMemory.kernels.rankOneHistogramMaxBins();
  if (spec.bins > maxBins) throw new RangeError(`gradscope: hist1d of a linear layer supports at most ${maxBins} bins, got ${spec.bins}`);
  const [lo, hi] = spec.range;
  // The longer of δ_i and a_i is the column: rows cost a fixed amount each and a crossing row's
  // SIMD scan of the column is cheap (measured on the MLP: 0.84 against 1.3 ms the other way).
  const deltaIsColumn = view.outFeatures > view.inFeatures;
  const [columns, columnLength, rows, rowCount] = deltaIsColumn
    ? [view.delta.ptr, view.outFeatures, view.activations.ptr, view.inFeatures]
    : [view.activations.ptr, view.inFeatures, view.delta.ptr, view.outFeatures];
  return countInWorkspace(spec.bins, 4 * rowCount, (counts, scratch) =>
    engineMemory.kernels.rankOneHistogram1d(columns, columnLength, rows, rowCount, view.batch, view.scale, lo, hi, spec.bins, counts, scratch),
  );
}

// The 2-D kernels read each parameter element's y bin from the scratch after the counts, then
// count into four u32 sub-histograms (16 bytes per bin), then the caller's extra bytes.
function countPairsInWorkspace(
  parameter: Tensor,
  spec: Histogram2dSpec,
  extraBytes: number,
  run: (counts: number, bins: number, yBins: number, lanes: number, extra: number) => void,
): Float64Array {
  const yBins = histogram2dYBins(parameter.data, spec);
  const bins = spec.bins[0] * spec.bins[1];
  return countInWorkspace(bins, yBins.byteLength + 16 * bins + extraBytes, (counts, scratch) => {
    new Int32Array(engineMemory.memory.buffer, scratch, yBins.length).set(yBins);
    const lanes = scratch + yBins.byteLength;
    run(counts, bins, scratch, lanes, lanes + 16 * bins);
  });
}

/** GradHist2d counts of materialized per-sample gradients [N, *parameter.shape] against θ, in WASM. */
export function tensorHistogram2d(gradients: Tensor, parameter: Tensor, spec: Histogram2dSpec): Float64Array {
  const { xlo, wx, xmin, xmax } = histogram2dGeometry(spec);
  const rows = gradients.size / parameter.size;
  return countPairsInWorkspace(parameter, spec, 0, (counts, bins, yBins, lanes) =>
    engineMemory.kernels.histogram2d(gradients.ptr, rows, parameter.size, yBins, xlo, wx, xmin, xmax, spec.bins[1], counts, bins, lanes),
  );
}

/**
 * GradHist2d of a rank-one Linear layer's per-sample gradients against θ without forming them:
 * the values fl(s·fl(δ_io·a_ik)) the materialized path bins (a bias: a = 1).
 */
export function rankOneHistogram2d(view: RankOneLinear, role: "weight" | "bias", parameter: Tensor, spec: Histogram2dSpec): Float64Array {
  const { xlo, wx, xmin, xmax } = histogram2dGeometry(spec);
  // The extra bytes: the kernel's zero-row tallies, then a bias's activations of 1.
  const ones = role === "bias" ? view.batch * 4 : 0;
  const tallies = view.outFeatures * 4;
  return countPairsInWorkspace(parameter, spec, tallies + ones, (counts, bins, yBins, lanes, extra) => {
    const onesPtr = extra + tallies;
    if (ones) new Float32Array(engineMemory.memory.buffer, onesPtr, view.batch).fill(1);
    const [activations, inFeatures] = ones ? [onesPtr, 1] : [view.activations.ptr, view.inFeatures];
    engineMemory.kernels.rankOneHistogram2d(
      view.delta.ptr,
      activations,
      yBins,
      view.batch,
      view.outFeatures,
      inFeatures,
      view.scale,
      xlo,
      wx,
      xmin,
      xmax,
      spec.bins[1],
      counts,
      bins,
      lanes,
      extra,
    );
  });
}

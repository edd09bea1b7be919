/** Bins and range of a 1-D histogram (torch.histc semantics). */
export interface Histogram1dSpec {
  /** Number of equal-width bins. */
  bins: number;
  /** [lo, hi] of the bins; values outside are clamped into the extreme bins. */
  range: [number, number];
}

/** Bins and ranges of a 2-D histogram: x = gradient element, y = parameter value. */
export interface Histogram2dSpec {
  /** Number of bins [x, y]. */
  bins: [number, number];
  /** [[xlo, xhi], [ylo, yhi]]; values outside are clamped into the extreme bins. */
  range: [[number, number], [number, number]];
}

const f = Math.fround;

/**
 * torch.histc's bin of one value, all in float32 (Cockpit GradHist1d): v = clamp(x, lo, hi),
 * bin = floor(((v − lo)·bins)/(hi − lo)), and v == hi falls into the last bin. Monotone
 * non-decreasing in x, which the rank-one closed form relies on.
 */
export function histcBinner(spec: Histogram1dSpec): (x: number) => number {
  const [lo, hi] = [f(spec.range[0]), f(spec.range[1])];
  const bins = spec.bins;
  const width = f(hi - lo);
  return (x) => Math.min(Math.floor(f(f(f(Math.min(Math.max(x, lo), hi) - lo) * bins) / width)), bins - 1);
}

/** Counts of `values` in torch.histc's bins (see `histcBinner`); NaNs are not counted. */
export function histogram1d(values: Float32Array, spec: Histogram1dSpec, counts = new Float64Array(spec.bins)): Float64Array {
  const bin = histcBinner(spec);
  for (let i = 0; i < values.length; i++) counts[bin(values[i])]++;
  return counts;
}

/** Cockpit's GradHist2d bin geometry: float32 widths and the clamp bounds at the extreme bins' centres. */
export interface Histogram2dGeometry {
  xlo: number;
  wx: number;
  xmin: number;
  xmax: number;
}

/** The x geometry of a 2-D spec: w = (hi − lo)/bins in double then float32, centres of the end bins. */
export function histogram2dGeometry(spec: Histogram2dSpec): Histogram2dGeometry {
  const [xlo, xhi] = spec.range[0];
  const wx = f((xhi - xlo) / spec.bins[0]);
  return { xlo: f(xlo), wx, xmin: f(xlo + wx / 2), xmax: f(xhi - wx / 2) };
}

/** The y bin of each parameter value, as Cockpit bins them (clamped, trunc((θ − lo)/w) in float32). */
export function histogram2dYBins(parameters: Float32Array, spec: Histogram2dSpec): Int32Array {
  const [ylo, yhi] = spec.range[1];
  const wy = f((yhi - ylo) / spec.bins[1]);
  const ymin = f(ylo + wy / 2);
  const ymax = f(yhi - wy / 2);
  const bins = new Int32Array(parameters.length);
  for (let j = 0; j < parameters.length; j++) bins[j] = Math.trunc(f(f(Math.min(Math.max(parameters[j], ymin), ymax) - f(ylo)) / wy));
  return bins;
}

/**
 * Cockpit's GradHist2d scatter-add in TypeScript (the reference of the WASM kernels): gradient
 * values clamped to the centres of the extreme bins, index = trunc((v − lo)/w) in float32. Each
 * of the N per-sample gradient rows pairs with the same parameter values. Counts are hist[ix][iy].
 */
export function histogram2d(gradients: Float32Array, parameters: Float32Array, spec: Histogram2dSpec, counts = new Float64Array(spec.bins[0] * spec.bins[1])): Float64Array {
  const ybins = spec.bins[1];
  const { xlo, wx, xmin, xmax } = histogram2dGeometry(spec);
  const yIndex = histogram2dYBins(parameters, spec);
  const size = parameters.length;
  for (let k = 0; k < gradients.length; k++) {
    const x = Math.min(Math.max(gradients[k], xmin), xmax);
    const ix = Math.trunc(f(f(x - xlo) / wx));
    counts[ix * ybins + yIndex[k % size]]++;
  }
  return counts;
}

import type { ValueDistribution } from "./runReader.ts";

/**
 * The distribution of a scalar's values (in step order): counts in `bins` equal bins over
 * [lo, hi] for all of them and for the last `tail` fraction, with their means. Values outside
 * [lo, hi] are clamped into the end bins, as Cockpit's alpha gauge shows outliers at its edges.
 */
export function distributionOf(values: number[], lo: number, hi: number, bins: number, tail: number): ValueDistribution {
  const tailStart = values.length - Math.floor(values.length * tail);
  const all = new Array<number>(bins).fill(0);
  const last = new Array<number>(bins).fill(0);
  let sumAll = 0;
  let sumLast = 0;
  let below = false;
  let above = false;
  for (let i = 0; i < values.length; i++) {
    below ||= values[i] < lo;
    above ||= values[i] > hi;
    const bin = Math.min(bins - 1, Math.max(0, Math.floor(((values[i] - lo) / (hi - lo)) * bins)));
    all[bin]++;
    sumAll += values[i];
    if (i >= tailStart) {
      last[bin]++;
      sumLast += values[i];
    }
  }
  const lastCount = values.length - tailStart;
  return {
    lo,
    hi,
    all,
    last,
    meanAll: values.length ? sumAll / values.length : null,
    meanLast: lastCount ? sumLast / lastCount : null,
    below,
    above,
    count: values.length,
  };
}

import type { BucketedSeries } from "./runReader.ts";

/** What a bucket (or a rollup block, or the rows at a range's edge) holds of a series. */
export type Extremes = [min: number | null, max: number | null, lastStep: number, lastValue: number | null];

const lesser = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.min(a, b));
const greater = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : Math.max(a, b));

/**
 * The bucketed series from parts in bucket order: the parts of one bucket (the rows at an edge,
 * whole rollup blocks) merge into the min of their mins, the max of their maxes and the last
 * part's step and value; parts without rows are left out. Both readers answer through it.
 */
export function mergeBucketParts(parts: ReadonlyArray<readonly [bucket: number, extremes: Extremes | null]>): BucketedSeries {
  const out: BucketedSeries = { steps: [], last: [], min: [], max: [] };
  let bucket = -1;
  for (const [index, extremes] of parts) {
    if (!extremes) continue;
    const [min, max, lastStep, lastValue] = extremes;
    const at = out.steps.length - 1;
    if (index === bucket) {
      out.min[at] = lesser(out.min[at], min);
      out.max[at] = greater(out.max[at], max);
      out.steps[at] = lastStep;
      out.last[at] = lastValue;
      continue;
    }
    bucket = index;
    out.steps.push(lastStep);
    out.last.push(lastValue);
    out.min.push(min);
    out.max.push(max);
  }
  return out;
}

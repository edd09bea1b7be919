// Live points appended to series that the server reduced to buckets (see queries.ts).
import type { BucketedSeries, ListSeries } from "../api.ts";

// Live points arrive one per step. A point joins the last bucket when that bucket would then
// span no more than a pixel's share of the series' steps (`buckets` being the widest chart's
// pixels), as the server's reduction would have put it there: a page left open keeps about one
// point per pixel instead of piling hundreds into the chart's right edge, where redrawing them
// took 50–80 ms per update.
function joinsLastBucket(steps: number[], step: number, buckets: number): boolean {
  const n = steps.length;
  return n >= 2 && step - steps[n - 2] <= (step - steps[0]) / buckets;
}

/**
 * Appends a live point (`step` beyond the series' last) to a reduced scalar series: it joins the last
 * bucket (min/max widened, last replaced) when it falls within a pixel's share of the steps.
 */
export function appendPoint(series: BucketedSeries, step: number, value: number | null, buckets: number): void {
  const n = series.steps.length;
  if (n > 0 && step <= series.steps[n - 1]) return;
  if (!joinsLastBucket(series.steps, step, buckets)) {
    series.steps.push(step);
    series.last.push(value);
    series.min.push(value);
    series.max.push(value);
    return;
  }
  series.steps[n - 1] = step;
  series.last[n - 1] = value;
  if (value === null) return;
  series.min[n - 1] = Math.min(series.min[n - 1] ?? value, value);
  series.max[n - 1] = Math.max(series.max[n - 1] ?? value, value);
}

/** The same for a per-parameter list, which keeps the last entry of each bucket as the server does. */
export function appendEntry(series: ListSeries, step: number, values: number[], buckets: number): void {
  const n = series.steps.length;
  if (n > 0 && step <= series.steps[n - 1]) return;
  if (joinsLastBucket(series.steps, step, buckets)) {
    series.steps[n - 1] = step;
    series.values[n - 1] = values;
  } else {
    series.steps.push(step);
    series.values.push(values);
  }
}

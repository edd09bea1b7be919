/** The value below which a share `q` of `values` lies (the nearest of them; `q` = 0.5: the median). */
export function quantile(values: readonly number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.round(q * (sorted.length - 1))];
}

/** The median of `values` (the upper one of an even count). */
export function median(values: readonly number[]): number {
  return quantile(values, 0.5);
}

/** Median of `runs` timings of `fn` (after `warmup` untimed calls), in milliseconds. */
export function medianMs(fn: () => void, runs = 5, warmup = 2): number {
  return interleavedMedianMs([fn], runs, warmup)[0];
}

/**
 * The median timing of each of `fns`, timed in turn within each of `runs` rounds (after
 * `warmup` untimed rounds), in milliseconds. Ratios between them then compare calls made
 * moments apart: on a shared host the speed drifts by tens of percent over seconds, which
 * timing one function's runs after another's turned into ratios off by as much.
 */
export function interleavedMedianMs(fns: ReadonlyArray<() => void>, runs = 5, warmup = 2): number[] {
  for (let i = 0; i < warmup; i++) for (const fn of fns) fn();
  const times = fns.map((): number[] => []);
  for (let i = 0; i < runs; i++) {
    for (const [k, fn] of fns.entries()) {
      const start = performance.now();
      fn();
      times[k].push(performance.now() - start);
    }
  }
  return times.map(median);
}

/** Async variant, for peers whose API is promise-based. */
export async function medianMsAsync(fn: () => Promise<void>, runs = 5, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  return median(times);
}

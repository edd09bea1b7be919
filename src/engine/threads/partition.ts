import { threadCount } from "./settings.ts";

/**
 * How many threads an op of `work` units should use: one per `minWorkPerThread` units, at most
 * the thread count. Below two threads' worth it stays on the calling thread, paying no fork/join.
 */
export function partsFor(work: number, minWorkPerThread: number): number {
  const threads = threadCount();
  if (threads === 1) return 1;
  return Math.max(1, Math.min(threads, Math.floor(work / minWorkPerThread)));
}

/**
 * Splits [0, extent) into at most `parts` contiguous ranges whose boundaries are multiples of
 * `unit` (so a kernel's tiles fall where they fall for the whole range), as evenly as the units
 * allow; empty ranges are dropped.
 */
export function splitRange(extent: number, unit: number, parts: number): Array<[start: number, end: number]> {
  const units = Math.ceil(extent / unit);
  const count = Math.min(parts, units);
  const ranges: Array<[number, number]> = [];
  for (let part = 0; part < count; part++) {
    const start = Math.floor((part * units) / count) * unit;
    const end = Math.min(extent, Math.floor(((part + 1) * units) / count) * unit);
    if (end > start) ranges.push([start, end]);
  }
  return ranges;
}

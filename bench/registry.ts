// The rows of `npm run bench`: each has a stable name and a function that measures it. Rows of a
// group that are timed together (a ratio compares calls made in the same rounds) share one
// measurement through `once`, so a filter that picks one of them runs that measurement alone.

/** A ratio a row reports: its value and what it is a ratio to ("1 thread", "tfjs"). */
export interface Ratio {
  value: number;
  /** What the value is a multiple (or, with `percent`, a share) of. */
  of: string;
  /** Printed as a percentage ("84% of the ceiling") instead of a multiple ("1.85x 1 thread"). */
  percent?: boolean;
}

/** What measuring a row gives. */
export interface Measured {
  value: number;
  unit: string;
  /** Decimal places of the value in the table (1 unless said). */
  digits?: number;
  ratio?: Ratio;
  /** A figure the reader needs to judge the row: the reference it was timed with, a spread, the steps it covers. */
  note?: string;
}

/** One row: a stable name, the threads it runs at, and how to measure it. */
export interface BenchRow {
  name: string;
  /** The engine's thread count while the row is measured (set before `measure` is called). */
  threads: number;
  measure: () => Measured | Promise<Measured>;
}

/** A group of rows, in one module under bench/groups/. */
export interface BenchGroup {
  name: string;
  /** Why the group cannot run on this machine (printed as one line instead of its rows), or null. */
  unavailable?: () => string | null;
  rows: BenchRow[];
}

/** `fn`'s result, computed at the first call and returned again at the others. */
export function once<T>(fn: () => T): () => T {
  let result: { value: T } | undefined;
  return () => {
    result ??= { value: fn() };
    return result.value;
  };
}

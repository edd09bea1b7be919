// The store's reader API: what the dashboard (or any reader) asks a run store for, and the
// shapes it answers with. Type-only and dependency-free, so that the page shares the shapes
// (through dashboard/api.ts) and a store's implementation (sqliteRunReader.ts) owns the SQL.

/** A step range to read, and how many buckets (at most) to reduce it to. */
export interface StepRange {
  /** The first step, inclusive (default: the first logged). */
  from?: number;
  /** The last step, inclusive (default: the last logged). */
  to?: number;
  /** At most this many buckets. */
  buckets: number;
}

/** Row ids up to which a reader has seen each table. */
export interface Cursor {
  /** The last scalars row id seen. */
  scalars: number;
  /** The last lists row id seen. */
  lists: number;
  /** The last histograms row id seen. */
  histograms: number;
  /** The last events row id seen. */
  events: number;
}

/** A scalar series reduced to buckets: the last step of each, and its min, max and last value. */
export interface BucketedSeries {
  /** The last step of each bucket, ascending. */
  steps: number[];
  /** The value at that step; null where it was not finite (NaN, ±Infinity are stored as null). */
  last: Array<number | null>;
  /** The bucket's least finite value; null when it has none. */
  min: Array<number | null>;
  /** The bucket's greatest finite value; null when it has none. */
  max: Array<number | null>;
}

/** A per-parameter list series (one array of values per step). */
export interface ListSeries {
  /** The steps, ascending. */
  steps: number[];
  /** At each step, one value per parameter tensor (the run's `parameters` order). */
  values: number[][];
}

/** One logged histogram: 1-D (`edges` of length bins+1) or 2-D (`[xEdges, yEdges]`, counts[x][y]). */
export interface HistogramAtStep {
  /** The step it was logged at. */
  step: number;
  /** The bins' edges: bins+1 of them, or [xEdges, yEdges]. */
  edges: number[] | number[][];
  /** The counts per bin, or counts[x][y]. */
  counts: number[] | number[][];
}

/** 1-D histograms over time, one row per step, each row with its own [lo, hi]. */
export interface HeatmapRows {
  /** The step of each row, ascending. */
  steps: number[];
  /** Each row's [lo, hi] (its first and last edge). */
  ranges: Array<[number, number]>;
  /** Each row's counts per bin. */
  counts: number[][];
}

/** Counts of a scalar's values in equal bins over [lo, hi], overall and over the last fraction. */
export interface ValueDistribution {
  /** The lower end of the bins, as asked. */
  lo: number;
  /** The upper end of the bins, as asked. */
  hi: number;
  /** Counts per bin of all the values. */
  all: number[];
  /** Counts per bin of the last `tail` fraction of the values. */
  last: number[];
  /** The mean of all the values; null when there is none. */
  meanAll: number | null;
  /** The mean of the last fraction; null when it is empty. */
  meanLast: number | null;
  /** Whether any value was below `lo` (counted in the first bin). */
  below: boolean;
  /** Whether any value was above `hi` (counted in the last bin). */
  above: boolean;
  /** The number of values. */
  count: number;
}

/** An event of a run (a notice, a stop, an error). */
export interface RunEvent {
  /** The run's id. */
  run: string;
  /** The training step it happened at; null for one that belongs to no step (a notice, a crash found later). */
  step: number | null;
  /** When, in epoch seconds. */
  wallTime: number;
  /** What kind: "start", "resume", "notice", "warning", "stop", "error", "crash", ... */
  kind: string;
  /** The text shown to the user. */
  message: string;
}

/**
 * What the stream's `data` event carries: new scalar points `[run, key, step, value]`, list
 * points `[run, key, step, values]`, histogram notices `[run, key, step]`, and events.
 */
export interface Changes {
  /** New scalar points [run, key, step, value], value null where not finite. */
  scalars: Array<[string, string, number, number | null]>;
  /** New list points [run, key, step, values]. */
  lists: Array<[string, string, number, number[]]>;
  /** Histograms logged [run, key, step] (read them with `histogramAt`). */
  histograms: Array<[string, string, number]>;
  /** New events. */
  events: RunEvent[];
}

/** The status columns of every run, by id: changes when any run's status does. */
export type RunStates = unknown[][];

/**
 * Reads a run store for the dashboard: series reduced to a step range, histograms, the
 * distribution of a scalar, and the rows written after a cursor, a page at a time.
 */
export interface RunReader {
  /**
   * A scalar series over a step range, reduced to at most `range.buckets` buckets of equal step
   * width, each with the min, max and last value, so that spikes survive any zoom level. Short
   * ranges come back point by point (min = max = last).
   */
  scalarBuckets(runId: string, key: string, range: StepRange): BucketedSeries;
  /**
   * `scalarBuckets` of several series of a run over one range, by key: the same answers, in as
   * few exchanges with the database as the store can manage (a page's first render asks for
   * every chart's series at once).
   */
  scalarBucketsOf(runId: string, keys: readonly string[], range: StepRange): Record<string, BucketedSeries>;
  /** A per-parameter list series: the last entry of each bucket (see `scalarBuckets`). */
  listBuckets(runId: string, key: string, range: StepRange): ListSeries;
  /** The steps at which a histogram was logged. */
  histogramSteps(runId: string, key: string): number[];
  /** The histogram logged at `step`, or the last one before it (the first one if none is), or null. */
  histogramAt(runId: string, key: string, step?: number): HistogramAtStep | null;
  /**
   * A 1-D histogram over time for a heatmap: at most `range.buckets` rows (the last histogram of
   * each step bucket). Throws a RangeError naming the key when it is a 2-D histogram.
   */
  heatmapRows(runId: string, key: string, range: StepRange): HeatmapRows;
  /**
   * The distribution of a scalar's values: counts in `bins` equal bins over [lo, hi] (values
   * outside are clamped into the end bins) for all values and for the last `tail` fraction of
   * them, with their means.
   */
  valueDistribution(runId: string, key: string, lo: number, hi: number, bins: number, tail: number): ValueDistribution;
  /** The last value of every series of a family (e.g. the final `epoch` metrics), by name without the prefix. */
  lastValues(runId: string, prefix: string): Record<string, number | null>;
  /** The last step logged of a scalar series, or null. */
  lastStep(runId: string, key: string): number | null;
  /** The newest row of each table: the cursor of a stream that starts now. */
  currentCursor(): Cursor;
  /**
   * What was written after `from` up to `to`: scalar and list points in full, histograms as
   * (run, key, step) notices, and events; at most `limit` rows of each table. `reached` is how
   * far each table got: call again from there until it equals `to`.
   */
  changesBetween(
    from: Cursor,
    to: Cursor,
    limit: number,
  ): {
    /** The rows read. */
    changes: Changes;
    /** How far each table was read. */
    reached: Cursor;
  };
  /** The status columns of every run (id, status, end, stop request, whether it named its parameters). */
  runStates(): RunStates;
}

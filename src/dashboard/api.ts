/**
 * The dashboard's JSON API: the shapes the server sends and the browser reads. Type-only, so
 * the server (Node) and the page (browser) share one definition.
 */

/** A run as the runs table shows it. */
export interface RunSummary {
  id: string;
  name: string;
  status: string;
  startedAt: number;
  endedAt: number | null;
  config: unknown;
  summary: unknown;
  parameters: string[] | null;
  stopRequestedAt: number | null;
  /** The last value of every `epoch/*` scalar (final metrics), and the last step logged. */
  final: Record<string, number | null>;
  lastStep: number | null;
}

/** Row ids up to which a reader has seen each table. */
export interface Cursor {
  scalars: number;
  lists: number;
  histograms: number;
  events: number;
}

/** `GET /api/runs`. */
export interface RunsResponse {
  runs: RunSummary[];
  cursor: string;
}

/** `GET /api/runs/:id`: the run and the keys it logged, by kind. */
export interface RunResponse {
  run: RunSummary;
  keys: { scalars: string[]; lists: string[]; histograms: string[] };
  cursor: string;
}

/** A scalar series reduced to buckets: the last step of each, and its min, max and last value. */
export interface BucketedSeries {
  steps: number[];
  last: Array<number | null>;
  min: Array<number | null>;
  max: Array<number | null>;
}

/** A per-parameter list series (one array of values per step). */
export interface ListSeries {
  steps: number[];
  values: number[][];
}

/** One logged histogram: 1-D (`edges` of length bins+1) or 2-D (`[xEdges, yEdges]`, counts[x][y]). */
export interface HistogramAtStep {
  step: number;
  edges: number[] | number[][];
  counts: number[] | number[][];
}

/** 1-D histograms over time, one row per step, each row with its own [lo, hi]. */
export interface HeatmapRows {
  steps: number[];
  ranges: Array<[number, number]>;
  counts: number[][];
}

/** Counts of a scalar's values in equal bins over [lo, hi], overall and over the last fraction. */
export interface ValueDistribution {
  lo: number;
  hi: number;
  all: number[];
  last: number[];
  meanAll: number | null;
  meanLast: number | null;
  below: boolean;
  above: boolean;
  count: number;
}

/** An event of a run (a notice, a stop, an error). */
export interface RunEvent {
  run: string;
  step: number | null;
  wallTime: number;
  kind: string;
  message: string;
}

/**
 * What the stream's `data` event carries: new scalar points `[run, key, step, value]`, list
 * points `[run, key, step, values]`, histogram notices `[run, key, step]`, and events.
 */
export interface Changes {
  scalars: Array<[string, string, number, number | null]>;
  lists: Array<[string, string, number, number[]]>;
  histograms: Array<[string, string, number]>;
  events: RunEvent[];
}

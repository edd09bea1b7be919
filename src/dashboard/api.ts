/**
 * The dashboard's JSON API: the shapes the server sends and the browser reads. Type-only, so
 * the server (Node) and the page (browser) share one definition; the shapes of what it reads
 * from the store are the store reader's.
 */
export type { BucketedSeries, Changes, Cursor, HeatmapRows, HistogramAtStep, ListSeries, RunEvent, ValueDistribution } from "../store/runReader.ts";

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
  /** The last value of every scalar of the `epoch` family (final metrics), and the last step logged. */
  final: Record<string, number | null>;
  lastStep: number | null;
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

/** A sweep as the sweeps view lists it (`GET /api/sweeps`). */
export interface SweepSummary {
  id: string;
  name: string;
  status: string;
  createdAt: number;
  endedAt: number | null;
  /** The validated sweep file: `method`, `parameters`, `metric {name, goal}`, `budget`, `early_stopping`. */
  spec: unknown;
  /** Trials by status. */
  trials: Record<string, number>;
}

/** `GET /api/sweeps`. */
export interface SweepsResponse {
  sweeps: SweepSummary[];
}

/** A trial of a sweep: its parameters, its run, its metric and how it ended. */
export interface TrialSummary {
  number: number;
  params: Record<string, unknown>;
  status: string;
  runId: string | null;
  metric: number | null;
  /** The early-stopping rule or rung that stopped it. */
  stoppedBy: string | null;
  steps: number | null;
  plannedSteps: number | null;
  message: string | null;
}

/** `GET /api/sweeps/:id`: the sweep and its trials in order. */
export interface SweepResponse {
  sweep: SweepSummary;
  trials: TrialSummary[];
}

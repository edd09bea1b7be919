import type { RunReader } from "../store/runReader.ts";
import type { RunRecord } from "../store/runStore.ts";
import { SERIES_PREFIXES, STEP_COUNT_KEY } from "../store/seriesKeys.ts";
import type { RunSummary } from "./api.ts";

/** A run as the dashboard lists it: its record, final epoch metrics (and test results) and last logged step. */
export function runSummary(reader: RunReader, run: RunRecord): RunSummary {
  const final = reader.lastValues(run.id, SERIES_PREFIXES.epoch);
  const test = (run.summary as { test?: Record<string, number> } | null)?.test;
  if (test) Object.assign(final, test);
  const { id, name, status, startedAt, endedAt, config, summary, parameters, stopRequestedAt } = run;
  return { id, name, status, startedAt, endedAt, config, summary, parameters, stopRequestedAt, final, lastStep: reader.lastStep(run.id, STEP_COUNT_KEY) };
}

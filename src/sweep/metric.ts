/** What a finished run's summary.json holds that a sweep's metric is read from. */
export interface TrialSummary {
  history?: Array<Record<string, number>>;
  test?: Record<string, unknown>;
}

/**
 * A trial's value of the sweep's metric: a `test_` metric from the test set's evaluation at the
 * end, any other from the last epoch that logged it (so a trial stopped early has the value it
 * stopped with). Null when the run has no such value.
 */
export function trialMetric(name: string, summary: TrialSummary | null | undefined): number | null {
  if (!summary) return null;
  if (name.startsWith("test_")) {
    const value = summary.test?.[name];
    return typeof value === "number" ? value : null;
  }
  for (const logs of [...(summary.history ?? [])].reverse()) if (typeof logs[name] === "number") return logs[name];
  return null;
}

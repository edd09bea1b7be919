import type { SweepRecord, TrialRecord } from "../store/sweeps.ts";
import { lossOf } from "./search.ts";
import type { SweepSpec } from "./spec.ts";

/** The trial with the best metric (completed or stopped), or null when none has one. */
export function bestTrial(trials: TrialRecord[], goal: "minimize" | "maximize"): TrialRecord | null {
  let best: TrialRecord | null = null;
  for (const trial of trials) {
    if (trial.metric === null) continue;
    if (!best || lossOf(trial.metric, goal) < lossOf(best.metric, goal)) best = trial;
  }
  return best;
}

/** Optimizer steps that early stopping saved: the planned steps that stopped trials did not train. */
export function stepsSaved(trials: TrialRecord[]): number {
  return trials.reduce((sum, t) => sum + (t.status === "stopped" && t.plannedSteps !== null && t.steps !== null ? t.plannedSteps - t.steps : 0), 0);
}

/** A parameter's value for a table or a progress line: numbers to 4 significant digits, the rest as JSON. */
export const formatValue = (value: unknown) => (typeof value === "number" ? String(Number(value.toPrecision(4))) : JSON.stringify(value));

/** A trial's parameters on one line: `optimizer.lr=0.01 model.hidden=[64,64]`. */
export const formatParams = (params: Record<string, unknown>) =>
  Object.entries(params)
    .map(([path, value]) => `${path}=${formatValue(value)}`)
    .join(" ");

/** The line a sweep prints when a trial ends: `trial 3/16 stopped (rule): val_loss 0.4210, optimizer.lr=0.3`. */
export function trialEndLine(trial: TrialRecord, metricName: string, total: number): string {
  const metric = trial.metric === null ? "-" : trial.metric.toPrecision(4);
  const why = trial.stoppedBy ? ` (${trial.stoppedBy})` : trial.message ? `: ${trial.message.split("\n")[0]}` : "";
  return `trial ${trial.number}/${total} ${trial.status}${why}: ${metricName} ${metric}, ${formatParams(trial.params)}`;
}

/** Whether a trial has ended (however it ended). */
export const trialEnded = (trial: TrialRecord) => trial.status !== "pending" && trial.status !== "running";

/**
 * Whether a running sweep has its coordinator (the `gradscope sweep` or `sweep resume` process
 * that proposes its trials): `running` while a process holds the sweep's lease, `missing` when
 * none does (it died or lost the store: `gradscope sweep resume` takes the sweep up). Null when
 * the sweep has ended, or on a SQLite store, whose sweeps run inside their one process and hold
 * no lease that another process could look at.
 */
export type CoordinatorState = "running" | "missing" | null;

/** A sweep and its trials for `gradscope sweep status --json`. */
export function sweepReport(sweep: SweepRecord, trials: TrialRecord[], coordinator: CoordinatorState) {
  const spec = sweep.spec as SweepSpec;
  const best = bestTrial(trials, spec.metric.goal);
  return {
    id: sweep.id,
    name: sweep.name,
    status: sweep.status,
    coordinator,
    method: spec.method,
    metric: spec.metric,
    best: best ? { trial: best.number, run: best.runId, metric: best.metric, params: best.params } : null,
    steps_saved: stepsSaved(trials),
    trials: trials.map((t) => ({
      trial: t.number,
      status: t.status,
      params: t.params,
      metric: t.metric,
      stopped_by: t.stoppedBy,
      steps: t.steps,
      planned_steps: t.plannedSteps,
      attempts: t.attempts,
      run: t.runId,
      message: t.message,
    })),
  };
}

/** A sweep's trials as a text table: number, status, the metric, each parameter, and the rule that stopped it or the failure. */
export function trialTable(sweep: SweepRecord, trials: TrialRecord[]): string {
  const spec = sweep.spec as SweepSpec;
  const names = Object.keys(spec.parameters);
  const header = ["trial", "status", spec.metric.name, ...names, "steps", "stopped by / error"];
  const rows = trials.map((t) => [
    String(t.number),
    t.status,
    t.metric === null ? "-" : t.metric.toPrecision(4),
    ...names.map((n) => formatValue(t.params[n])),
    t.steps === null ? "-" : `${t.steps}${t.plannedSteps !== null && t.steps !== t.plannedSteps ? `/${t.plannedSteps}` : ""}`,
    t.stoppedBy ?? t.message?.split("\n")[0] ?? "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]))
      .join("  ")
      .trimEnd();
  const best = bestTrial(trials, spec.metric.goal);
  const footer = [
    `sweep ${sweep.id} (${spec.method}, ${sweep.status}): ${trials.length} trials, ${trials.filter((t) => t.status === "stopped").length} stopped early, ${stepsSaved(trials)} steps saved`,
    best
      ? `best: trial ${best.number} (${best.status}), ${spec.metric.name} ${best.metric?.toPrecision(6)}, ${formatParams(best.params)}, run ${best.runId}`
      : "best: none (no trial logged the metric)",
  ];
  return [line(header), ...rows.map(line), "", ...footer].join("\n");
}

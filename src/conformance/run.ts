import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Comparison, Tolerance } from "./compare.ts";
import { readGolden } from "./golden.ts";
import { type LayerCase, runLayerCase, supportedLayerOps } from "./layers.ts";
import { type LossCase, runLossCase, supportedLosses } from "./losses.ts";
import { type MetricCase, runMetricCase } from "./metrics.ts";
import { coversOptimizerCase, type OptimizerCase, runOptimizerCase } from "./optimizers.ts";
import { coversSchedulerCase, runSchedulerCase, type SchedulerCase } from "./schedulers.ts";
import { readTolerances } from "./tolerances.ts";

/** The result of one golden case. */
export interface CaseResult {
  file: string;
  name: string;
  status: "pass" | "fail" | "not covered";
  maxAbs: number;
  maxRel: number;
  failures: Comparison[];
}

interface CaseRunner<Case> {
  covers(c: Case): boolean;
  run(c: Case, tolerance: Tolerance): Comparison[];
  tolerance: Tolerance;
}

function summarize(file: string, name: string, comparisons: Comparison[]): CaseResult {
  const failures = comparisons.filter((c) => !c.pass);
  return {
    file,
    name,
    status: failures.length === 0 ? "pass" : "fail",
    maxAbs: Math.max(0, ...comparisons.map((c) => c.maxAbs)),
    maxRel: Math.max(0, ...comparisons.map((c) => c.maxRel)),
    failures,
  };
}

function runFile<Case extends { name: string }>(directory: string, file: string, runner: CaseRunner<Case>): CaseResult[] {
  const golden = readGolden<Case>(join(directory, file));
  return golden.cases.map((c) => {
    if (!runner.covers(c)) return { file, name: c.name, status: "not covered", maxAbs: 0, maxRel: 0, failures: [] };
    try {
      return summarize(file, c.name, runner.run(c, runner.tolerance));
    } catch (error) {
      return {
        file,
        name: c.name,
        status: "fail",
        maxAbs: Number.NaN,
        maxRel: Number.NaN,
        failures: [{ what: "exception", maxAbs: Number.NaN, maxRel: Number.NaN, pass: false, detail: (error as Error).message }],
      };
    }
  });
}

/** The golden files this build evaluates; files the engine does not cover yet are reported. */
export const coveredFiles = ["layers.json", "losses.json", "optimizers.json", "schedulers.json", "metrics.json"];
const knownFiles = ["layers.json", "losses.json", "optimizers.json", "schedulers.json", "metrics.json", "quantities.json"];

/** Evaluates every covered case of every golden file in `directory`. */
export function runConformance(directory: string): { results: CaseResult[]; uncoveredFiles: string[] } {
  const tolerances = readTolerances(directory);
  const results: CaseResult[] = [];
  if (existsSync(join(directory, "layers.json"))) {
    results.push(...runFile<LayerCase>(directory, "layers.json", { covers: (c) => supportedLayerOps.has(c.op), run: runLayerCase, tolerance: tolerances.layers }));
  }
  if (existsSync(join(directory, "losses.json"))) {
    results.push(...runFile<LossCase>(directory, "losses.json", { covers: (c) => supportedLosses.has(c.loss), run: runLossCase, tolerance: tolerances.losses }));
  }
  if (existsSync(join(directory, "optimizers.json"))) {
    results.push(
      ...runFile<OptimizerCase>(directory, "optimizers.json", { covers: coversOptimizerCase, run: (c) => runOptimizerCase(c, tolerances), tolerance: tolerances.optimizers }),
    );
  }
  if (existsSync(join(directory, "schedulers.json"))) {
    results.push(...runFile<SchedulerCase>(directory, "schedulers.json", { covers: coversSchedulerCase, run: runSchedulerCase, tolerance: tolerances.schedulers }));
  }
  if (existsSync(join(directory, "metrics.json"))) {
    results.push(...runFile<MetricCase>(directory, "metrics.json", { covers: () => true, run: runMetricCase, tolerance: tolerances.metrics }));
  }
  const uncoveredFiles = knownFiles.filter((file) => !coveredFiles.includes(file) && existsSync(join(directory, file)));
  return { results, uncoveredFiles };
}

import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Comparison, Tolerance } from "./compare.ts";
import { readGolden } from "./golden.ts";
import { type LayerCase, runLayerCase, supportedLayerOps } from "./layers.ts";
import { type LossCase, runLossCase, supportedLosses } from "./losses.ts";
import { type MetricCase, runMetricCase } from "./metrics.ts";
import { type ModelCase, runModelCase } from "./models.ts";
import { coversOptimizerCase, type OptimizerCase, runOptimizerCase } from "./optimizers.ts";
import { type QuantityCase, runQuantityCase, uncoveredQuantities } from "./quantities.ts";
import { coversSchedulerCase, runSchedulerCase, type SchedulerCase } from "./schedulers.ts";
import { readModelTolerances, readQuantityTolerances, readTolerances } from "./tolerances.ts";

/** The result of one golden case. */
export interface CaseResult {
  file: string;
  name: string;
  status: "pass" | "fail" | "not covered";
  /** What a passing case does not check yet (e.g. quantities not implemented). */
  note?: string;
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
export const coveredFiles = ["layers.json", "losses.json", "optimizers.json", "schedulers.json", "metrics.json", "quantities.json", "models.json"];
const knownFiles = ["layers.json", "losses.json", "optimizers.json", "schedulers.json", "metrics.json", "quantities.json", "models.json"];

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
  if (existsSync(join(directory, "quantities.json"))) {
    const quantityTolerances = readQuantityTolerances(directory);
    const cases = runFile<QuantityCase>(directory, "quantities.json", { covers: () => true, run: (c) => runQuantityCase(c, quantityTolerances), tolerance: tolerances.layers });
    const golden = readGolden<QuantityCase>(join(directory, "quantities.json")).cases;
    for (const [i, result] of cases.entries()) {
      const missing = uncoveredQuantities(golden[i]);
      if (missing.length > 0) result.note = `not covered yet: ${missing.join(", ")}`;
    }
    results.push(...cases);
  }
  if (existsSync(join(directory, "models.json"))) {
    const modelTolerances = readModelTolerances(directory);
    results.push(
      ...runFile<ModelCase>(directory, "models.json", {
        covers: () => true,
        run: (c) => runModelCase(c, modelTolerances),
        tolerance: modelTolerances.blocks,
      }),
    );
  }
  const uncoveredFiles = knownFiles.filter((file) => !coveredFiles.includes(file) && existsSync(join(directory, file)));
  return { results, uncoveredFiles };
}

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Tolerance } from "./compare.ts";

/** The data kinds whose tolerances the golden README's §7 table lists. */
export type ToleranceKind = "layers" | "losses" | "optimizers" | "clipping" | "schedulers" | "metrics";

// The defaults are the README's values; a directory's own README overrides them.
const defaults: Record<ToleranceKind, Tolerance> = {
  layers: { rtol: 1e-4, atol: 1e-5 },
  losses: { rtol: 1e-5, atol: 1e-6 },
  optimizers: { rtol: 1e-5, atol: 1e-6 },
  clipping: { rtol: 1e-6, atol: 1e-7 },
  schedulers: { rtol: 1e-9, atol: 1e-12 },
  metrics: { rtol: 0, atol: 1e-12 },
};

const rowLabels: Record<ToleranceKind, RegExp> = {
  layers: /^\|\s*layers:/,
  losses: /^\|\s*losses:/,
  optimizers: /^\|\s*optimizers:/,
  clipping: /^\|\s*clipping:/,
  schedulers: /^\|\s*schedulers:/,
  metrics: /^\|\s*metrics\s*\|/,
};

/**
 * Reads the tolerance table ("| data | rtol | atol | notes |") of a golden directory's
 * README.md, so a held-out set with its own README is judged by its own numbers.
 */
export function readTolerances(directory: string): Record<ToleranceKind, Tolerance> {
  const result = { ...defaults };
  const readme = join(directory, "README.md");
  if (!existsSync(readme)) return result;
  for (const line of readFileSync(readme, "utf8").split("\n")) {
    for (const kind of Object.keys(rowLabels) as ToleranceKind[]) {
      if (!rowLabels[kind].test(line)) continue;
      const cells = line.split("|").map((cell) => cell.trim());
      const rtol = Number(cells[2]);
      const atol = Number(cells[3]);
      if (Number.isFinite(rtol) && Number.isFinite(atol)) result[kind] = { rtol, atol };
    }
  }
  return result;
}

const quantityDefaults: Record<string, Tolerance> = {
  Loss: { rtol: 1e-5, atol: 1e-7 },
  GradNorm: { rtol: 1e-5, atol: 1e-7 },
  Distance: { rtol: 1e-5, atol: 1e-7 },
  UpdateSize: { rtol: 1e-5, atol: 1e-7 },
  NormTest: { rtol: 1e-4, atol: 1e-7 },
  InnerTest: { rtol: 1e-4, atol: 1e-7 },
  OrthoTest: { rtol: 1e-4, atol: 1e-7 },
  CABS: { rtol: 1e-4, atol: 1e-7 },
  EarlyStopping: { rtol: 1e-3, atol: 1e-5 },
  MeanGSNR: { rtol: 1e-3, atol: 1e-5 },
  Alpha: { rtol: 1e-3, atol: 1e-4 },
  TICTrace: { rtol: 1e-4, atol: 1e-7 },
  HessTrace: { rtol: 1e-4, atol: 1e-7 },
  TICDiag: { rtol: 1e-2, atol: 1e-4 },
  HessMaxEV: { rtol: 3e-2, atol: 1e-4 },
};

/**
 * Per-quantity tolerances from the README's table rows whose first cell lists quantity names
 * ("| NormTest, InnerTest, ... | 1e-4 | 1e-7 |"); histogram edges under the key "edges".
 */
export function readQuantityTolerances(directory: string): Map<string, Tolerance> {
  const result = new Map(Object.entries(quantityDefaults));
  result.set("edges", { rtol: 0, atol: 1e-7 });
  const readme = join(directory, "README.md");
  if (!existsSync(readme)) return result;
  for (const line of readFileSync(readme, "utf8").split("\n")) {
    const cells = line.split("|").map((cell) => cell.trim());
    if (cells.length < 4) continue;
    const [rtol, atol] = [Number(cells[2]), Number(cells[3])];
    if (!Number.isFinite(rtol) || !Number.isFinite(atol) || cells[2] === "" || cells[3] === "") continue;
    if (cells[1] === "histogram edges") result.set("edges", { rtol, atol });
    for (const name of cells[1].split(",").map((n) => n.trim())) if (/^[A-Z][A-Za-z]+$/.test(name)) result.set(name, { rtol, atol });
  }
  return result;
}

/** models.json's tolerance rows (README §8) and the scale of its sharper per-tensor check. */
export interface ModelTolerances {
  blocks: Tolerance;
  wholeModels: Tolerance;
  /** The cases the whole-models row names; every other model case is a block. */
  wholeModelNames: string[];
  ops: Tolerance;
  /** c of the per-tensor check |actual − expected| ≤ rtol·|expected| + c·max|expected|. */
  perTensorScale: number;
}

/** Reads the models rows of a golden directory's README, falling back to the main set's values. */
export function readModelTolerances(directory: string): ModelTolerances {
  const result: ModelTolerances = {
    blocks: { rtol: 1e-4, atol: 1e-5 },
    wholeModels: { rtol: 3e-3, atol: 1e-5 },
    wholeModelNames: ["tiny_resnet", "tiny_vgg_bn"],
    ops: { rtol: 1e-4, atol: 1e-5 },
    perTensorScale: 2e-5,
  };
  const readme = join(directory, "README.md");
  if (!existsSync(readme)) return result;
  const text = readFileSync(readme, "utf8");
  for (const line of text.split("\n")) {
    if (!/^\|\s*models:/.test(line)) continue;
    const cells = line.split("|").map((cell) => cell.trim());
    const tolerance = { rtol: Number(cells[2]), atol: Number(cells[3]) };
    if (!Number.isFinite(tolerance.rtol) || !Number.isFinite(tolerance.atol)) continue;
    if (cells[1].includes("single blocks")) result.blocks = tolerance;
    else if (cells[1].includes("op cases")) result.ops = tolerance;
    else if (cells[1].includes("whole models")) {
      result.wholeModels = tolerance;
      const names = [...cells[1].matchAll(/`([a-z0-9_]+)`/g)]
        .map((m) => m[1])
        .filter((name) => !["output", "loss_value", "grad_input", "grad_params", "buffers_after", "eval_output"].includes(name));
      if (names.length > 0) result.wholeModelNames = names;
    }
  }
  const scale = /rtol·\|expected\| \+ ([0-9.]+e-?[0-9]+)·max\|expected\|/.exec(text);
  if (scale) result.perTensorScale = Number(scale[1]);
  return result;
}

import { tensor } from "../engine/creation.ts";
import { crossEntropy, mseLoss } from "../engine/ops/losses.ts";
import { mean } from "../engine/ops/reduce.ts";
import { scope } from "../engine/scope.ts";
import { buildModel, type LayerSpec } from "../nn/spec.ts";
import type { HistogramValue, QuantityValue } from "../quantities/quantity.ts";
import { createCockpitQuantity } from "../quantities/registry.ts";
import { collectQuantityValues, QuantityTracker } from "../quantities/tracker.ts";
import { type Comparison, compareValues, type Tolerance } from "./compare.ts";
import { type GoldenTensor, goldenValues, toTensor } from "./golden.ts";

/** One case of quantities.json (see shared/reference/README.md §6). */
export interface QuantityCase {
  name: string;
  model: LayerSpec[];
  input_shape: number[];
  initial_params: Array<{ name: string; value: GoldenTensor }>;
  loss: { type: "cross_entropy" | "mse" };
  optimizer: { type: string; hyper: Record<string, unknown> };
  batches: Array<{ inputs: GoldenTensor; targets: GoldenTensor }>;
  quantities: Array<{ name: string; kwargs: Record<string, unknown> }>;
  steps: Array<{ params_after: Array<{ name: string; value: GoldenTensor }> | GoldenTensor[] }>;
  cockpit_output: Record<string, Record<string, unknown>>;
  self_check: Record<string, { max_nonzero_values_within_1e_6_of_interior_edge?: number } & Record<string, unknown>>;
}

/** The case's quantities gradscope does not compute yet. */
export function uncoveredQuantities(c: QuantityCase): string[] {
  return c.quantities.filter((q) => !createCockpitQuantity(q.name, q.kwargs)).map((q) => q.name);
}

const paramValues = (entry: { name: string; value: GoldenTensor } | GoldenTensor): GoldenTensor => ("value" in entry ? entry.value : entry);

function compareHistogram(what: string, actual: HistogramValue, expected: HistogramValue, allowance: number, edges: Tolerance): Comparison[] {
  const flat = (h: number[] | number[][]) => (h as Array<number | number[]>).flat() as number[];
  const [a, e] = [flat(actual.hist), flat(expected.hist)];
  const difference = a.reduce((s, v, i) => s + Math.abs(v - e[i]), 0);
  const total = (xs: number[]) => xs.reduce((s, v) => s + v, 0);
  const counts: Comparison = {
    what: `${what} counts`,
    maxAbs: difference,
    maxRel: 0,
    pass: a.length === e.length && difference <= allowance && total(a) === total(e),
    detail: `total |count difference| ${difference} (allowed ${allowance}), sums ${total(a)} vs ${total(e)}`,
  };
  return [counts, compareValues(`${what} edges`, flat(actual.edges), flat(expected.edges), edges)];
}

/**
 * Teacher-forced replay of a Cockpit run: at each step t the model holds the recorded θ_t
 * (initial_params, then steps[t−1].params_after) and sees batch t; every quantity gradscope
 * implements is compared with Cockpit's output for that step.
 */
export function runQuantityCase(c: QuantityCase, tolerances: Map<string, Tolerance>): Comparison[] {
  const { model } = buildModel({ layers: c.model }, c.input_shape.slice(1), 0);
  const named = new Map(model.namedParameters());
  const setParams = (entries: Array<{ name: string; value: GoldenTensor } | GoldenTensor>) =>
    entries.forEach((entry, k) => {
      const name = "name" in entry ? entry.name : c.initial_params[k].name;
      named.get(name)?.data.set(goldenValues(paramValues(entry)));
    });
  setParams(c.initial_params);
  const quantities = c.quantities.flatMap((q) => createCockpitQuantity(q.name, q.kwargs) ?? []);
  const covered = new Set(quantities.map((q) => q.name));
  // No optimizer runs: the parameters follow the recording; quantities read its name and lr.
  const tracker = new QuantityTracker(quantities, model, { name: c.optimizer.type, paramGroups: [{ hyper: c.optimizer.hyper }] });
  const outputs = collectQuantityValues(tracker);
  try {
    c.batches.forEach((batch, t) => {
      if (t > 0) setParams(c.steps[t - 1].params_after);
      scope(() => {
        model.zeroGrad();
        const output = model.forward(toTensor(batch.inputs));
        const target = toTensor(batch.targets);
        const perSample = c.loss.type === "mse" ? mseLoss(output, target) : crossEntropy(output, tensor(target.ints, target.shape, "int32"));
        tracker.backward(mean(perSample), t);
      });
    });
    const comparisons: Comparison[] = [];
    for (const [stepKey, expectedStep] of Object.entries(c.cockpit_output)) {
      const actualStep = outputs.get(Number(stepKey)) ?? {};
      for (const [name, expected] of Object.entries(expectedStep)) {
        if (!covered.has(name)) continue;
        const actual = actualStep[name] as QuantityValue | undefined;
        const what = `step ${stepKey} ${name}`;
        if (actual === undefined) {
          comparisons.push({ what, maxAbs: Number.NaN, maxRel: Number.NaN, pass: false, detail: "not computed" });
          continue;
        }
        if (typeof expected === "object" && expected !== null && "hist" in expected) {
          const allowance = 2 * Number(c.self_check[name]?.max_nonzero_values_within_1e_6_of_interior_edge ?? 0);
          comparisons.push(...compareHistogram(what, actual as HistogramValue, expected as HistogramValue, allowance, tolerances.get("edges") as Tolerance));
        } else {
          const tolerance = tolerances.get(name) ?? { rtol: 1e-4, atol: 1e-7 };
          comparisons.push(
            compareValues(what, typeof actual === "number" ? [actual] : (actual as number[]), typeof expected === "number" ? [expected] : (expected as number[]), tolerance),
          );
        }
      }
    }
    return comparisons;
  } finally {
    tracker.dispose();
    model.dispose();
  }
}

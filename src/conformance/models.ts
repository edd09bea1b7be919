import { backward, noGrad } from "../engine/autograd.ts";
import { parameter } from "../engine/creation.ts";
import { mul } from "../engine/ops/binary.ts";
import { crossEntropy } from "../engine/ops/losses.ts";
import { mean } from "../engine/ops/reduce.ts";
import { scope } from "../engine/scope.ts";
import type { Tensor } from "../engine/tensor.ts";
import type { StateDict } from "../nn/module.ts";
import { buildNetwork, type LayerSpec } from "../nn/spec.ts";
import { type Comparison, compareValues, type Tolerance } from "./compare.ts";
import { type GoldenTensor, goldenValues, toTensor } from "./golden.ts";
import type { ModelTolerances } from "./tolerances.ts";

/** One case of models.json (shared/reference/README.md §7): a model run or a single op. */
export interface ModelCase {
  name: string;
  kind: "model" | "op";
  /** The model tree (§7.1); gradscope's layer-list spec reads it as is. */
  model: LayerSpec;
  input: GoldenTensor;
  output: GoldenTensor;
  grad_input: GoldenTensor;
  loss?: "cross_entropy" | "half_mean_square";
  loss_value?: number;
  targets?: GoldenTensor | null;
  param_names?: string[];
  buffer_names?: string[];
  params?: Record<string, GoldenTensor>;
  buffers_before?: Record<string, GoldenTensor>;
  buffers_after?: Record<string, GoldenTensor>;
  grad_params?: Record<string, GoldenTensor>;
  eval_output?: GoldenTensor;
  grad_output?: GoldenTensor;
  aux?: { zero_gradient_params?: string[] };
}

/** The case's tolerance: op cases, the whole models the README names, or the blocks. */
export function modelCaseTolerance(c: ModelCase, tolerances: ModelTolerances): Tolerance {
  if (c.kind === "op") return tolerances.ops;
  return tolerances.wholeModelNames.includes(c.name) ? tolerances.wholeModels : tolerances.blocks;
}

function compareNames(what: string, actual: string[], expected: string[]): Comparison {
  const pass = actual.join() === expected.join();
  return { what, maxAbs: 0, maxRel: 0, pass, detail: pass ? undefined : `got [${actual.join(", ")}], expected [${expected.join(", ")}]` };
}

function stateOf(tensors: Record<string, GoldenTensor>): StateDict {
  const state: StateDict = {};
  for (const [name, t] of Object.entries(tensors)) state[name] = { shape: t.shape, data: goldenValues(t) };
  return state;
}

// The README's tolerance, and its sharper check for the small gradients of models.json:
// |actual − expected| ≤ rtol·|expected| + c·max|expected| per tensor.
function compareTensor(what: string, actual: ArrayLike<number>, expected: number[], tolerance: Tolerance, perTensorScale: number): Comparison[] {
  const largest = expected.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  return [compareValues(what, actual, expected, tolerance), compareValues(`${what} (per-tensor atol)`, actual, expected, { rtol: tolerance.rtol, atol: perTensorScale * largest })];
}

function valuesOf(t: Tensor): ArrayLike<number> {
  return t.dtype === "int32" ? t.ints : t.data;
}

function runModel(c: ModelCase, tolerances: ModelTolerances): Comparison[] {
  const tolerance = modelCaseTolerance(c, tolerances);
  const { model } = buildNetwork(c.model, c.input.shape.slice(1));
  try {
    const comparisons = [
      compareNames(
        "parameter names",
        model.namedParameters().map(([name]) => name),
        c.param_names ?? [],
      ),
      compareNames(
        "buffer names",
        model.namedBuffers().map(([name]) => name),
        c.buffer_names ?? [],
      ),
    ];
    model.loadStateDict({ ...stateOf(c.params ?? {}), ...stateOf(c.buffers_before ?? {}) });
    const check = (what: string, actual: ArrayLike<number>, expected: GoldenTensor | number) => {
      const values = typeof expected === "number" ? [expected] : goldenValues(expected);
      comparisons.push(...compareTensor(what, actual, values, tolerance, tolerances.perTensorScale));
    };
    const zeroGradients = new Set(c.aux?.zero_gradient_params ?? []);
    scope(() => {
      const input = parameter(goldenValues(c.input), c.input.shape, "input");
      model.train();
      const output = model.forward(input);
      const loss = c.loss === "cross_entropy" ? mean(crossEntropy(output, toTensor(c.targets as GoldenTensor))) : mul(mean(mul(output, output)), 0.5);
      backward(loss);
      check("output", output.data, c.output);
      check("loss_value", loss.data, c.loss_value as number);
      check("grad_input", input.grad?.data ?? [], c.grad_input);
      const parameters = new Map(model.namedParameters());
      for (const [name, expected] of Object.entries(c.grad_params ?? {})) {
        const actual = parameters.get(name)?.grad?.data ?? [];
        // Analytically zero gradients (a conv bias before a train-mode batch norm) are round-off: atol only.
        if (zeroGradients.has(name)) comparisons.push(compareValues(`grad ${name}`, actual, goldenValues(expected), { rtol: 0, atol: tolerance.atol }));
        else check(`grad ${name}`, actual, expected);
      }
      const buffers = new Map(model.namedBuffers());
      for (const [name, expected] of Object.entries(c.buffers_after ?? {})) {
        const buffer = buffers.get(name);
        if (buffer?.dtype === "int32") comparisons.push(compareValues(`buffer ${name}`, buffer.ints, goldenValues(expected), { rtol: 0, atol: 0 }));
        else check(`buffer ${name}`, buffer ? valuesOf(buffer) : [], expected);
      }
      model.eval();
      const evalOutput = noGrad(() => model.forward(input));
      if (c.eval_output) check("eval_output", evalOutput.data, c.eval_output);
    });
    return comparisons;
  } finally {
    model.zeroGrad();
    model.dispose();
  }
}

function runOp(c: ModelCase, tolerances: ModelTolerances): Comparison[] {
  const tolerance = modelCaseTolerance(c, tolerances);
  const { model } = buildNetwork(c.model, c.input.shape.slice(1));
  return scope(() => {
    const input = parameter(goldenValues(c.input), c.input.shape, "input");
    const output = model.forward(input);
    backward(output, { gradient: toTensor(c.grad_output as GoldenTensor) });
    return [compareValues("output", output.data, goldenValues(c.output), tolerance), compareValues("grad_input", input.grad?.data ?? [], goldenValues(c.grad_input), tolerance)];
  });
}

/**
 * Runs one models.json case: builds the network from its tree, loads the golden parameters and
 * buffers by their PyTorch names, and compares the train-mode forward, loss, every gradient, the
 * updated running statistics and the eval-mode forward (or, for an op, its output and input
 * gradient).
 */
export function runModelCase(c: ModelCase, tolerances: ModelTolerances): Comparison[] {
  return c.kind === "op" ? runOp(c, tolerances) : runModel(c, tolerances);
}

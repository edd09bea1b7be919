import { parameter, tensor } from "../engine/creation.ts";
import type { Tensor } from "../engine/tensor.ts";
import { clipGradNorm, clipGradValue } from "../optim/clip.ts";
import { createOptimizer } from "../optim/registry.ts";
import { type Comparison, compareValues, type Tolerance } from "./compare.ts";
import { type GoldenTensor, goldenNumber, goldenValues } from "./golden.ts";

/** One case of optimizers.json (see shared/reference/README.md §4). */
export interface OptimizerCase {
  name: string;
  kind: "optimizer" | "clip";
  optimizer?: string;
  hyper: Record<string, unknown>;
  initial_params?: GoldenTensor[];
  grads?: GoldenTensor[][];
  params_after?: GoldenTensor[][];
  function?: string;
  grads_in?: GoldenTensor[];
  grads_out?: GoldenTensor[];
  total_norm?: number | string;
}

// torch.optim implementation switches with no numerical meaning.
const implementationFlags = new Set(["foreach", "differentiable", "fused", "capturable"]);
// The displacement check of README §7: params_after − params_before, rtol 1e-3, atol 1e-7.
const displacementTolerance: Tolerance = { rtol: 1e-3, atol: 1e-7 };

/** Whether gradscope implements this case's optimizer or clipping function. */
export function coversOptimizerCase(c: OptimizerCase): boolean {
  if (c.kind === "clip") return c.function === "torch.nn.utils.clip_grad_norm_" || c.function === "torch.nn.utils.clip_grad_value_";
  return ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "NAdam", "RAdam"].includes(c.optimizer ?? "");
}

function withGrad(param: Tensor, grad: GoldenTensor): void {
  param.grad?.dispose();
  param.grad = tensor(goldenValues(grad), grad.shape).keep();
}

/** Replays an optimizer trajectory (or a clipping call) and compares every step. */
export function runOptimizerCase(c: OptimizerCase, tolerances: { optimizers: Tolerance; clipping: Tolerance }): Comparison[] {
  return c.kind === "clip" ? runClip(c, tolerances.clipping) : runTrajectory(c, tolerances.optimizers);
}

function runTrajectory(c: OptimizerCase, tolerance: Tolerance): Comparison[] {
  const params = (c.initial_params ?? []).map((t, i) => parameter(goldenValues(t), t.shape, `p${i}`).keep());
  const options = Object.fromEntries(Object.entries(c.hyper).filter(([key]) => !implementationFlags.has(key)));
  const optimizer = createOptimizer((c.optimizer ?? "").toLowerCase(), params, options);
  const comparisons: Comparison[] = [];
  try {
    (c.grads ?? []).forEach((grads, step) => {
      const before = params.map((p) => Float64Array.from(p.data));
      for (const [i, p] of params.entries()) withGrad(p, grads[i]);
      optimizer.step();
      params.forEach((p, i) => {
        const expected = goldenValues((c.params_after ?? [])[step][i]);
        comparisons.push(compareValues(`step ${step + 1} p${i}`, p.data, expected, tolerance));
        const moved = Array.from(p.data, (v, j) => v - before[i][j]);
        comparisons.push(
          compareValues(
            `step ${step + 1} p${i} displacement`,
            moved,
            expected.map((v, j) => v - before[i][j]),
            displacementTolerance,
          ),
        );
      });
    });
  } finally {
    optimizer.dispose();
    for (const p of params) p.dispose();
  }
  return comparisons;
}

function runClip(c: OptimizerCase, tolerance: Tolerance): Comparison[] {
  const grads = c.grads_in ?? [];
  const params = grads.map((t, i) => parameter(new Float32Array(t.shape.reduce((a, b) => a * b, 1)), t.shape, `p${i}`).keep());
  try {
    for (const [i, p] of params.entries()) withGrad(p, grads[i]);
    const comparisons: Comparison[] = [];
    if (c.function === "torch.nn.utils.clip_grad_norm_") {
      const normType = c.hyper.norm_type === "inf" ? "inf" : 2;
      const { totalNorm } = clipGradNorm(params, Number(c.hyper.max_norm), normType);
      comparisons.push(compareValues("total_norm", [totalNorm], [goldenNumber(c.total_norm ?? Number.NaN)], tolerance));
    } else clipGradValue(params, Number(c.hyper.clip_value));
    for (const [i, p] of params.entries()) comparisons.push(compareValues(`grads_out p${i}`, p.grad?.data ?? [], goldenValues((c.grads_out ?? [])[i]), tolerance));
    return comparisons;
  } finally {
    for (const p of params) p.dispose();
  }
}

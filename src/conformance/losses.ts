import { backward } from "../engine/autograd.ts";
import { bceWithLogitsLoss, crossEntropy, mseLoss, nllLoss } from "../engine/ops/losses.ts";
import { mean } from "../engine/ops/reduce.ts";
import { scope } from "../engine/scope.ts";
import type { Tensor } from "../engine/tensor.ts";
import { type Comparison, compareValues, type Tolerance } from "./compare.ts";
import { type GoldenTensor, goldenNumber, goldenValues, toTensor } from "./golden.ts";

/** One case of losses.json (see shared/reference/README.md §3). */
export interface LossCase {
  name: string;
  loss: string;
  hyper: Record<string, unknown>;
  input: GoldenTensor;
  target: GoldenTensor;
  per_sample_loss: GoldenTensor;
  loss_value: number | string;
  grad_input: GoldenTensor;
}

/** The losses losses.json exercises that the engine implements. */
export const supportedLosses = new Set(["cross_entropy", "mse", "bce_with_logits", "nll"]);

function perSampleLoss(c: LossCase, input: Tensor, target: Tensor): Tensor {
  switch (c.loss) {
    case "cross_entropy":
      return crossEntropy(input, target, { labelSmoothing: Number(c.hyper.label_smoothing ?? 0) });
    case "nll":
      return nllLoss(input, target);
    case "mse":
      return mseLoss(input, target);
    case "bce_with_logits":
      return bceWithLogitsLoss(input, target);
    default:
      throw new Error(`gradscope: losses.json loss ${c.loss} is not covered`);
  }
}

/** Runs one losses.json case: per-sample losses, the mean, and the gradient of the mean. */
export function runLossCase(c: LossCase, tolerance: Tolerance): Comparison[] {
  return scope(() => {
    const input = toTensor(c.input);
    input.requiresGrad = true;
    const target = toTensor(c.target);
    const losses = perSampleLoss(c, input, target);
    const loss = mean(losses);
    const comparisons = [
      compareValues("per_sample_loss", losses.data, goldenValues(c.per_sample_loss), tolerance),
      compareValues("loss_value", [loss.item()], [goldenNumber(c.loss_value)], tolerance),
    ];
    backward(loss);
    comparisons.push(compareValues("grad_input", input.grad?.data ?? [], goldenValues(c.grad_input), tolerance));
    return comparisons;
  });
}

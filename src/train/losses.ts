import { checkName } from "../data/dataset.ts";
import { tensor } from "../engine/creation.ts";
import { bceWithLogitsLoss, crossEntropy, mseLoss } from "../engine/ops/losses.ts";
import type { Tensor } from "../engine/tensor.ts";

/** A training loss by config name, returning per-sample losses for a batch. */
export interface LossSpec {
  name: "cross_entropy" | "mse" | "bce_with_logits";
  labelSmoothing?: number;
}

/** The losses the Trainer and the config's `training.loss` accept. */
export const lossNames = ["cross_entropy", "mse", "bce_with_logits"] as const;

/** The targets of a batch as a tensor: int32 labels for cross-entropy, float32 otherwise. */
export function targetTensor(spec: LossSpec, targets: Int32Array | Float32Array, outputShape: readonly number[]): Tensor {
  if (spec.name === "cross_entropy") return tensor(targets, [outputShape[0]], "int32");
  return tensor(Float32Array.from(targets), outputShape);
}

/** Per-sample losses of `output` against `target`. */
export function perSampleLoss(spec: LossSpec, output: Tensor, target: Tensor): Tensor {
  checkName("loss", spec.name, lossNames);
  if (spec.name === "cross_entropy") return crossEntropy(output, target, { labelSmoothing: spec.labelSmoothing ?? 0 });
  if (spec.name === "mse") return mseLoss(output, target);
  return bceWithLogitsLoss(output, target);
}

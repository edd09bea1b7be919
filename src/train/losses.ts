import { checkName } from "../data/names.ts";
import { tensor } from "../engine/creation.ts";
import { bceWithLogitsLoss, crossEntropy, mseLoss } from "../engine/ops/losses.ts";
import type { Tensor } from "../engine/tensor.ts";
import { argmaxRow } from "../metrics/metric.ts";
import { type MetricTask, metricNamesOf, metricTask } from "../metrics/registry.ts";
import { customLoss, type LossCurvature, type PerSampleLoss } from "./customLoss.ts";

/** The losses the Trainer and the config's `training.loss` accept by name. */
export const lossNames = ["cross_entropy", "mse", "bce_with_logits"] as const;

/** A built-in training loss by config name, returning per-sample losses for a batch. */
export interface LossSpec {
  /** The loss: "cross_entropy", "mse" or "bce_with_logits". */
  name: (typeof lossNames)[number];
  /** Cross-entropy's label smoothing ε in [0, 1] (default 0; other losses ignore it). */
  labelSmoothing?: number;
}

/** A loss of the user's own, with the factor of its Hessian when curvature quantities need it. */
export interface CustomLossSpec {
  /** Marks the loss as the user's own. */
  name: "custom";
  /** The per-sample loss ℓ(output, target), length N; the trained objective is its mean. */
  perSample: PerSampleLoss;
  /** The factor of ℓ's Hessian in the output; required by curvature quantities, absent otherwise. */
  curvature?: LossCurvature;
}

/** What the Trainer trains: a built-in loss, a custom one, or a custom per-sample loss function. */
export type TrainingLoss = LossSpec | CustomLossSpec | PerSampleLoss;

/** The loss as a spec (a bare function becomes a custom loss without curvature). */
export function lossSpecOf(loss: TrainingLoss): LossSpec | CustomLossSpec {
  if (typeof loss === "function") return { name: "custom", perSample: loss };
  if (loss.name !== "custom") checkName("loss", loss.name, lossNames);
  return loss;
}

/**
 * The targets of a batch as a tensor: int32 labels or float32 class probabilities [N, C] (the soft targets of MixUp and CutMix) for
 * cross-entropy; float32 shaped like the
 * output for the other built-in losses; for a custom loss, labels as int32 [N] and float
 * targets as [N, ...] (the output's shape when they have as many values).
 */
export function targetTensor(spec: LossSpec | CustomLossSpec, targets: Int32Array | Float32Array, outputShape: readonly number[]): Tensor {
  const batch = outputShape[0];
  if (spec.name === "cross_entropy") return targets instanceof Float32Array ? tensor(targets, outputShape) : tensor(targets, [batch], "int32");
  if (spec.name === "custom" && targets instanceof Int32Array && targets.length === batch) return tensor(targets, [batch], "int32");
  if (spec.name !== "custom" || targets.length === outputShape.reduce((a, b) => a * b, 1)) return tensor(Float32Array.from(targets), outputShape);
  return tensor(Float32Array.from(targets), targets.length === batch ? [batch] : [batch, targets.length / batch]);
}

/** Per-sample losses of `output` against `target`. */
export function perSampleLoss(spec: LossSpec | CustomLossSpec, output: Tensor, target: Tensor): Tensor {
  if (spec.name === "custom") return customLoss(spec.perSample, output, target, spec.curvature);
  checkName("loss", spec.name, lossNames);
  if (spec.name === "cross_entropy") return crossEntropy(output, target, { labelSmoothing: spec.labelSmoothing ?? 0 });
  if (spec.name === "mse") return mseLoss(output, target);
  return bceWithLogitsLoss(output, target);
}

/**
 * What the metrics of a loss score: classes for cross_entropy and bce_with_logits (binary, one
 * logit per decision), regression outputs for mse; a custom loss does not say (null).
 */
export function lossTask(spec: LossSpec | CustomLossSpec): MetricTask | null {
  if (spec.name === "custom") return null;
  return spec.name === "mse" ? "regression" : "classification";
}

/** The metrics a config gets when it lists none: accuracy, or mae, mse, rmse and r2 for regression. */
export function defaultMetricNames(spec: LossSpec): string[] {
  return lossTask(spec) === "regression" ? metricNamesOf("regression") : ["accuracy"];
}

/** Throws, naming the metric, when a metric does not fit what the loss trains (accuracy of an mse model). */
export function checkMetricsFit(spec: LossSpec | CustomLossSpec, names: readonly string[]): void {
  const task = lossTask(spec);
  if (task === null) return;
  for (const name of names) {
    if (metricTask(name) !== task) {
      throw new Error(`gradscope: metric ${name} scores ${metricTask(name)}, but the ${spec.name} loss trains ${task}; its metrics: ${metricNamesOf(task).join(", ")}`);
    }
  }
}

/** The classes the metrics count: the data's for cross_entropy and custom losses, 2 for bce_with_logits, none for mse. */
export function metricClasses(spec: LossSpec | CustomLossSpec, dataClasses: number): number {
  if (spec.name === "bce_with_logits") return 2;
  return spec.name === "mse" ? 0 : dataClasses;
}

/**
 * The class of each target row: the label itself, or the most probable class of a soft target
 * [N, C] (its argmax; the first on ties), which is what accuracy and the other metrics count.
 */
export function targetClasses(targets: Int32Array | Float32Array, classes: number): Int32Array {
  if (targets instanceof Int32Array) return targets;
  const rows = targets.length / classes;
  return Int32Array.from({ length: rows }, (_, row) => argmaxRow(targets, row, classes));
}

/**
 * A batch as the metrics take it. Soft cross-entropy targets count as their argmax class.
 * bce_with_logits turns every logit z into the two class scores
 * (−z, z), whose argmax is class 1 exactly when z > 0 (and which are NaN when z is), and every
 * 0/1 target into a label, so that all classification metrics score binary decisions.
 */
export function metricBatch(spec: LossSpec | CustomLossSpec, output: Tensor, target: Tensor): { scores: Tensor; targets: Tensor } {
  if (spec.name === "cross_entropy" && target.dtype === "float32") {
    return { scores: output, targets: tensor(targetClasses(target.data, output.shape[1]), [output.shape[0]], "int32") };
  }
  if (spec.name !== "bce_with_logits") return { scores: output, targets: target };
  const logits = output.data;
  const scores = new Float32Array(2 * logits.length);
  const labels = new Int32Array(logits.length);
  for (let i = 0; i < logits.length; i++) {
    const y = target.data[i];
    if (y !== 0 && y !== 1) throw new RangeError(`gradscope: bce_with_logits metrics score 0/1 targets, got ${y}`);
    scores[2 * i] = -logits[i];
    scores[2 * i + 1] = logits[i];
    labels[i] = y;
  }
  return { scores: tensor(scores, [logits.length, 2]), targets: tensor(labels, [logits.length], "int32") };
}

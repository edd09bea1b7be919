import type { Tensor } from "../engine/tensor.ts";

/**
 * An incremental metric: `update` once per batch, `compute` at the end, `reset` to start over.
 * Classification metrics take scores (logits or probabilities) [N, C] and int32 targets [N].
 */
export interface Metric<Result = number> {
  /** The metric's config name, e.g. `accuracy` or `top_3_accuracy`. */
  readonly name: string;
  /** Adds one batch: scores [N, C] and targets [N] (or what the metric documents). */
  update(scores: Tensor, targets: Tensor): void;
  /** The metric over every batch since the last reset. */
  compute(): Result;
  /** Forgets every batch, to start a new epoch or evaluation. */
  reset(): void;
}

/** Checks a batch's shapes and returns its scores and targets as arrays. */
export function batchArrays(owner: string, scores: Tensor, targets: Tensor, classes: number): { values: Float32Array; labels: Int32Array; rows: number } {
  if (scores.rank !== 2 || scores.shape[1] !== classes) {
    throw new RangeError(`gradscope: ${owner}: scores must be [N, ${classes}], got [${scores.shape.join(", ")}]`);
  }
  if (targets.dtype !== "int32" || targets.rank !== 1 || targets.shape[0] !== scores.shape[0]) {
    throw new RangeError(`gradscope: ${owner}: targets must be int32 [${scores.shape[0]}], got ${targets.dtype} [${targets.shape.join(", ")}]`);
  }
  const labels = targets.ints;
  for (const label of labels) {
    if (!Number.isInteger(label) || label < 0 || label >= classes) throw new RangeError(`gradscope: ${owner}: target ${label} is not a class in [0, ${classes})`);
  }
  return { values: scores.data, labels, rows: scores.shape[0] };
}

/** The index of the largest score in row `row` (the first one on ties, as numpy's argmax). */
export function argmaxRow(values: Float32Array, row: number, classes: number): number {
  let best = 0;
  const base = row * classes;
  for (let c = 1; c < classes; c++) if (values[base + c] > values[base + best]) best = c;
  return best;
}

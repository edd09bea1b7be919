import type { Random } from "../engine/random.ts";
import { buildTransform, transformTypes } from "./catalogue.ts";
import { checkName } from "./names.ts";

/** A per-batch transform of inputs [B, ...shape]; augmentations draw from the batch's generator. */
export interface Transform {
  /** The transform's config type, e.g. "normalize" (named in errors). */
  readonly name: string;
  /** True when the result depends only on the input (no randomness): it can be applied once, ahead of time. */
  readonly deterministic: boolean;
  /**
   * The config form that builds this transform again: the prefetch worker rebuilds the pipeline
   * from it. A transform without one runs only on the loader's own thread (prefetch 0).
   */
  readonly spec?: TransformSpec;
  /**
   * True for MixUp and CutMix: they blend examples, so the labels become class probabilities
   * [B, C], passed to `apply` as `targets` and blended in place.
   */
  readonly mixesTargets?: boolean;
  /** The shape of one transformed example, given one input example's shape. */
  outputShape(shape: readonly number[]): number[];
  /** Transforms `batch` examples of `shape`; returns the outputs (a new array, or `inputs` changed in place). */
  apply(inputs: Float32Array, batch: number, shape: readonly number[], random: Random, targets?: Float32Array): Float32Array;
}

/** A transform as a config writes it: `{ type: normalize, mean: 0.5, std: 0.25 }`. */
export type TransformSpec = {
  /** The transform's name, e.g. "normalize", "random_crop"; the other fields are its options. */
  type: string;
} & Record<string, unknown>;

export { transformTypes };

/** Builds a transform from its config spec; an unknown type or option is named in the error. */
export function createTransform(spec: TransformSpec): Transform {
  checkName("transform", spec.type, transformTypes);
  return buildTransform(spec);
}

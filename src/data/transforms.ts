import type { Random } from "../engine/random.ts";
import { buildTransform, transformTypes } from "./catalogue.ts";
import { checkName } from "./names.ts";

/** A per-batch transform of inputs [B, ...shape]; augmentations draw from the batch's generator. */
export interface Transform {
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
  outputShape(shape: readonly number[]): number[];
  apply(inputs: Float32Array, batch: number, shape: readonly number[], random: Random, targets?: Float32Array): Float32Array;
}

/** A transform as a config writes it: `{ type: normalize, mean: 0.5, std: 0.25 }`. */
export type TransformSpec = { type: string } & Record<string, unknown>;

export { transformTypes };

/** Builds a transform from its config spec; an unknown type or option is named in the error. */
export function createTransform(spec: TransformSpec): Transform {
  checkName("transform", spec.type, transformTypes);
  return buildTransform(spec);
}

import { type AffineOptions, randomAffine } from "./affine.ts";
import { type ColorJitterOptions, colorJitter } from "./colorJitter.ts";
import { type PaddingMode, randomCrop } from "./crop.ts";
import { type CutoutOptions, cutout, type RandomErasingOptions, randomErasing } from "./erasing.ts";
import { type FlipAxis, randomFlip } from "./flip.ts";
import { cutmix, type MixOptions, mixup } from "./mixing.ts";
import { flattenInputs, normalize } from "./normalize.ts";
import type { Transform, TransformSpec } from "./transforms.ts";

// The transforms by config type, each with its option names. This module imports no engine or
// model code, so that the prefetch worker can rebuild a pipeline without loading either.
const entries: Record<string, { options: readonly string[]; build: (spec: TransformSpec) => Transform }> = {
  normalize: { options: ["mean", "std"], build: (s) => normalize(s.mean as number | number[], s.std as number | number[]) },
  flatten: { options: [], build: () => flattenInputs() },
  random_crop: {
    options: ["padding", "padding_mode", "fill"],
    build: (s) => randomCrop(Number(s.padding ?? 4), (s.padding_mode ?? "constant") as PaddingMode, Number(s.fill ?? 0)),
  },
  random_flip: { options: ["p", "axis"], build: (s) => randomFlip(Number(s.p ?? 0.5), (s.axis ?? "horizontal") as FlipAxis) },
  random_affine: { options: ["degrees", "translate", "scale", "interpolation", "fill"], build: (s) => randomAffine(s as AffineOptions) },
  random_rotation: { options: ["degrees", "interpolation", "fill"], build: (s) => randomAffine(s as AffineOptions, "random_rotation") },
  color_jitter: { options: ["brightness", "contrast", "saturation"], build: (s) => colorJitter(s as ColorJitterOptions) },
  random_erasing: { options: ["p", "scale", "ratio", "value"], build: (s) => randomErasing(s as RandomErasingOptions) },
  cutout: { options: ["size", "p", "value"], build: (s) => cutout(s as CutoutOptions) },
  mixup: { options: ["alpha", "p"], build: (s) => mixup(s as MixOptions) },
  cutmix: { options: ["alpha", "p"], build: (s) => cutmix(s as MixOptions) },
};

/** The transform config types. */
export const transformTypes = Object.keys(entries);

/** Builds a transform of a known config type; an option it does not have is named in the error. */
export function buildTransform(spec: TransformSpec): Transform {
  const entry = entries[spec.type];
  if (!entry) throw new Error(`gradscope: unknown transform "${spec.type}"; known: ${transformTypes.join(", ")}`);
  for (const key of Object.keys(spec)) {
    if (key !== "type" && !entry.options.includes(key)) {
      throw new RangeError(`gradscope: transform ${spec.type} has no option "${key}"; its options: ${entry.options.join(", ") || "none"}`);
    }
  }
  return entry.build(spec);
}

import type { Random } from "../engine/random.ts";
import { checkName } from "./dataset.ts";

/** A per-batch transform of inputs [B, ...shape]; augmentations draw from the batch's generator. */
export interface Transform {
  readonly name: string;
  /** True when the result depends only on the input (no randomness): it can be applied once, ahead of time. */
  readonly deterministic: boolean;
  outputShape(shape: readonly number[]): number[];
  apply(inputs: Float32Array, batch: number, shape: readonly number[], random: Random): Float32Array;
}

// One value per channel of [C, H, W] inputs (or one value for any input), as a list.
function perChannel(name: string, values: number | number[], shape: readonly number[]): number[] {
  const list = Array.isArray(values) ? values : [values];
  const channels = shape.length === 3 ? shape[0] : 1;
  if (list.length !== 1 && list.length !== channels) throw new RangeError(`gradscope: transform ${name}: expected 1 or ${channels} values, got ${list.length}`);
  return list.length === 1 ? Array.from({ length: channels }, () => list[0]) : list;
}

/** (x − mean)·(1/std), with one value or one per channel. Config type `normalize`. */
export function normalize(mean: number | number[], std: number | number[]): Transform {
  for (const s of Array.isArray(std) ? std : [std]) if (!(s > 0)) throw new RangeError(`gradscope: transform normalize: std must be > 0, got ${s}`);
  return {
    name: "normalize",
    deterministic: true,
    outputShape: (shape) => [...shape],
    apply(inputs, batch, shape) {
      const means = perChannel("normalize mean", mean, shape);
      const stds = perChannel("normalize std", std, shape);
      // Runs of one channel: [batch, C, plane] (plane = everything after C; all of it if not an image).
      const plane = shape.length === 3 ? shape[1] * shape[2] : shape.reduce((a, b) => a * b, 1);
      const channels = means.length;
      for (let run = 0; run < batch * channels; run++) {
        const m = means[run % channels];
        const scale = 1 / stds[run % channels];
        const end = (run + 1) * plane;
        for (let i = run * plane; i < end; i++) inputs[i] = (inputs[i] - m) * scale;
      }
      return inputs;
    },
  };
}

/** [C, H, W] → [C·H·W]. Config type `flatten`. */
export function flattenInputs(): Transform {
  return { name: "flatten", deterministic: true, outputShape: (shape) => [shape.reduce((a, b) => a * b, 1)], apply: (inputs) => inputs };
}

function imageShape(name: string, shape: readonly number[]): [number, number, number] {
  if (shape.length !== 3) throw new RangeError(`gradscope: transform ${name} needs image inputs [C, H, W], got [${shape.join(", ")}] (put it before flatten)`);
  return [shape[0], shape[1], shape[2]];
}

/** Zero-pads each image by `padding` and crops it back at a random offset. Config type `random_crop`. */
export function randomCrop(padding: number): Transform {
  if (!Number.isInteger(padding) || padding < 1) throw new RangeError(`gradscope: transform random_crop: padding must be a positive integer, got ${padding}`);
  return {
    name: "random_crop",
    deterministic: false,
    outputShape: (shape) => [...shape],
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape("random_crop", shape);
      const out = new Float32Array(inputs.length);
      const size = channels * height * width;
      for (let b = 0; b < batch; b++) {
        const dy = random.integer(2 * padding + 1) - padding;
        const dx = random.integer(2 * padding + 1) - padding;
        for (let c = 0; c < channels; c++) {
          for (let y = 0; y < height; y++) {
            const sy = y + dy;
            if (sy < 0 || sy >= height) continue;
            for (let x = 0; x < width; x++) {
              const sx = x + dx;
              if (sx >= 0 && sx < width) out[b * size + (c * height + y) * width + x] = inputs[b * size + (c * height + sy) * width + sx];
            }
          }
        }
      }
      return out;
    },
  };
}

/** Mirrors each image left-right with probability p. Config type `random_flip`. */
export function randomFlip(p = 0.5): Transform {
  if (!(p >= 0 && p <= 1)) throw new RangeError(`gradscope: transform random_flip: p must be in [0, 1], got ${p}`);
  return {
    name: "random_flip",
    deterministic: false,
    outputShape: (shape) => [...shape],
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape("random_flip", shape);
      for (let b = 0; b < batch; b++) {
        if (random.uniform() >= p) continue;
        for (let row = 0; row < channels * height; row++) inputs.subarray((b * channels * height + row) * width, (b * channels * height + row + 1) * width).reverse();
      }
      return inputs;
    },
  };
}

/** A transform as a config writes it: `{ type: normalize, mean: 0.5, std: 0.25 }`. */
export type TransformSpec = { type: string } & Record<string, unknown>;

const builders: Record<string, (spec: TransformSpec) => Transform> = {
  normalize: (spec) => normalize(spec.mean as number | number[], spec.std as number | number[]),
  flatten: () => flattenInputs(),
  random_crop: (spec) => randomCrop(Number(spec.padding ?? 4)),
  random_flip: (spec) => randomFlip(Number(spec.p ?? 0.5)),
};

/** The transform config types. */
export const transformTypes = Object.keys(builders);

/** Builds a transform from its config spec. */
export function createTransform(spec: TransformSpec): Transform {
  checkName("transform", spec.type, transformTypes);
  return builders[spec.type](spec);
}

import { imageOutputShape, imageShape, uniformIn } from "./images.ts";
import type { Transform } from "./transforms.ts";

/** Options of `colorJitter`: each strength s draws a factor from [max(0, 1 − s), 1 + s]. */
export interface ColorJitterOptions {
  brightness?: number;
  contrast?: number;
  saturation?: number;
}

// ITU-R 601 luma weights (torchvision's rgb_to_grayscale).
const LUMA = [0.299, 0.587, 0.114];

/**
 * Random brightness, contrast and saturation per image, in a random order per image, clamped to
 * [0, 1] after each step as torchvision's ColorJitter does; it expects pixels in [0, 1], so it
 * belongs in `augment` (before normalize). Saturation leaves one-channel images as they are.
 * Config type `color_jitter` (each strength default 0: off).
 */
export function colorJitter(options: ColorJitterOptions): Transform {
  const strengths = { brightness: options.brightness ?? 0, contrast: options.contrast ?? 0, saturation: options.saturation ?? 0 };
  for (const [option, s] of Object.entries(strengths)) if (!(s >= 0)) throw new RangeError(`gradscope: transform color_jitter: ${option} must be >= 0, got ${s}`);
  const steps = (["brightness", "contrast", "saturation"] as const).filter((k) => strengths[k] > 0);
  return {
    name: "color_jitter",
    deterministic: false,
    spec: { type: "color_jitter", ...strengths },
    outputShape: imageOutputShape("color_jitter"),
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape("color_jitter", shape);
      const plane = height * width;
      const gray = new Float32Array(plane);
      for (let b = 0; b < batch; b++) {
        const image = inputs.subarray(b * channels * plane, (b + 1) * channels * plane);
        const order = steps.slice();
        for (let i = order.length - 1; i > 0; i--) {
          const j = random.integer(i + 1);
          [order[i], order[j]] = [order[j], order[i]];
        }
        for (const step of order) {
          const factor = uniformIn(random, Math.max(0, 1 - strengths[step]), 1 + strengths[step]);
          if (step === "brightness") {
            blend(image, factor, 0, null);
            continue;
          }
          grayscale(image, channels, plane, gray);
          if (step === "contrast") {
            // Blend with the mean gray level of the whole image.
            let level = 0;
            for (let i = 0; i < plane; i++) level += gray[i];
            blend(image, factor, (1 - factor) * (level / plane), null);
          } else if (channels === 3) {
            for (let c = 0; c < 3; c++) blend(image.subarray(c * plane, (c + 1) * plane), factor, 1 - factor, gray);
          }
        }
      }
      return inputs;
    },
  };
}

// values ← clamp(factor·values + offset·(gray or 1), 0, 1): every ColorJitter step is a blend.
function blend(values: Float32Array, factor: number, offset: number, gray: Float32Array | null): void {
  for (let i = 0; i < values.length; i++) {
    const v = factor * values[i] + (gray ? offset * gray[i] : offset);
    values[i] = v < 0 ? 0 : v > 1 ? 1 : v;
  }
}

function grayscale(image: Float32Array, channels: number, plane: number, gray: Float32Array): void {
  if (channels !== 3) {
    gray.set(image.subarray(0, plane));
    return;
  }
  for (let i = 0; i < plane; i++) gray[i] = LUMA[0] * image[i] + LUMA[1] * image[plane + i] + LUMA[2] * image[2 * plane + i];
}

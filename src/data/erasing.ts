import { checkProbability, checkRange, imageOutputShape, imageShape, uniformIn } from "./images.ts";
import type { Transform } from "./transforms.ts";

/** Options of `randomErasing` (torchvision's RandomErasing, Zhong et al. 2017). */
export interface RandomErasingOptions {
  /** Probability of erasing an image (default 0.5). */
  p?: number;
  /** The erased area as a fraction of the image, drawn from [low, high] (default [0.02, 0.33]). */
  scale?: [number, number];
  /** The erased box's aspect ratio h/w, drawn log-uniformly from [low, high] (default [0.3, 3.3]). */
  ratio?: [number, number];
  /** The value written into the box (default 0). */
  value?: number;
}

// Draws of a box that must fit inside the image; torchvision's RandomErasing gives up after 10.
const ERASING_ATTEMPTS = 10;

function fillBox(
  inputs: Float32Array,
  image: number,
  channels: number,
  height: number,
  width: number,
  box: { top: number; left: number; rows: number; columns: number },
  value: number,
): void {
  for (let c = 0; c < channels; c++) {
    for (let y = box.top; y < box.top + box.rows; y++) {
      const row = ((image * channels + c) * height + y) * width;
      inputs.fill(value, row + box.left, row + box.left + box.columns);
    }
  }
}

/** Erases a random box of each image with probability p. Config type `random_erasing`. */
export function randomErasing(options: RandomErasingOptions): Transform {
  const { p = 0.5, scale = [0.02, 0.33], ratio = [0.3, 3.3], value = 0 } = options;
  checkProbability("random_erasing", "p", p);
  checkRange("random_erasing", "scale", scale, 0);
  checkRange("random_erasing", "ratio", ratio, Number.MIN_VALUE);
  const logRatio: [number, number] = [Math.log(ratio[0]), Math.log(ratio[1])];
  return {
    name: "random_erasing",
    deterministic: false,
    spec: { type: "random_erasing", p, scale, ratio, value },
    outputShape: imageOutputShape("random_erasing"),
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape("random_erasing", shape);
      for (let b = 0; b < batch; b++) {
        if (random.uniform() >= p) continue;
        for (let attempt = 0; attempt < ERASING_ATTEMPTS; attempt++) {
          const area = height * width * uniformIn(random, scale[0], scale[1]);
          const aspect = Math.exp(uniformIn(random, logRatio[0], logRatio[1]));
          const rows = Math.round(Math.sqrt(area * aspect));
          const columns = Math.round(Math.sqrt(area / aspect));
          if (!(rows < height && columns < width)) continue;
          const top = random.integer(height - rows + 1);
          const left = random.integer(width - columns + 1);
          fillBox(inputs, b, channels, height, width, { top, left, rows, columns }, value);
          break;
        }
      }
      return inputs;
    },
  };
}

/** Options of `cutout` (DeVries & Taylor 2017). */
export interface CutoutOptions {
  /** The side of the square, in pixels (default 16, the paper's CIFAR-10 setting). */
  size?: number;
  /** Probability of cutting an image (default 1). */
  p?: number;
  /** The value written into the square (default 0). */
  value?: number;
}

/**
 * Blanks a size×size square centred on a uniformly drawn pixel, clipped at the borders (so
 * squares near an edge are smaller), as the paper's code does. Config type `cutout`.
 */
export function cutout(options: CutoutOptions): Transform {
  const { size = 16, p = 1, value = 0 } = options;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`gradscope: transform cutout: size must be a positive integer, got ${size}`);
  checkProbability("cutout", "p", p);
  return {
    name: "cutout",
    deterministic: false,
    spec: { type: "cutout", size, p, value },
    outputShape: imageOutputShape("cutout"),
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape("cutout", shape);
      for (let b = 0; b < batch; b++) {
        if (random.uniform() >= p) continue;
        const [y, x] = [random.integer(height), random.integer(width)];
        const [top, left] = [Math.max(0, y - (size >> 1)), Math.max(0, x - (size >> 1))];
        const [bottom, right] = [Math.min(height, y + (size >> 1)), Math.min(width, x + (size >> 1))];
        fillBox(inputs, b, channels, height, width, { top, left, rows: bottom - top, columns: right - left }, value);
      }
      return inputs;
    },
  };
}

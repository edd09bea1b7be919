import { checkRange, imageOutputShape, imageShape, uniformIn } from "./images.ts";
import type { Transform } from "./transforms.ts";

/** Options of `randomAffine`: the ranges each image's rotation, shift and zoom are drawn from. */
export interface AffineOptions {
  /** Rotation drawn from [−degrees, degrees] (default 0). */
  degrees?: number;
  /** Largest shift as fractions of the width and height (default [0, 0]). */
  translate?: [number, number];
  /** Zoom factor drawn from [low, high] (default [1, 1]). */
  scale?: [number, number];
  /** How pixels between source pixels are read (default bilinear). */
  interpolation?: "bilinear" | "nearest";
  /** The value of pixels that come from outside the image (default 0). */
  fill?: number;
}

/**
 * Rotates, shifts and zooms each image about its centre by amounts drawn per image, reading the
 * source through the inverse map. Config types `random_affine` and `random_rotation` (degrees only).
 */
export function randomAffine(options: AffineOptions, type = "random_affine"): Transform {
  const { degrees = 0, translate = [0, 0], scale = [1, 1], interpolation = "bilinear", fill = 0 } = options;
  if (!(degrees >= 0 && degrees <= 180)) throw new RangeError(`gradscope: transform ${type}: degrees must be in [0, 180], got ${degrees}`);
  if (!(translate.length === 2 && translate.every((t) => t >= 0 && t <= 1)))
    throw new RangeError(`gradscope: transform ${type}: translate must be two fractions in [0, 1], got [${translate.join(", ")}]`);
  checkRange(type, "scale", scale, Number.MIN_VALUE);
  if (interpolation !== "bilinear" && interpolation !== "nearest")
    throw new RangeError(`gradscope: transform ${type}: interpolation must be bilinear or nearest, got ${interpolation}`);
  const spec = type === "random_rotation" ? { type, degrees, interpolation, fill } : { type, degrees, translate, scale, interpolation, fill };
  return {
    name: type,
    deterministic: false,
    spec,
    outputShape: imageOutputShape(type),
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape(type, shape);
      const out = new Float32Array(inputs.length);
      const [centreX, centreY] = [(width - 1) / 2, (height - 1) / 2];
      const plane = height * width;
      for (let b = 0; b < batch; b++) {
        const angle = (uniformIn(random, -degrees, degrees) * Math.PI) / 180;
        const shiftX = uniformIn(random, -translate[0], translate[0]) * width;
        const shiftY = uniformIn(random, -translate[1], translate[1]) * height;
        const zoom = uniformIn(random, scale[0], scale[1]);
        // Inverse map: source = R(−θ)·(output − centre − shift)/zoom + centre.
        const [cos, sin] = [Math.cos(angle) / zoom, Math.sin(angle) / zoom];
        for (let y = 0; y < height; y++) {
          for (let x = 0; x < width; x++) {
            const [u, v] = [x - centreX - shiftX, y - centreY - shiftY];
            const sx = cos * u + sin * v + centreX;
            const sy = -sin * u + cos * v + centreY;
            for (let c = 0; c < channels; c++) {
              const source = (b * channels + c) * plane;
              out[source + y * width + x] =
                interpolation === "nearest" ? nearest(inputs, source, width, height, sx, sy, fill) : bilinear(inputs, source, width, height, sx, sy, fill);
            }
          }
        }
      }
      return out;
    },
  };
}

function pixel(inputs: Float32Array, plane: number, width: number, height: number, x: number, y: number, fill: number): number {
  return x >= 0 && x < width && y >= 0 && y < height ? inputs[plane + y * width + x] : fill;
}

function nearest(inputs: Float32Array, plane: number, width: number, height: number, x: number, y: number, fill: number): number {
  return pixel(inputs, plane, width, height, Math.round(x), Math.round(y), fill);
}

function bilinear(inputs: Float32Array, plane: number, width: number, height: number, x: number, y: number, fill: number): number {
  const [x0, y0] = [Math.floor(x), Math.floor(y)];
  const [fx, fy] = [x - x0, y - y0];
  const top = pixel(inputs, plane, width, height, x0, y0, fill) * (1 - fx) + pixel(inputs, plane, width, height, x0 + 1, y0, fill) * fx;
  const bottom = pixel(inputs, plane, width, height, x0, y0 + 1, fill) * (1 - fx) + pixel(inputs, plane, width, height, x0 + 1, y0 + 1, fill) * fx;
  return top * (1 - fy) + bottom * fy;
}

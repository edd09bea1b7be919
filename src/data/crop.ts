import { imageOutputShape, imageShape } from "./images.ts";
import type { Transform } from "./transforms.ts";

/**
 * How `random_crop` fills the border it pads (torchvision's padding modes): `constant` with
 * `fill`, `edge` repeats the last pixel, `reflect` mirrors without repeating it (d c b | a b c d),
 * `symmetric` mirrors with it (b a | a b c d).
 */
export const paddingModes = ["constant", "edge", "reflect", "symmetric"] as const;
export type PaddingMode = (typeof paddingModes)[number];

// The source index of padded position i in [−padding, n + padding), or −1 for the fill value.
function sourceIndex(i: number, n: number, mode: PaddingMode): number {
  if (i >= 0 && i < n) return i;
  switch (mode) {
    case "constant":
      return -1;
    case "edge":
      return i < 0 ? 0 : n - 1;
    case "reflect":
      return i < 0 ? -i : 2 * (n - 1) - i;
    case "symmetric":
      return i < 0 ? -i - 1 : 2 * n - 1 - i;
  }
}

/**
 * Pads each image by `padding` and crops it back to its size at a random offset. Config type
 * `random_crop` (`padding`, default 4; `padding_mode`, default constant; `fill`, default 0).
 */
export function randomCrop(padding: number, paddingMode: PaddingMode = "constant", fill = 0): Transform {
  if (!Number.isInteger(padding) || padding < 1) throw new RangeError(`gradscope: transform random_crop: padding must be a positive integer, got ${padding}`);
  if (!paddingModes.includes(paddingMode)) throw new RangeError(`gradscope: transform random_crop: padding_mode must be one of ${paddingModes.join(", ")}, got ${paddingMode}`);
  return {
    name: "random_crop",
    deterministic: false,
    spec: { type: "random_crop", padding, padding_mode: paddingMode, fill },
    outputShape: imageOutputShape("random_crop"),
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape("random_crop", shape);
      // A mirror reaches back at most n − 1 (reflect) or n (symmetric) pixels.
      const reach = Math.min(height, width) - (paddingMode === "reflect" ? 1 : 0);
      if ((paddingMode === "reflect" || paddingMode === "symmetric") && padding > reach) {
        throw new RangeError(`gradscope: transform random_crop: padding ${padding} is larger than ${paddingMode} padding allows for ${height}×${width} images (at most ${reach})`);
      }
      const out = new Float32Array(inputs.length);
      const size = channels * height * width;
      const rows = new Int32Array(height);
      const columns = new Int32Array(width);
      for (let b = 0; b < batch; b++) {
        const dy = random.integer(2 * padding + 1) - padding;
        const dx = random.integer(2 * padding + 1) - padding;
        for (let y = 0; y < height; y++) rows[y] = sourceIndex(y + dy, height, paddingMode);
        for (let x = 0; x < width; x++) columns[x] = sourceIndex(x + dx, width, paddingMode);
        const inside = [Math.max(0, -dx), Math.min(width, width - dx)];
        for (let c = 0; c < channels; c++) {
          const plane = b * size + c * height * width;
          for (let y = 0; y < height; y++) {
            const row = plane + y * width;
            if (rows[y] < 0) {
              out.fill(fill, row, row + width);
              continue;
            }
            const from = plane + rows[y] * width;
            // Inside the image the source is x + dx: a plain run; only the padded ends need the map.
            for (let x = 0; x < inside[0]; x++) out[row + x] = columns[x] < 0 ? fill : inputs[from + columns[x]];
            for (let x = inside[0]; x < inside[1]; x++) out[row + x] = inputs[from + x + dx];
            for (let x = inside[1]; x < width; x++) out[row + x] = columns[x] < 0 ? fill : inputs[from + columns[x]];
          }
        }
      }
      return out;
    },
  };
}

import { checkProbability, imageOutputShape, imageShape } from "./images.ts";
import type { Transform } from "./transforms.ts";

/** Which way `random_flip` mirrors: left-right (`horizontal`) or top-bottom (`vertical`). */
export type FlipAxis = "horizontal" | "vertical";

/** Mirrors each image with probability p. Config type `random_flip` (`p`, default 0.5; `axis`, default horizontal). */
export function randomFlip(p = 0.5, axis: FlipAxis = "horizontal"): Transform {
  checkProbability("random_flip", "p", p);
  if (axis !== "horizontal" && axis !== "vertical") throw new RangeError(`gradscope: transform random_flip: axis must be horizontal or vertical, got ${axis}`);
  return {
    name: "random_flip",
    deterministic: false,
    spec: { type: "random_flip", p, axis },
    outputShape: imageOutputShape("random_flip"),
    apply(inputs, batch, shape, random) {
      const [channels, height, width] = imageShape("random_flip", shape);
      for (let b = 0; b < batch; b++) {
        if (random.uniform() >= p) continue;
        if (axis === "horizontal") {
          for (let row = 0; row < channels * height; row++) inputs.subarray((b * channels * height + row) * width, (b * channels * height + row + 1) * width).reverse();
          continue;
        }
        for (let c = 0; c < channels; c++) {
          const plane = (b * channels + c) * height * width;
          for (let y = 0; y < height >> 1; y++) {
            const top = plane + y * width;
            const bottom = plane + (height - 1 - y) * width;
            const row = inputs.slice(top, top + width);
            inputs.copyWithin(top, bottom, bottom + width);
            inputs.set(row, bottom);
          }
        }
      }
      return inputs;
    },
  };
}

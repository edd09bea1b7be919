import { record } from "../autograd.ts";
import { elementwiseRules } from "../curvature/rules.ts";
import type { Random } from "../random.ts";
import { Tensor } from "../tensor.ts";
import { computeBinary } from "./binary.ts";
import { reshape } from "./shape.ts";

/** Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1−p). */
export function dropout(x: Tensor, p: number, training: boolean, random: Random): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`gradscope: dropout probability must be in [0, 1), got ${p}`);
  if (!training || p === 0) return reshape(x, x.shape);
  const keepScale = 1 / (1 - p);
  // The mask lives in engine memory so that both passes are one SIMD multiply; drawing it stays
  // sequential, since the seeded stream decides which elements drop.
  const mask = new Tensor(x.shape, "float32", "dropout mask");
  const values = mask.data;
  for (let i = 0; i < x.size; i++) values[i] = random.uniform() >= p ? keepScale : 0;
  const out = computeBinary("mul", x, mask, [...x.shape]);
  const backward = (gradOut: Tensor): Tensor[] => [computeBinary("mul", gradOut, mask, [...x.shape])];
  return record(out, { op: "dropout", inputs: [x], backward, curvature: elementwiseRules(backward) });
}

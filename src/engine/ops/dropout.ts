import { record } from "../autograd.ts";
import { elementwiseRules } from "../curvature/rules.ts";
import { engineMemory } from "../memory.ts";
import type { Random } from "../random.ts";
import { Tensor } from "../tensor.ts";
import { reshape } from "./shape.ts";

/** Inverted dropout: zeroes each element with probability p and scales the rest by 1/(1−p). */
export function dropout(x: Tensor, p: number, training: boolean, random: Random): Tensor {
  if (!(p >= 0 && p < 1)) throw new RangeError(`gradscope: dropout probability must be in [0, 1), got ${p}`);
  if (!training || p === 0) return reshape(x, x.shape);
  const keepScale = 1 / (1 - p);
  const mask = new Float32Array(x.size);
  for (let i = 0; i < x.size; i++) mask[i] = random.uniform() >= p ? keepScale : 0;
  const out = new Tensor(x.shape, "float32", "dropout");
  const heap = engineMemory.f32;
  for (let i = 0; i < x.size; i++) heap[out.offset + i] = heap[x.offset + i] * mask[i];
  const backward = (gradOut: Tensor): Tensor[] => {
    const grad = new Tensor(x.shape, "float32", "dropout backward");
    const h = engineMemory.f32;
    for (let i = 0; i < x.size; i++) h[grad.offset + i] = h[gradOut.offset + i] * mask[i];
    return [grad];
  };
  return record(out, { op: "dropout", inputs: [x], backward, curvature: elementwiseRules(backward) });
}

import type { Random } from "../engine/random.ts";
import { Tensor } from "../engine/tensor.ts";

/** A tensor of U(−bound, bound) samples. */
export function uniformTensor(shape: readonly number[], bound: number, random: Random): Tensor {
  const out = new Tensor(shape, "float32", "uniform init");
  const data = out.data;
  for (let i = 0; i < data.length; i++) data[i] = (2 * random.uniform() - 1) * bound;
  return out;
}

/** A tensor of N(0, std²) samples. */
export function normalTensor(shape: readonly number[], std: number, random: Random): Tensor {
  const out = new Tensor(shape, "float32", "normal init");
  const data = out.data;
  for (let i = 0; i < data.length; i++) data[i] = std * random.normal();
  return out;
}

/**
 * PyTorch's default for Linear and Conv2d: kaiming_uniform(a=√5) gives weights
 * U(−1/√fan_in, 1/√fan_in), and biases use the same bound.
 */
export function defaultBound(fanIn: number): number {
  return fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
}

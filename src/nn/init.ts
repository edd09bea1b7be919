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

/** How a weight is initialized; `default` is PyTorch's (see defaultBound). */
export type WeightInit =
  | {
      /** PyTorch's default U(−1/√fan_in, 1/√fan_in). */
      type: "default";
    }
  | {
      /** He et al. 2015: std gain/√fan (normal), or bound √3·std (uniform). */
      type: "kaiming_normal" | "kaiming_uniform";
      /** The fan the std divides by (default "fan_in"). */
      mode?: "fan_in" | "fan_out";
      /** The nonlinearity whose gain applies (default "leaky_relu"). */
      nonlinearity?: Nonlinearity;
      /** The negative slope of leaky_relu in its gain (default 0, i.e. ReLU's gain √2). */
      a?: number;
    }
  | {
      /** Glorot & Bengio 2010: std gain·√(2/(fan_in + fan_out)) (normal), or bound √3·std (uniform). */
      type: "xavier_normal" | "xavier_uniform";
      /** The gain (default 1). */
      gain?: number;
    }
  | {
      /** N(mean, std²). */
      type: "normal";
      /** The standard deviation (required). */
      std: number;
      /** The mean (default 0). */
      mean?: number;
    }
  | {
      /** All zeros. */
      type: "zeros";
    };

/** The nonlinearities whose recommended gains `gainOf` knows (torch.nn.init.calculate_gain). */
export type Nonlinearity = "linear" | "conv2d" | "sigmoid" | "tanh" | "relu" | "leaky_relu" | "selu";

/** The names `initializeTensor` accepts, for validation messages. */
export const weightInitTypes = ["default", "kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "normal", "zeros"] as const;

/** torch.nn.init.calculate_gain: √2 for relu, √(2/(1 + a²)) for leaky_relu, 5/3 for tanh, 3/4 for selu, else 1. */
export function gainOf(nonlinearity: Nonlinearity, a = 0): number {
  switch (nonlinearity) {
    case "relu":
      return Math.SQRT2;
    case "leaky_relu":
      return Math.sqrt(2 / (1 + a * a));
    case "tanh":
      return 5 / 3;
    case "selu":
      return 3 / 4;
    default:
      return 1;
  }
}

/**
 * PyTorch's fans of a weight: fan_in = shape[1]·receptive field, fan_out = shape[0]·receptive
 * field (for a grouped conv, shape[1] is in_channels/groups, as in PyTorch).
 */
export function fansOf(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new RangeError(`gradscope: fan in and fan out need a weight of at least 2 axes, got [${shape.join(", ")}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/**
 * Overwrites `weight` following `init` (torch.nn.init's formulas): Kaiming normal
 * std = gain/√fan, Kaiming uniform bound = gain·√(3/fan) (fan_in by default, gain √2 for the
 * default leaky_relu with a = 0); Xavier normal std = gain·√(2/(fan_in + fan_out)), Xavier
 * uniform bound = gain·√(6/(fan_in + fan_out)). `default` leaves the weight as it is.
 */
export function initializeTensor(weight: Tensor, init: WeightInit, random: Random): void {
  const data = weight.data;
  const fill = (sample: () => number): void => {
    for (let i = 0; i < data.length; i++) data[i] = sample();
  };
  switch (init.type) {
    case "default":
      return;
    case "zeros":
      data.fill(0);
      return;
    case "normal": {
      const mean = init.mean ?? 0;
      fill(() => mean + init.std * random.normal());
      return;
    }
    case "kaiming_normal":
    case "kaiming_uniform": {
      const fans = fansOf(weight.shape);
      const fan = init.mode === "fan_out" ? fans.fanOut : fans.fanIn;
      const std = gainOf(init.nonlinearity ?? "leaky_relu", init.a ?? 0) / Math.sqrt(fan);
      if (init.type === "kaiming_normal") fill(() => std * random.normal());
      else fill(() => (2 * random.uniform() - 1) * Math.sqrt(3) * std);
      return;
    }
    case "xavier_normal":
    case "xavier_uniform": {
      const { fanIn, fanOut } = fansOf(weight.shape);
      const std = (init.gain ?? 1) * Math.sqrt(2 / (fanIn + fanOut));
      if (init.type === "xavier_normal") fill(() => std * random.normal());
      else fill(() => (2 * random.uniform() - 1) * Math.sqrt(3) * std);
      return;
    }
  }
}

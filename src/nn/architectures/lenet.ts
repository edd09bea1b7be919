import type { LayerSpec } from "../spec.ts";
import type { ArchitectureOptions } from "./blocks.ts";

/**
 * LeNet-5 for 28x28 inputs (the first conv pads by 2). `modern` (the default) uses ReLU and max
 * pooling; `classic` LeCun et al. 1998's tanh and average pooling.
 */
export function lenet5(options: ArchitectureOptions): LayerSpec[] {
  const classic = options.variant === "classic";
  const activation = { type: classic ? "tanh" : "relu" };
  const pool = { type: classic ? "avgpool2d" : "maxpool2d", kernel_size: 2 };
  return [
    { type: "conv2d", out_channels: 6, kernel_size: 5, padding: 2 },
    activation,
    pool,
    { type: "conv2d", out_channels: 16, kernel_size: 5 },
    activation,
    pool,
    { type: "flatten" },
    { type: "linear", out: 120 },
    activation,
    { type: "linear", out: 84 },
    activation,
    { type: "linear", out: options.classes },
  ];
}

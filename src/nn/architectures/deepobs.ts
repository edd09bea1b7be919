import type { LayerSpec } from "../spec.ts";
import type { ArchitectureOptions } from "./blocks.ts";

/** DeepOBS's 2c2d (Schneider et al. 2019): two 5x5 convs with max pooling, a 1024-wide layer. */
export const twoConvTwoDense = (options: ArchitectureOptions): LayerSpec[] => [
  { type: "conv2d", out_channels: 32, kernel_size: 5, padding: 2 },
  { type: "relu" },
  { type: "maxpool2d", kernel_size: 2 },
  { type: "conv2d", out_channels: 64, kernel_size: 5, padding: 2 },
  { type: "relu" },
  { type: "maxpool2d", kernel_size: 2 },
  { type: "flatten" },
  { type: "linear", out: 1024 },
  { type: "relu" },
  { type: "linear", out: options.classes },
];

/** DeepOBS's 3c3d: three convs with overlapping max pooling, layers of 512 and 256. */
export const threeConvThreeDense = (options: ArchitectureOptions): LayerSpec[] => [
  { type: "conv2d", out_channels: 64, kernel_size: 5 },
  { type: "relu" },
  { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 },
  { type: "conv2d", out_channels: 96, kernel_size: 3 },
  { type: "relu" },
  { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 },
  { type: "conv2d", out_channels: 128, kernel_size: 3, padding: 1 },
  { type: "relu" },
  { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 },
  { type: "flatten" },
  { type: "linear", out: 512 },
  { type: "relu" },
  { type: "linear", out: 256 },
  { type: "relu" },
  { type: "linear", out: options.classes },
];

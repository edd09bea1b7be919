import type { LayerSpec } from "../spec.ts";

/** Options every named architecture reads: its variant, the number of classes. */
export interface ArchitectureOptions {
  variant: string;
  classes: number;
}

/** A conv2d node without bias unless asked (the batch norm after it has one). */
export function conv(out: number, kernel: number, options: { stride?: number; padding?: number; groups?: number; bias?: boolean } = {}): LayerSpec {
  return {
    type: "conv2d",
    out_channels: out,
    kernel_size: kernel,
    stride: options.stride ?? 1,
    padding: options.padding ?? 0,
    groups: options.groups ?? 1,
    bias: options.bias ?? false,
  };
}

/** A batchnorm2d node (PyTorch's eps 1e-5 unless given). */
export const batchNorm = (eps?: number): LayerSpec => (eps === undefined ? { type: "batchnorm2d" } : { type: "batchnorm2d", eps });

/** conv (no bias), batch norm, activation: the unit most of these networks are made of. */
export const convNormAct = (out: number, kernel: number, options: { stride?: number; padding?: number; groups?: number; eps?: number; activation?: string } = {}): LayerSpec[] => [
  conv(out, kernel, options),
  batchNorm(options.eps),
  { type: options.activation ?? "relu" },
];

/** The list as one `sequential` node, so its layers' names share a prefix (a stage, a block). */
export const group = (layers: LayerSpec[]): LayerSpec => ({ type: "sequential", layers });

/** Global average pooling, flatten and the linear classifier that ends most of these networks. */
export const poolAndClassify = (classes: number, dropout?: number): LayerSpec[] => [
  { type: "global_avgpool2d" },
  { type: "flatten" },
  ...(dropout === undefined ? [] : [{ type: "dropout", p: dropout }]),
  { type: "linear", out: classes },
];

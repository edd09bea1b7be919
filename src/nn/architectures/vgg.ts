import type { LayerSpec } from "../spec.ts";
import { type ArchitectureOptions, batchNorm, conv } from "./blocks.ts";

// Simonyan & Zisserman 2015, table 1: output channels of the 3x3 convs, "M" a 2x2 max pooling.
const configurations: Record<string, Array<number | "M">> = {
  vgg11: [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
  vgg13: [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
  vgg16: [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
  vgg19: [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"],
};

/** The VGG names, with and without batch norm (`vgg16_bn`). */
export const vggNames = Object.keys(configurations).flatMap((name) => [name, `${name}_bn`]);

/**
 * VGG-11/13/16/19, optionally with a batch norm after every conv (which keeps its bias), as
 * torchvision. The `cifar` variant replaces the 7x7 pooling and the two 4096-wide layers by one
 * linear layer on the 512 features of the 1x1 map (kuangliu/pytorch-cifar).
 */
export function vgg(name: string, options: ArchitectureOptions): LayerSpec[] {
  const withNorm = name.endsWith("_bn");
  const features: LayerSpec[] = configurations[name.replace(/_bn$/, "")].flatMap((entry) =>
    entry === "M" ? [{ type: "maxpool2d", kernel_size: 2, stride: 2 }] : [conv(entry, 3, { padding: 1, bias: true }), ...(withNorm ? [batchNorm()] : []), { type: "relu" }],
  );
  if (options.variant === "cifar") return [...features, { type: "flatten" }, { type: "linear", out: options.classes }];
  return [...features, { type: "adaptive_avgpool2d", output_size: 7 }, { type: "flatten" }, ...fullyConnected([4096, 4096], options.classes)];
}

/** The classifier of VGG and AlexNet: linear, ReLU, dropout per hidden width, then the output layer. */
export function fullyConnected(hidden: number[], classes: number, dropoutFirst = false): LayerSpec[] {
  const dropout = { type: "dropout", p: 0.5 };
  const layers = hidden.flatMap((width): LayerSpec[] =>
    dropoutFirst ? [dropout, { type: "linear", out: width }, { type: "relu" }] : [{ type: "linear", out: width }, { type: "relu" }, dropout],
  );
  return [...layers, { type: "linear", out: classes }];
}

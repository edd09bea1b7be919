import type { LayerSpec } from "../spec.ts";
import { type ArchitectureOptions, convNormAct, group, poolAndClassify } from "./blocks.ts";

// torchvision's BasicConv2d: conv without bias, batch norm with eps 0.001, ReLU.
const basicConv = (out: number, kernel: number, options: { stride?: number; padding?: number } = {}): LayerSpec => group(convNormAct(out, kernel, { ...options, eps: 0.001 }));

// Szegedy et al. 2015, table 1: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
type InceptionWidths = [number, number, number, number, number, number];
const inception = ([c1, r3, c3, r5, c5, pool]: InceptionWidths): LayerSpec => ({
  type: "concat",
  dim: 1,
  branches: [
    [basicConv(c1, 1)],
    [basicConv(r3, 1), basicConv(c3, 3, { padding: 1 })],
    // The "5x5" branch uses a 3x3 kernel, as in torchvision.
    [basicConv(r5, 1), basicConv(c5, 3, { padding: 1 })],
    [{ type: "maxpool2d", kernel_size: 3, stride: 1, padding: 1 }, basicConv(pool, 1)],
  ],
});

// torchvision pools with ceil_mode; a padding of 1 gives the same sizes from a 224x224 input.
const maxPool = { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 };

/**
 * GoogLeNet (Inception v1) as torchvision without the auxiliary classifiers. The `cifar`
 * variant replaces the stem by one 3x3 conv of 192 channels at stride 1 and drops the first
 * two poolings (kuangliu/pytorch-cifar).
 */
export function googlenet(options: ArchitectureOptions): LayerSpec[] {
  const stem =
    options.variant === "imagenet"
      ? [basicConv(64, 7, { stride: 2, padding: 3 }), maxPool, basicConv(64, 1), basicConv(192, 3, { padding: 1 }), maxPool]
      : [basicConv(192, 3, { padding: 1 })];
  return [
    ...stem,
    inception([64, 96, 128, 16, 32, 32]),
    inception([128, 128, 192, 32, 96, 64]),
    maxPool,
    inception([192, 96, 208, 16, 48, 64]),
    inception([160, 112, 224, 24, 64, 64]),
    inception([128, 128, 256, 24, 64, 64]),
    inception([112, 144, 288, 32, 64, 64]),
    inception([256, 160, 320, 32, 128, 128]),
    { type: "maxpool2d", kernel_size: 2, stride: 2 },
    inception([256, 160, 320, 32, 128, 128]),
    inception([384, 192, 384, 48, 128, 128]),
    ...poolAndClassify(options.classes, 0.2),
  ];
}

import type { LayerSpec } from "../spec.ts";
import { type ArchitectureOptions, batchNorm, conv, convNormAct, group, poolAndClassify } from "./blocks.ts";

const growth = 32;
const bottleneckWidth = 4 * growth;
const blockSizes = [6, 12, 24, 16];

// A dense layer appends its 32 new channels to its input: BN-ReLU-conv1x1-BN-ReLU-conv3x3.
const denseLayer: LayerSpec = {
  type: "concat",
  dim: 1,
  branches: [[], [batchNorm(), { type: "relu" }, conv(bottleneckWidth, 1), batchNorm(), { type: "relu" }, conv(growth, 3, { padding: 1 })]],
};

/**
 * DenseNet-121 (Huang et al. 2017, DenseNet-BC, growth 32) as torchvision. The `cifar` variant
 * has a 3x3 stride-1 stem and no max pooling (kuangliu/pytorch-cifar).
 */
export function densenet121(options: ArchitectureOptions): LayerSpec[] {
  const stem =
    options.variant === "imagenet"
      ? [...convNormAct(64, 7, { stride: 2, padding: 3 }), { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 }]
      : [conv(64, 3, { padding: 1 })];
  const layers: LayerSpec[] = [group(stem)];
  let channels = 64;
  blockSizes.forEach((size, index) => {
    layers.push(group(Array.from({ length: size }, () => denseLayer)));
    channels += size * growth;
    if (index < blockSizes.length - 1) {
      channels /= 2;
      layers.push(group([batchNorm(), { type: "relu" }, conv(channels, 1), { type: "avgpool2d", kernel_size: 2, stride: 2 }]));
    }
  });
  return [...layers, batchNorm(), { type: "relu" }, ...poolAndClassify(options.classes)];
}

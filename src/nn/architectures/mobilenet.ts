import type { LayerSpec } from "../spec.ts";
import { type ArchitectureOptions, batchNorm, conv, convNormAct, group, poolAndClassify } from "./blocks.ts";

// Howard et al. 2017, table 1: (output channels, stride) of the depthwise-separable blocks.
const v1Blocks: Array<[number, number]> = [
  [64, 1],
  [128, 2],
  [128, 1],
  [256, 2],
  [256, 1],
  [512, 2],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [512, 1],
  [1024, 2],
  [1024, 1],
];

/**
 * MobileNet v1 (width 1): depthwise 3x3 + pointwise 1x1 blocks, each conv followed by batch norm
 * and ReLU. The `cifar` variant's stem has stride 1 (kuangliu/pytorch-cifar).
 */
export function mobilenetV1(options: ArchitectureOptions): LayerSpec[] {
  const layers: LayerSpec[] = [group(convNormAct(32, 3, { stride: options.variant === "imagenet" ? 2 : 1, padding: 1 }))];
  let channels = 32;
  for (const [out, stride] of v1Blocks) {
    layers.push(group([...convNormAct(channels, 3, { stride, padding: 1, groups: channels }), ...convNormAct(out, 1)]));
    channels = out;
  }
  return [...layers, ...poolAndClassify(options.classes)];
}

// Sandler et al. 2018, table 2: expansion t, output channels c, repeats n, first stride s.
const v2Settings: Array<[number, number, number, number]> = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

function invertedResidual(inChannels: number, out: number, stride: number, expansion: number): LayerSpec {
  const hidden = inChannels * expansion;
  const main = [
    ...(expansion === 1 ? [] : convNormAct(hidden, 1, { activation: "relu6" })),
    ...convNormAct(hidden, 3, { stride, padding: 1, groups: hidden, activation: "relu6" }),
    conv(out, 1),
    batchNorm(),
  ];
  return stride === 1 && inChannels === out ? { type: "residual", main, shortcut: null } : group(main);
}

/**
 * MobileNet v2 (width 1) as torchvision: inverted residuals with ReLU6, identity shortcut where
 * the shape is kept. The `cifar` variant has a stride-1 stem and keeps stride 1 in the second
 * setting (kuangliu/pytorch-cifar), so a 32x32 input ends at 4x4.
 */
export function mobilenetV2(options: ArchitectureOptions): LayerSpec[] {
  const imagenet = options.variant === "imagenet";
  const layers: LayerSpec[] = [group(convNormAct(32, 3, { stride: imagenet ? 2 : 1, padding: 1, activation: "relu6" }))];
  let channels = 32;
  v2Settings.forEach(([expansion, out, repeats, firstStride], index) => {
    const stride = !imagenet && index === 1 ? 1 : firstStride;
    for (let r = 0; r < repeats; r++) {
      layers.push(invertedResidual(channels, out, r === 0 ? stride : 1, expansion));
      channels = out;
    }
  });
  layers.push(group(convNormAct(1280, 1, { activation: "relu6" })));
  return [...layers, ...poolAndClassify(options.classes, 0.2)];
}

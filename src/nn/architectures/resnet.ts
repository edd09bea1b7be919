import type { LayerSpec } from "../spec.ts";
import { type ArchitectureOptions, batchNorm, conv, convNormAct, group, poolAndClassify } from "./blocks.ts";

// A stride-2 (or widening) block's shortcut: a 1x1 projection (torchvision, option B) or the
// parameter-free subsample-and-pad of the CIFAR ResNets (option A).
function shortcut(kind: "projection" | "subsample_pad", inChannels: number, out: number, stride: number): LayerSpec[] | null {
  if (stride === 1 && inChannels === out) return null;
  return kind === "projection" ? [conv(out, 1, { stride }), batchNorm()] : [{ type: "subsample_pad", stride, out_channels: out }];
}

function basicBlock(inChannels: number, planes: number, stride: number, kind: "projection" | "subsample_pad"): LayerSpec {
  return {
    type: "residual",
    main: [...convNormAct(planes, 3, { stride, padding: 1 }), conv(planes, 3, { padding: 1 }), batchNorm()],
    shortcut: shortcut(kind, inChannels, planes, stride),
    post: [{ type: "relu" }],
  };
}

// ResNet v1.5: the stride sits on the 3x3 conv, as in torchvision.
function bottleneck(inChannels: number, planes: number, stride: number): LayerSpec {
  return {
    type: "residual",
    main: [...convNormAct(planes, 1), ...convNormAct(planes, 3, { stride, padding: 1 }), conv(planes * 4, 1), batchNorm()],
    shortcut: shortcut("projection", inChannels, planes * 4, stride),
    post: [{ type: "relu" }],
  };
}

const depths: Record<string, { blocks: number[]; bottleneck: boolean }> = {
  resnet18: { blocks: [2, 2, 2, 2], bottleneck: false },
  resnet34: { blocks: [3, 4, 6, 3], bottleneck: false },
  resnet50: { blocks: [3, 4, 6, 3], bottleneck: true },
};

/**
 * ResNet-18/34/50 (He et al. 2016; torchvision's definition, v1.5 bottlenecks). The `cifar`
 * variant has a 3x3 stride-1 stem and no max pooling, as the usual CIFAR reference
 * implementations (kuangliu/pytorch-cifar).
 */
export function resnet(name: string, options: ArchitectureOptions): LayerSpec[] {
  const { blocks, bottleneck: deep } = depths[name];
  const stem =
    options.variant === "imagenet"
      ? [...convNormAct(64, 7, { stride: 2, padding: 3 }), { type: "maxpool2d", kernel_size: 3, stride: 2, padding: 1 }]
      : convNormAct(64, 3, { padding: 1 });
  const layers: LayerSpec[] = [...stem];
  let channels = 64;
  [64, 128, 256, 512].forEach((planes, stage) => {
    const stageBlocks: LayerSpec[] = [];
    for (let b = 0; b < blocks[stage]; b++) {
      const stride = b === 0 && stage > 0 ? 2 : 1;
      stageBlocks.push(deep ? bottleneck(channels, planes, stride) : basicBlock(channels, planes, stride, "projection"));
      channels = deep ? planes * 4 : planes;
    }
    layers.push(group(stageBlocks));
  });
  return [...layers, ...poolAndClassify(options.classes)];
}

/**
 * The CIFAR ResNets of He et al. 2016, section 4.2: depth 6n+2, three stages of n basic blocks
 * with 16, 32, 64 channels and option-A shortcuts.
 */
export function cifarResnet(depth: number, options: ArchitectureOptions): LayerSpec[] {
  const n = (depth - 2) / 6;
  const layers: LayerSpec[] = convNormAct(16, 3, { padding: 1 });
  let channels = 16;
  [16, 32, 64].forEach((planes, stage) => {
    const stageBlocks: LayerSpec[] = [];
    for (let b = 0; b < n; b++) {
      stageBlocks.push(basicBlock(channels, planes, b === 0 && stage > 0 ? 2 : 1, "subsample_pad"));
      channels = planes;
    }
    layers.push(group(stageBlocks));
  });
  return [...layers, ...poolAndClassify(options.classes)];
}

import type { LayerSpec } from "../spec.ts";
import { type ArchitectureOptions, conv } from "./blocks.ts";
import { fullyConnected } from "./vgg.ts";

const relu = { type: "relu" };
const maxPool = (kernel: number) => ({ type: "maxpool2d", kernel_size: kernel, stride: 2 });

/**
 * AlexNet as torchvision defines it (Krizhevsky 2014's one-GPU variant). The `cifar` variant
 * starts with a 3x3 stride-2 conv and pools 2x2, leaving a 2x2 map of 256 channels for the same
 * classifier (as the common CIFAR ports).
 */
export function alexnet(options: ArchitectureOptions): LayerSpec[] {
  const imagenet = options.variant === "imagenet";
  const pool = maxPool(imagenet ? 3 : 2);
  const features: LayerSpec[] = [
    imagenet ? conv(64, 11, { stride: 4, padding: 2, bias: true }) : conv(64, 3, { stride: 2, padding: 1, bias: true }),
    relu,
    pool,
    conv(192, imagenet ? 5 : 3, { padding: imagenet ? 2 : 1, bias: true }),
    relu,
    pool,
    conv(384, 3, { padding: 1, bias: true }),
    relu,
    conv(256, 3, { padding: 1, bias: true }),
    relu,
    conv(256, 3, { padding: 1, bias: true }),
    relu,
    pool,
  ];
  const pooled = imagenet ? [{ type: "adaptive_avgpool2d", output_size: 6 }] : [];
  return [...features, ...pooled, { type: "flatten" }, ...fullyConnected([4096, 4096], options.classes, true)];
}

import type { LayerSpec } from "../spec.ts";
import { alexnet } from "./alexnet.ts";
import type { ArchitectureOptions } from "./blocks.ts";
import { threeConvThreeDense, twoConvTwoDense } from "./deepobs.ts";
import { densenet121 } from "./densenet.ts";
import { googlenet } from "./googlenet.ts";
import { lenet5 } from "./lenet.ts";
import { mobilenetV1, mobilenetV2 } from "./mobilenet.ts";
import { cifarResnet, resnet } from "./resnet.ts";
import { vgg, vggNames } from "./vgg.ts";

/** A named architecture: its variants (the first is the default unless the input size decides) and its layer list. */
export interface Architecture {
  variants: readonly string[];
  layers(options: ArchitectureOptions): LayerSpec[];
}

const imageVariants = ["imagenet", "cifar"] as const;
const image = (layers: Architecture["layers"]): Architecture => ({ variants: imageVariants, layers });
const only = (variant: string, layers: Architecture["layers"]): Architecture => ({ variants: [variant], layers });

/** Every named architecture except `mlp` (which spec.ts builds from its own options), by name. */
export const architectures: Record<string, Architecture> = {
  lenet5: { variants: ["modern", "classic"], layers: lenet5 },
  "2c2d": only("default", twoConvTwoDense),
  "3c3d": only("default", threeConvThreeDense),
  ...Object.fromEntries(["resnet18", "resnet34", "resnet50"].map((name) => [name, image((options) => resnet(name, options))])),
  ...Object.fromEntries([20, 32, 44, 56, 110, 1202].map((depth) => [`resnet${depth}`, only("cifar", (options) => cifarResnet(depth, options))])),
  ...Object.fromEntries(vggNames.map((name) => [name, image((options) => vgg(name, options))])),
  alexnet: image(alexnet),
  mobilenet_v1: image(mobilenetV1),
  mobilenet_v2: image(mobilenetV2),
  googlenet: image(googlenet),
  densenet121: image(densenet121),
};

/**
 * The variant an architecture gets without `variant`: for the ImageNet/CIFAR families, the
 * ImageNet form for inputs of 64 pixels or more and the CIFAR form below; otherwise its first.
 */
export function defaultVariant(architecture: Architecture, inputShape: number[]): string {
  if (architecture.variants === imageVariants) return (inputShape[1] ?? 0) >= 64 ? "imagenet" : "cifar";
  return architecture.variants[0];
}

import { flatten } from "../engine/ops/shape.ts";
import { logSoftmax, softmax } from "../engine/ops/softmax.ts";
import { elu, gelu, hardswish, leakyRelu, mish, relu, relu6, selu, sigmoid, silu, softplus, tanh } from "../engine/ops/unary.ts";
import type { Tensor } from "../engine/tensor.ts";
import { Module } from "./module.ts";

/** A parameter-free module wrapping a tensor function. */
export class Lambda extends Module {
  constructor(
    readonly kind: string,
    private readonly fn: (x: Tensor) => Tensor,
  ) {
    super();
  }

  forward(input: Tensor): Tensor {
    return this.fn(input);
  }
}

/** max(x, 0), elementwise. */
export const ReLU = (): Lambda => new Lambda("relu", relu);
/** x for x > 0, `negativeSlope`·x otherwise. */
export const LeakyReLU = (negativeSlope = 0.01): Lambda => new Lambda("leaky_relu", (x) => leakyRelu(x, negativeSlope));
/** tanh(x), elementwise. */
export const Tanh = (): Lambda => new Lambda("tanh", tanh);
/** 1 / (1 + e^−x), elementwise. */
export const Sigmoid = (): Lambda => new Lambda("sigmoid", sigmoid);
/** x·Φ(x) (`"none"`: the exact normal CDF; `"tanh"`: its tanh approximation), as PyTorch. */
export const GELU = (approximate: "none" | "tanh" = "none"): Lambda => new Lambda("gelu", (x) => gelu(x, approximate));
/** log(1 + e^(β·x)) / β, and x itself where β·x > `threshold` (as PyTorch). */
export const Softplus = (beta = 1, threshold = 20): Lambda => new Lambda("softplus", (x) => softplus(x, beta, threshold));
/** min(max(x, 0), 6) (MobileNetV2). */
export const ReLU6 = (): Lambda => new Lambda("relu6", relu6);
/** x·σ(x), also called swish (EfficientNet). */
export const SiLU = (): Lambda => new Lambda("silu", silu);
/** x·relu6(x + 3)/6 (MobileNetV3). */
export const Hardswish = (): Lambda => new Lambda("hardswish", hardswish);
/** x for x > 0, α(e^x − 1) otherwise. */
export const ELU = (alpha = 1): Lambda => new Lambda("elu", (x) => elu(x, alpha));
/** Self-normalizing ELU with PyTorch's α and scale. */
export const SELU = (): Lambda => new Lambda("selu", selu);
/** x·tanh(softplus(x)). */
export const Mish = (): Lambda => new Lambda("mish", mish);
/** Softmax over the last axis. */
export const Softmax = (): Lambda => new Lambda("softmax", (x) => softmax(x));
/** Log-softmax over the last axis. */
export const LogSoftmax = (): Lambda => new Lambda("log_softmax", (x) => logSoftmax(x));
/** Merges the axes `startDim`..`endDim` (default: all but the batch axis) into one. */
export const Flatten = (startDim = 1, endDim = -1): Lambda => new Lambda("flatten", (x) => flatten(x, startDim, endDim));

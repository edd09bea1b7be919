import { flatten } from "../engine/ops/shape.ts";
import { logSoftmax, softmax } from "../engine/ops/softmax.ts";
import { gelu, leakyRelu, relu, sigmoid, softplus, tanh } from "../engine/ops/unary.ts";
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

export const ReLU = (): Lambda => new Lambda("relu", relu);
export const LeakyReLU = (negativeSlope = 0.01): Lambda => new Lambda("leaky_relu", (x) => leakyRelu(x, negativeSlope));
export const Tanh = (): Lambda => new Lambda("tanh", tanh);
export const Sigmoid = (): Lambda => new Lambda("sigmoid", sigmoid);
export const GELU = (approximate: "none" | "tanh" = "none"): Lambda => new Lambda("gelu", (x) => gelu(x, approximate));
export const Softplus = (beta = 1, threshold = 20): Lambda => new Lambda("softplus", (x) => softplus(x, beta, threshold));
export const Softmax = (): Lambda => new Lambda("softmax", (x) => softmax(x));
export const LogSoftmax = (): Lambda => new Lambda("log_softmax", (x) => logSoftmax(x));
export const Flatten = (startDim = 1, endDim = -1): Lambda => new Lambda("flatten", (x) => flatten(x, startDim, endDim));

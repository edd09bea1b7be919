import { full } from "../engine/creation.ts";
import { adaptiveAvgPool2d } from "../engine/ops/adaptivePool.ts";
import { batchNorm } from "../engine/ops/batchnorm.ts";
import { type Conv2dOptions, conv2d } from "../engine/ops/conv2d.ts";
import { dropout } from "../engine/ops/dropout.ts";
import { embedding } from "../engine/ops/embedding.ts";
import { layerNorm } from "../engine/ops/layernorm.ts";
import { linear } from "../engine/ops/linear.ts";
import { avgPool2d, maxPool2d, type Pool2dOptions } from "../engine/ops/pool.ts";
import { Random } from "../engine/random.ts";
import type { Tensor } from "../engine/tensor.ts";
import { defaultBound, normalTensor, uniformTensor } from "./init.ts";
import { Module } from "./module.ts";

/** y = x Wᵀ + b; weight [out, in] initialized as PyTorch does. */
export class Linear extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: { bias?: boolean; random?: Random } = {},
  ) {
    super();
    const random = options.random ?? new Random(0);
    const bound = defaultBound(inFeatures);
    this.weight = this.registerParameter("weight", uniformTensor([outFeatures, inFeatures], bound, random)) as Tensor;
    this.bias = this.registerParameter("bias", options.bias === false ? null : uniformTensor([outFeatures], bound, random));
  }

  forward(input: Tensor): Tensor {
    return linear(input, this.weight, this.bias);
  }
}

/** 2-D convolution, weight [out, in/groups, kh, kw], PyTorch's default initialization. */
export class Conv2d extends Module {
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly options: Conv2dOptions;

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], options: Conv2dOptions & { bias?: boolean; random?: Random } = {}) {
    super();
    const random = options.random ?? new Random(0);
    const [kh, kw] = typeof kernelSize === "number" ? [kernelSize, kernelSize] : kernelSize;
    const groups = options.groups ?? 1;
    if (inChannels % groups !== 0 || outChannels % groups !== 0) {
      throw new RangeError(`gradscope: Conv2d: in_channels ${inChannels} and out_channels ${outChannels} must be divisible by groups ${groups}`);
    }
    const bound = defaultBound((inChannels / groups) * kh * kw);
    this.weight = this.registerParameter("weight", uniformTensor([outChannels, inChannels / groups, kh, kw], bound, random)) as Tensor;
    this.bias = this.registerParameter("bias", options.bias === false ? null : uniformTensor([outChannels], bound, random));
    this.options = { stride: options.stride, padding: options.padding, dilation: options.dilation, groups };
  }

  forward(input: Tensor): Tensor {
    return conv2d(input, this.weight, this.bias, this.options);
  }
}

/** Max pooling over NCHW windows. */
export class MaxPool2d extends Module {
  constructor(readonly options: Pool2dOptions) {
    super();
  }

  forward(input: Tensor): Tensor {
    return maxPool2d(input, this.options);
  }
}

/** Average pooling (count_include_pad). */
export class AvgPool2d extends Module {
  constructor(readonly options: Pool2dOptions) {
    super();
  }

  forward(input: Tensor): Tensor {
    return avgPool2d(input, this.options);
  }
}

/** Adaptive average pooling to a fixed [oh, ow] output; [1, 1] is global average pooling. */
export class AdaptiveAvgPool2d extends Module {
  constructor(readonly outputSize: [number, number]) {
    super();
  }

  forward(input: Tensor): Tensor {
    return adaptiveAvgPool2d(input, this.outputSize);
  }
}

/** Batch normalization over channel axis 1 (BatchNorm1d for [N,C]/[N,C,L], BatchNorm2d for NCHW). */
export class BatchNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly runningMean: Tensor;
  readonly runningVar: Tensor;
  readonly numBatchesTracked: Tensor;

  constructor(
    numFeatures: number,
    readonly options: { eps?: number; momentum?: number; affine?: boolean } = {},
  ) {
    super();
    const affine = options.affine ?? true;
    this.weight = this.registerParameter("weight", affine ? full([numFeatures], 1) : null);
    this.bias = this.registerParameter("bias", affine ? full([numFeatures], 0) : null);
    this.runningMean = this.registerBuffer("running_mean", full([numFeatures], 0));
    this.runningVar = this.registerBuffer("running_var", full([numFeatures], 1));
    this.numBatchesTracked = this.registerBuffer("num_batches_tracked", full([], 0, "int32"));
  }

  forward(input: Tensor): Tensor {
    if (this.training) this.numBatchesTracked.ints[0]++;
    return batchNorm(input, this.weight, this.bias, this.runningMean, this.runningVar, { training: this.training, momentum: this.options.momentum, eps: this.options.eps });
  }
}

/** Layer normalization over the trailing `normalizedShape` axes. */
export class LayerNorm extends Module {
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;

  constructor(
    readonly normalizedShape: number[],
    readonly options: { eps?: number; elementwiseAffine?: boolean } = {},
  ) {
    super();
    const affine = options.elementwiseAffine ?? true;
    this.weight = this.registerParameter("weight", affine ? full(normalizedShape, 1) : null);
    this.bias = this.registerParameter("bias", affine ? full(normalizedShape, 0) : null);
  }

  forward(input: Tensor): Tensor {
    return layerNorm(input, this.normalizedShape, this.weight, this.bias, this.options.eps);
  }
}

/** A lookup table of `numEmbeddings` vectors, N(0, 1) initialized; the padding row is zero. */
export class Embedding extends Module {
  readonly weight: Tensor;

  constructor(
    numEmbeddings: number,
    embeddingDim: number,
    readonly options: { paddingIndex?: number | null; random?: Random } = {},
  ) {
    super();
    const random = options.random ?? new Random(0);
    const weight = normalTensor([numEmbeddings, embeddingDim], 1, random);
    const padding = options.paddingIndex ?? null;
    if (padding !== null) weight.data.fill(0, padding * embeddingDim, (padding + 1) * embeddingDim);
    this.weight = this.registerParameter("weight", weight) as Tensor;
  }

  forward(input: Tensor): Tensor {
    return embedding(input, this.weight, this.options.paddingIndex ?? null);
  }
}

/** Inverted dropout with its own seeded generator (active in train mode only). */
export class Dropout extends Module {
  readonly random: Random;

  constructor(
    readonly p = 0.5,
    seed = 0,
  ) {
    super();
    this.random = new Random(seed);
  }

  forward(input: Tensor): Tensor {
    return dropout(input, this.p, this.training, this.random);
  }
}

import { record } from "../autograd.ts";
import { channelAffine, channelSums } from "../kernels/channels.ts";
import { engineMemory } from "../memory.ts";
import { shapeString } from "../shapes.ts";
import { type LayerRecordBase, Tensor } from "../tensor.ts";

/** A batch norm as the per-sample extensions see it (which reject it in train mode). */
export interface BatchNormRecord extends LayerRecordBase {
  /** The op kind the rules dispatch on. */
  readonly kind: "batchnorm";
  /** Whether the batch statistics normalized the input, coupling the samples. */
  readonly training: boolean;
  /** x̂, the normalized input (shaped like the input). */
  readonly normalized: Tensor;
  /** C, the channels normalized. */
  readonly channels: number;
  /** Elements per sample and channel (1 for [N, C]). */
  readonly spatial: number;
}

/** Batch-norm settings; running statistics are updated in train mode (PyTorch semantics). */
export interface BatchNormOptions {
  /** Normalize with the batch's statistics and update the running ones (true) or use the running ones (false). */
  training: boolean;
  /** Weight of the batch's statistics in the running ones: r ← (1 − m)·r + m·batch (default 0.1). */
  momentum?: number;
  /** Added to the variance before the square root (default 1e-5). */
  eps?: number;
}

/**
 * Batch normalization over all axes but the channel axis 1 ([N, C], [N, C, L] or NCHW).
 * Train mode normalizes with the batch mean and biased variance and updates
 * running_var with the unbiased one; eval mode uses the running statistics.
 */
export function batchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor, runningVar: Tensor, options: BatchNormOptions): Tensor {
  const channels = x.shape[1];
  if (x.rank < 2 || runningMean.size !== channels || runningVar.size !== channels || (weight && weight.size !== channels)) {
    throw new RangeError(
      `gradscope: batchnorm: input ${shapeString(x.shape)} needs channel axis 1 of size ${runningMean.size} (weight ${weight ? shapeString(weight.shape) : "none"})`,
    );
  }
  const momentum = options.momentum ?? 0.1;
  const eps = options.eps ?? 1e-5;
  const batch = x.shape[0];
  const spatial = x.size / (batch * channels);
  const count = batch * spatial;
  if (options.training && count <= 1) throw new RangeError(`gradscope: batchnorm in train mode needs more than one value per channel, got input ${shapeString(x.shape)}`);
  const layout = { outer: batch, channels, inner: spatial };
  // Per channel: the center (batch or running mean) and 1/σ; the backward pass reuses 1/σ.
  const centers = new Tensor([channels], "float32", "batchnorm centers");
  const invStds = new Tensor([channels], "float32", "batchnorm 1/σ");
  const sums = options.training ? new Tensor([channels], "float32", "batchnorm sums") : null;
  // Taken after the allocations: growing the memory detaches earlier views.
  const heap = engineMemory.f32;
  if (sums) {
    channelSums(x, layout, sums);
    for (let c = 0; c < channels; c++) heap[centers.offset + c] = heap[sums.offset + c] / count;
    channelSums(x, layout, sums, { y: x, centers });
    for (let c = 0; c < channels; c++) {
      const squares = heap[sums.offset + c];
      heap[invStds.offset + c] = 1 / Math.sqrt(squares / count + eps);
      heap[runningMean.offset + c] = (1 - momentum) * heap[runningMean.offset + c] + momentum * heap[centers.offset + c];
      heap[runningVar.offset + c] = (1 - momentum) * heap[runningVar.offset + c] + momentum * (squares / (count - 1));
    }
  } else {
    for (let c = 0; c < channels; c++) {
      heap[centers.offset + c] = heap[runningMean.offset + c];
      heap[invStds.offset + c] = 1 / Math.sqrt(heap[runningVar.offset + c] + eps);
    }
  }
  const normalized = new Tensor(x.shape, "float32", "batchnorm normalized");
  const out = new Tensor(x.shape, "float32", "batchnorm");
  channelAffine(x, layout, normalized, { center: centers, scale: invStds });
  centers.dispose();
  sums?.dispose();
  channelAffine(normalized, layout, out, { scale: weight, shift: bias });
  return record(out, {
    op: "batchnorm",
    inputs: [x, weight, bias],
    layer: { kind: "batchnorm", input: x, weight, bias, training: options.training, normalized, channels, spatial },
    backward: (gradOut) => {
      const gradWeight = weight?.requiresGrad ? new Tensor(weight.shape, "float32", "batchnorm weight gradient") : null;
      const gradBias = bias?.requiresGrad ? new Tensor(bias.shape, "float32", "batchnorm bias gradient") : null;
      const gradX = x.requiresGrad ? new Tensor(x.shape, "float32", "batchnorm input gradient") : null;
      // Per channel: Σ dy, Σ dy·x̂, then the coefficients of dx = a·dy + b·x̂ + d.
      const [sumGrad, sumGradXhat, a, b, d] = ["Σ dy", "Σ dy·x̂", "a", "b", "d"].map((what) => new Tensor([channels], "float32", `batchnorm backward ${what}`));
      const h = engineMemory.f32;
      channelSums(gradOut, layout, sumGrad);
      channelSums(gradOut, layout, sumGradXhat, { y: normalized });
      if (gradWeight) h.copyWithin(gradWeight.offset, sumGradXhat.offset, sumGradXhat.offset + channels);
      if (gradBias) h.copyWithin(gradBias.offset, sumGrad.offset, sumGrad.offset + channels);
      if (gradX) {
        for (let c = 0; c < channels; c++) {
          const scale = (weight ? h[weight.offset + c] : 1) * h[invStds.offset + c];
          h[a.offset + c] = scale;
          // Train: dx = (w/σ)(dy − mean(dy) − x̂·mean(dy·x̂)); eval: the statistics are constants.
          h[b.offset + c] = options.training ? (-scale * h[sumGradXhat.offset + c]) / count : 0;
          h[d.offset + c] = options.training ? (-scale * h[sumGrad.offset + c]) / count : 0;
        }
        channelAffine(gradOut, layout, gradX, { scale: a, y: normalized, weight: b, shift: d });
      }
      for (const t of [sumGrad, sumGradXhat, a, b, d]) t.dispose();
      return [gradX, gradWeight, gradBias];
    },
  });
}

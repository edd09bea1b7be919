import { record } from "../autograd.ts";
import { engineMemory } from "../memory.ts";
import { shapeString } from "../shapes.ts";
import { Tensor } from "../tensor.ts";

/** Batch-norm settings; running statistics are updated in train mode (PyTorch semantics). */
export interface BatchNormOptions {
  training: boolean;
  momentum?: number;
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
  const heap = engineMemory.f32;
  const mean = new Float64Array(channels);
  const invStd = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    if (options.training) {
      let total = 0;
      for (let n = 0; n < batch; n++) for (let s = 0, base = x.offset + (n * channels + c) * spatial; s < spatial; s++) total += heap[base + s];
      const mu = total / count;
      let squares = 0;
      for (let n = 0; n < batch; n++) {
        for (let s = 0, base = x.offset + (n * channels + c) * spatial; s < spatial; s++) {
          const d = heap[base + s] - mu;
          squares += d * d;
        }
      }
      const variance = squares / count;
      mean[c] = mu;
      invStd[c] = 1 / Math.sqrt(variance + eps);
      heap[runningMean.offset + c] = (1 - momentum) * heap[runningMean.offset + c] + momentum * mu;
      heap[runningVar.offset + c] = (1 - momentum) * heap[runningVar.offset + c] + momentum * (squares / (count - 1));
    } else {
      mean[c] = heap[runningMean.offset + c];
      invStd[c] = 1 / Math.sqrt(heap[runningVar.offset + c] + eps);
    }
  }
  const normalized = new Tensor(x.shape, "float32", "batchnorm normalized");
  const out = new Tensor(x.shape, "float32", "batchnorm");
  for (let n = 0; n < batch; n++) {
    for (let c = 0; c < channels; c++) {
      const base = (n * channels + c) * spatial;
      const scale = weight ? heap[weight.offset + c] : 1;
      const shift = bias ? heap[bias.offset + c] : 0;
      for (let s = 0; s < spatial; s++) {
        const xhat = (heap[x.offset + base + s] - mean[c]) * invStd[c];
        heap[normalized.offset + base + s] = xhat;
        heap[out.offset + base + s] = xhat * scale + shift;
      }
    }
  }
  return record(out, {
    op: "batchnorm",
    inputs: [x, weight, bias],
    layer: { kind: "batchnorm", input: x, weight, bias, hyper: { training: options.training, normalized, channels, spatial } },
    backward: (gradOut) => {
      const h = engineMemory.f32;
      const gradWeight = weight?.requiresGrad ? new Tensor(weight.shape, "float32", "batchnorm weight gradient") : null;
      const gradBias = bias?.requiresGrad ? new Tensor(bias.shape, "float32", "batchnorm bias gradient") : null;
      const gradX = x.requiresGrad ? new Tensor(x.shape, "float32", "batchnorm input gradient") : null;
      for (let c = 0; c < channels; c++) {
        let sumGrad = 0;
        let sumGradXhat = 0;
        for (let n = 0; n < batch; n++) {
          const base = (n * channels + c) * spatial;
          for (let s = 0; s < spatial; s++) {
            const g = h[gradOut.offset + base + s];
            sumGrad += g;
            sumGradXhat += g * h[normalized.offset + base + s];
          }
        }
        if (gradWeight) h[gradWeight.offset + c] = sumGradXhat;
        if (gradBias) h[gradBias.offset + c] = sumGrad;
        if (!gradX) continue;
        const scale = (weight ? h[weight.offset + c] : 1) * invStd[c];
        for (let n = 0; n < batch; n++) {
          const base = (n * channels + c) * spatial;
          for (let s = 0; s < spatial; s++) {
            const g = h[gradOut.offset + base + s];
            // Train: dx = (w/σ)(dy − mean(dy) − x̂·mean(dy·x̂)); eval: the statistics are constants.
            h[gradX.offset + base + s] = options.training ? scale * (g - sumGrad / count - (h[normalized.offset + base + s] * sumGradXhat) / count) : scale * g;
          }
        }
      }
      return [gradX, gradWeight, gradBias];
    },
  });
}

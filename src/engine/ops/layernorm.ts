import { record } from "../autograd.ts";
import { engineMemory } from "../memory.ts";
import { shapeString, sizeOf } from "../shapes.ts";
import { Tensor } from "../tensor.ts";

/**
 * Layer normalization over the trailing `normalizedShape` axes (biased variance, eps inside the
 * square root), with an optional elementwise affine weight and bias of that shape.
 */
export function layerNorm(x: Tensor, normalizedShape: readonly number[], weight: Tensor | null, bias: Tensor | null, eps = 1e-5): Tensor {
  const length = sizeOf(normalizedShape);
  const trailing = x.shape.slice(x.rank - normalizedShape.length);
  if (normalizedShape.length > x.rank || trailing.some((d, i) => d !== normalizedShape[i]) || (weight && weight.size !== length) || (bias && bias.size !== length)) {
    throw new RangeError(`gradscope: layernorm: input ${shapeString(x.shape)} must end in ${shapeString(normalizedShape)} (weight ${weight ? shapeString(weight.shape) : "none"})`);
  }
  const rows = x.size / length;
  const heap = engineMemory.f32;
  const invStd = new Float64Array(rows);
  const normalized = new Tensor(x.shape, "float32", "layernorm normalized");
  const out = new Tensor(x.shape, "float32", "layernorm");
  for (let r = 0; r < rows; r++) {
    const base = r * length;
    let total = 0;
    for (let j = 0; j < length; j++) total += heap[x.offset + base + j];
    const mu = total / length;
    let squares = 0;
    for (let j = 0; j < length; j++) {
      const d = heap[x.offset + base + j] - mu;
      squares += d * d;
    }
    invStd[r] = 1 / Math.sqrt(squares / length + eps);
    for (let j = 0; j < length; j++) {
      const xhat = (heap[x.offset + base + j] - mu) * invStd[r];
      heap[normalized.offset + base + j] = xhat;
      heap[out.offset + base + j] = xhat * (weight ? heap[weight.offset + j] : 1) + (bias ? heap[bias.offset + j] : 0);
    }
  }
  return record(out, {
    op: "layernorm",
    inputs: [x, weight, bias],
    layer: { kind: "layernorm", input: x, weight, bias, hyper: { normalized, length } },
    backward: (gradOut) => {
      const h = engineMemory.f32;
      const gradWeight = weight?.requiresGrad ? new Tensor(weight.shape, "float32", "layernorm weight gradient") : null;
      const gradBias = bias?.requiresGrad ? new Tensor(bias.shape, "float32", "layernorm bias gradient") : null;
      const gradX = x.requiresGrad ? new Tensor(x.shape, "float32", "layernorm input gradient") : null;
      if (gradWeight) h.fill(0, gradWeight.offset, gradWeight.offset + length);
      if (gradBias) h.fill(0, gradBias.offset, gradBias.offset + length);
      for (let r = 0; r < rows; r++) {
        const base = r * length;
        let meanGrad = 0;
        let meanGradXhat = 0;
        for (let j = 0; j < length; j++) {
          const g = h[gradOut.offset + base + j];
          const xhat = h[normalized.offset + base + j];
          if (gradWeight) h[gradWeight.offset + j] += g * xhat;
          if (gradBias) h[gradBias.offset + j] += g;
          const gxhat = g * (weight ? h[weight.offset + j] : 1);
          meanGrad += gxhat;
          meanGradXhat += gxhat * xhat;
        }
        if (!gradX) continue;
        meanGrad /= length;
        meanGradXhat /= length;
        // dx = (1/σ)(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂))
        for (let j = 0; j < length; j++) {
          const gxhat = h[gradOut.offset + base + j] * (weight ? h[weight.offset + j] : 1);
          h[gradX.offset + base + j] = invStd[r] * (gxhat - meanGrad - h[normalized.offset + base + j] * meanGradXhat);
        }
      }
      return [gradX, gradWeight, gradBias];
    },
  });
}

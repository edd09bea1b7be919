import { record } from "../autograd.ts";
import { channelAffine, channelSums } from "../kernels/channels.ts";
import { engineMemory } from "../memory.ts";
import { shapeString, sizeOf } from "../shapes.ts";
import { type LayerRecordBase, Tensor } from "../tensor.ts";

/** A layer norm as the per-sample extensions see it. */
export interface LayerNormRecord extends LayerRecordBase {
  /** The op kind the rules dispatch on. */
  readonly kind: "layernorm";
  /** x̂, the normalized input (shaped like the input). */
  readonly normalized: Tensor;
  /** Elements normalized together: the size of the trailing axes (and of the weight). */
  readonly length: number;
}

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
  // Statistics per row (rows as channels of one block), the affine per position (inner 1).
  const perRow = { outer: 1, channels: rows, inner: length };
  const perPosition = { outer: rows, channels: length, inner: 1 };
  const means = new Tensor([rows], "float32", "layernorm means");
  const invStds = new Tensor([rows], "float32", "layernorm 1/σ");
  const normalized = new Tensor(x.shape, "float32", "layernorm normalized");
  const out = new Tensor(x.shape, "float32", "layernorm");
  channelSums(x, perRow, means);
  const heap = engineMemory.f32;
  for (let r = 0; r < rows; r++) heap[means.offset + r] /= length;
  channelSums(x, perRow, invStds, { y: x, centers: means });
  for (let r = 0; r < rows; r++) heap[invStds.offset + r] = 1 / Math.sqrt(heap[invStds.offset + r] / length + eps);
  channelAffine(x, perRow, normalized, { center: means, scale: invStds });
  channelAffine(normalized, perPosition, out, { scale: weight, shift: bias });
  means.dispose();
  return record(out, {
    op: "layernorm",
    inputs: [x, weight, bias],
    layer: { kind: "layernorm", input: x, weight, bias, normalized, length },
    backward: (gradOut) => {
      const gradWeight = weight?.requiresGrad ? new Tensor(weight.shape, "float32", "layernorm weight gradient") : null;
      const gradBias = bias?.requiresGrad ? new Tensor(bias.shape, "float32", "layernorm bias gradient") : null;
      const gradX = x.requiresGrad ? new Tensor(x.shape, "float32", "layernorm input gradient") : null;
      if (gradWeight) channelSums(gradOut, perPosition, gradWeight, { y: normalized });
      if (gradBias) channelSums(gradOut, perPosition, gradBias);
      if (!gradX) return [gradX, gradWeight, gradBias];
      // dx = (1/σ)(dx̂ − mean(dx̂) − x̂·mean(dx̂·x̂)) with dx̂ = dy·w, as a·dx̂ + b·x̂ + d per row.
      const gradXhat = weight ? new Tensor(x.shape, "float32", "layernorm dx̂") : gradOut;
      if (weight) channelAffine(gradOut, perPosition, gradXhat, { scale: weight });
      const [a, b, d] = ["a", "b", "d"].map((what) => new Tensor([rows], "float32", `layernorm backward ${what}`));
      channelSums(gradXhat, perRow, d);
      channelSums(gradXhat, perRow, b, { y: normalized });
      const h = engineMemory.f32;
      for (let r = 0; r < rows; r++) {
        const invStd = h[invStds.offset + r];
        h[a.offset + r] = invStd;
        h[b.offset + r] = (-invStd * h[b.offset + r]) / length;
        h[d.offset + r] = (-invStd * h[d.offset + r]) / length;
      }
      channelAffine(gradXhat, perRow, gradX, { scale: a, y: normalized, weight: b, shift: d });
      for (const t of [a, b, d]) t.dispose();
      if (gradXhat !== gradOut) gradXhat.dispose();
      return [gradX, gradWeight, gradBias];
    },
  });
}

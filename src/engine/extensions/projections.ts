import { noGrad } from "../autograd.ts";
import { tensor } from "../creation.ts";
import { MIN_ELEMENTWISE_PER_THREAD } from "../kernels/elementwise.ts";
import { float64Results, rowDots } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import { conv2d } from "../ops/conv2d.ts";
import { linear } from "../ops/linear.ts";
import { scope } from "../scope.ts";
import { type LayerRecord, Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import { runRanges } from "../threads/settings.ts";
import { rejectCoupledSamples } from "./individualGradients.ts";
import { applyRule, type PerKind, type RecordOf } from "./layerKinds.ts";

/** Which parameter of a layer a statistic is for. */
export type ParameterRole = "weight" | "bias";

// Every supported layer is linear in each of its parameters, so g_iᵀd = s·⟨δ_i, J_θ(x_i)·d⟩:
// the layer's output change along d, paired with the sample's output gradient. That is one
// forward-like pass per direction and never forms the N×D per-sample gradients.

/** out[i] = Σ over sample i's elements of a·b, for two [N, ...] tensors of the same size. */
function sampleDots(a: Tensor, b: Tensor, batch: number): Float64Array {
  return rowDots(a.ptr, b.ptr, batch, a.size / batch);
}

interface ChannelLayout {
  batch: number;
  channels: number;
  positions: number;
  channelsFirst: boolean;
}

/** out[i] = Σ_{c,p} values[i,c,p]·(weights[i,c,p] or 1)·d[c]: a per-channel direction (bias, norm scale). */
function channelDots(values: Tensor, weights: Tensor | null, direction: Tensor, layout: ChannelLayout): Float64Array {
  const { batch, channels, positions, channelsFirst } = layout;
  return float64Results(batch, (out) =>
    runRanges(splitRange(batch, 1, partsFor(values.size, MIN_ELEMENTWISE_PER_THREAD)), (first, end) => ({
      kernel: "channelDots",
      args: [values.ptr, weights?.ptr ?? 0, direction.ptr, channels, positions, channelsFirst ? 1 : 0, first, end, out],
    })),
  );
}

function projectLinear(layer: RecordOf<"linear">, gradOut: Tensor, role: ParameterRole, direction: Tensor): Float64Array {
  const batch = layer.input.shape[0];
  const outFeatures = gradOut.shape[gradOut.rank - 1];
  const positions = gradOut.size / (batch * outFeatures);
  // Without middle axes the per-channel sum is a plain dot product, which SIMD does in float64.
  if (role === "bias" && positions === 1) return rowDots(gradOut.ptr, direction.ptr, batch, outFeatures, { sharedY: true, precise: true });
  if (role === "bias") return channelDots(gradOut, null, direction, { batch, channels: outFeatures, positions, channelsFirst: false });
  const moved = noGrad(() => linear(layer.input, direction, null));
  const dots = sampleDots(gradOut, moved, batch);
  moved.dispose();
  return dots;
}

function projectConv2d(layer: RecordOf<"conv2d">, gradOut: Tensor, role: ParameterRole, direction: Tensor): Float64Array {
  const { hyper } = layer;
  if (role === "bias") return channelDots(gradOut, null, direction, { batch: hyper.batch, channels: hyper.outChannels, positions: hyper.plane, channelsFirst: true });
  const moved = noGrad(() => conv2d(layer.input, direction, null, hyper));
  const dots = sampleDots(gradOut, moved, hyper.batch);
  moved.dispose();
  return dots;
}

function projectEmbedding(layer: RecordOf<"embedding">, gradOut: Tensor, _role: ParameterRole, direction: Tensor): Float64Array {
  const { paddingIndex, dim, input: indices } = layer;
  const batch = indices.shape[0];
  const positions = indices.size / batch;
  const out = new Float64Array(batch);
  for (let i = 0; i < batch; i++) {
    for (let s = 0; s < positions; s++) {
      const row = engineMemory.i32[indices.offset + i * positions + s];
      if (row === paddingIndex) continue;
      out[i] += engineMemory.kernels.dot(dim, gradOut.ptr + (i * positions + s) * dim * 4, direction.ptr + row * dim * 4);
    }
  }
  return out;
}

function projectLayerNorm(layer: RecordOf<"layernorm">, gradOut: Tensor, role: ParameterRole, direction: Tensor): Float64Array {
  const { normalized, length } = layer;
  const batch = layer.input.shape[0];
  const layout = { batch, channels: length, positions: layer.input.size / (batch * length), channelsFirst: false };
  return channelDots(gradOut, role === "weight" ? normalized : null, direction, layout);
}

function projectBatchNorm(layer: RecordOf<"batchnorm">, gradOut: Tensor, role: ParameterRole, direction: Tensor): Float64Array {
  rejectCoupledSamples(layer);
  const { normalized, channels, spatial } = layer;
  const layout = { batch: layer.input.shape[0], channels, positions: spatial, channelsFirst: true };
  return channelDots(gradOut, role === "weight" ? normalized : null, direction, layout);
}

const rules: PerKind<[gradOut: Tensor, role: ParameterRole, direction: Tensor], Float64Array> = {
  linear: projectLinear,
  conv2d: projectConv2d,
  embedding: projectEmbedding,
  layernorm: projectLayerNorm,
  batchnorm: projectBatchNorm,
};

/** g_iᵀd per sample for one parameter of a layer, with g_i = scale·(per-sample gradient). */
export function projectLayer(layer: LayerRecord, gradOut: Tensor, scale: number, role: ParameterRole, direction: Tensor): Float64Array {
  return applyRule(rules, layer, gradOut, role, direction).map((v) => scale * v);
}

/** g_iᵀd for a direction that is known only after the backward pass (e.g. the optimizer's step). */
export interface DeferredProjection {
  /** g_iᵀd per sample for a direction d shaped like the parameter. */
  project(direction: Tensor): Float64Array;
}

interface TensorCopy {
  values: Float32Array | Int32Array;
  shape: readonly number[];
  dtype: Tensor["dtype"];
}

const copyOf = (t: Tensor): TensorCopy => ({ values: t.dtype === "int32" ? t.ints.slice() : t.data.slice(), shape: t.shape, dtype: t.dtype });
const restore = (copy: TensorCopy): Tensor => tensor(copy.values, copy.shape, copy.dtype);

/**
 * A layer's input, output gradient and saved intermediates, copied out of the engine (whose
 * step tensors are freed) so g_iᵀd can be projected later: N·(in + out) numbers per layer
 * instead of the N·D per-sample gradients.
 */
export class LayerSnapshot {
  private readonly gradOut: TensorCopy;
  // The record's fields apart from its parameters: saved tensors (the input, LayerNorm's and
  // BatchNorm's x̂) copied apart from the plain values (kind, geometry, sizes).
  private readonly values: Array<[string, unknown]>;
  private readonly savedTensors: Array<[string, TensorCopy]>;

  constructor(
    layer: LayerRecord,
    gradOut: Tensor,
    private readonly scale: number,
  ) {
    rejectCoupledSamples(layer);
    this.gradOut = copyOf(gradOut);
    const entries = Object.entries(layer).filter(([key]) => key !== "weight" && key !== "bias");
    this.values = entries.filter(([, value]) => !(value instanceof Tensor));
    this.savedTensors = entries.flatMap(([key, value]) => (value instanceof Tensor ? [[key, copyOf(value)] as [string, TensorCopy]] : []));
  }

  /** The deferred projection of one of the layer's parameters. */
  projection(role: ParameterRole): DeferredProjection {
    return {
      project: (direction) =>
        scope(() => {
          const restored = Object.fromEntries([...this.values, ...this.savedTensors.map(([key, copy]) => [key, restore(copy)])]);
          // The same fields as the record the constructor was given, so the same kind of record.
          const layer = { ...restored, weight: null, bias: null } as LayerRecord;
          return projectLayer(layer, restore(this.gradOut), this.scale, role, direction);
        }),
    };
  }
}

import { topologicalOrder } from "../autograd.ts";
import { gemm } from "../kernels/gemm.ts";
import { sumAxisInto } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import { perSampleWeightGradients } from "../ops/convSamples.ts";
import { type LayerRecord, Tensor } from "../tensor.ts";
import { applyRule, type PerKind, type RecordOf } from "./layerKinds.ts";

/** Per-sample gradients g_i of one parameter, [N, *param.shape]. */
export interface ParameterGradients {
  parameter: Tensor;
  gradients: Tensor;
}

function perSampleTensor(parameter: Tensor, batch: number): Tensor {
  return new Tensor([batch, ...parameter.shape], "float32", `individual gradients of ${parameter.name ?? "a parameter"}`);
}

// Linear: g_i(W) = Σ_s δ_is a_isᵀ (s runs over middle axes), g_i(b) = Σ_s δ_is.
function linear(layer: RecordOf<"linear">, gradOut: Tensor, scale: number): ParameterGradients[] {
  const { input, weight, bias } = layer;
  const batch = input.shape[0];
  const inFeatures = input.shape[input.rank - 1];
  const outFeatures = gradOut.shape[gradOut.rank - 1];
  const positions = input.size / (batch * inFeatures);
  const result: ParameterGradients[] = [];
  if (weight?.requiresGrad) {
    const out = perSampleTensor(weight, batch);
    for (let i = 0; i < batch; i++) {
      gemm({
        transA: true,
        transB: false,
        m: outFeatures,
        n: inFeatures,
        k: positions,
        alpha: scale,
        a: gradOut.ptr + i * positions * outFeatures * 4,
        lda: outFeatures,
        b: input.ptr + i * positions * inFeatures * 4,
        ldb: inFeatures,
        beta: 0,
        c: out.ptr + i * outFeatures * inFeatures * 4,
        ldc: inFeatures,
      });
    }
    result.push({ parameter: weight, gradients: out });
  }
  if (bias?.requiresGrad) result.push({ parameter: bias, gradients: sumPositions(bias, gradOut, batch, positions, outFeatures, scale) });
  return result;
}

// Σ over the positions of each sample: [N, positions, channels] (or [N, channels, positions]) -> [N, channels].
function sumPositions(parameter: Tensor, values: Tensor, batch: number, positions: number, channels: number, scale: number, channelsFirst = false): Tensor {
  const out = perSampleTensor(parameter, batch);
  if (channelsFirst) sumAxisInto(values.ptr, batch * channels, positions, 1, scale, out.ptr);
  else sumAxisInto(values.ptr, batch, positions, channels, scale, out.ptr);
  return out;
}

// Conv2d: g_i(W_g) = δ_ig · unfold(x_i)_gᵀ per group, g_i(b) = Σ_p δ_i.
function conv2d(layer: RecordOf<"conv2d">, gradOut: Tensor, scale: number): ParameterGradients[] {
  const { input, weight, bias, hyper } = layer;
  const batch = input.shape[0];
  const result: ParameterGradients[] = [];
  if (weight?.requiresGrad) {
    const out = perSampleTensor(weight, batch);
    perSampleWeightGradients(hyper, input, gradOut, scale, out);
    result.push({ parameter: weight, gradients: out });
  }
  if (bias?.requiresGrad) result.push({ parameter: bias, gradients: conv2dBiasGradients(layer, gradOut, scale) });
  return result;
}

// Per-sample gradients of this many floats (16 MB) are formed at once where a statistic reduces
// them chunk by chunk.
const CHUNK_FLOATS = 1 << 22;

/**
 * A conv layer's per-sample weight gradients g_i = s·δ_i·unfold(x_i)ᵀ a chunk of samples at a
 * time, so that N×D floats are never held at once: `visit` gets each chunk's first sample and
 * its gradients [count, *weight.shape], freed when it returns. `budget`: floats per chunk.
 */
export function forEachConvWeightChunk(layer: RecordOf<"conv2d">, gradOut: Tensor, scale: number, visit: (first: number, gradients: Tensor) => void, budget = CHUNK_FLOATS): void {
  const { input, hyper } = layer;
  const weight = layer.weight as Tensor;
  const count = Math.max(1, Math.min(hyper.batch, Math.floor(budget / weight.size)));
  const inputPerSample = input.size / hyper.batch;
  const gradOutPerSample = gradOut.size / hyper.batch;
  for (let first = 0; first < hyper.batch; first += count) {
    const samples = Math.min(count, hyper.batch - first);
    const whole = samples === hyper.batch;
    // A chunk of samples is a smaller batch: its input and output gradient copied apart.
    const chunkInput = whole ? input : sampleRange(input, first, samples, inputPerSample);
    const chunkGradOut = whole ? gradOut : sampleRange(gradOut, first, samples, gradOutPerSample);
    const gradients = perSampleTensor(weight, samples);
    perSampleWeightGradients({ ...hyper, batch: samples }, chunkInput, chunkGradOut, scale, gradients);
    if (!whole) for (const t of [chunkInput, chunkGradOut]) t.dispose();
    visit(first, gradients);
    gradients.dispose();
  }
}

function sampleRange(x: Tensor, first: number, samples: number, perSample: number): Tensor {
  const out = new Tensor([samples, ...x.shape.slice(1)], "float32", "a chunk of samples");
  engineMemory.f32.copyWithin(out.offset, x.offset + first * perSample, x.offset + (first + samples) * perSample);
  return out;
}

/** A conv layer's per-sample bias gradients s·Σ_p δ_i, [N, out]: small enough to be the closed form. */
export function conv2dBiasGradients(layer: RecordOf<"conv2d">, gradOut: Tensor, scale: number): Tensor {
  const { batch, outChannels, plane } = layer.hyper;
  return sumPositions(layer.bias as Tensor, gradOut, batch, plane, outChannels, scale, true);
}

// Embedding: g_i(E)[row] = Σ over sample i's positions with that index of δ (padding row: 0).
function embedding(layer: RecordOf<"embedding">, gradOut: Tensor, scale: number): ParameterGradients[] {
  const { input: indices, weight, paddingIndex, dim } = layer;
  if (!weight?.requiresGrad) return [];
  const batch = indices.shape[0];
  const positions = indices.size / batch;
  const out = perSampleTensor(weight, batch);
  const heap = engineMemory.f32;
  const ints = engineMemory.i32;
  heap.fill(0, out.offset, out.offset + out.size);
  const perSample = weight.size;
  for (let i = 0; i < batch; i++) {
    for (let s = 0; s < positions; s++) {
      const row = ints[indices.offset + i * positions + s];
      if (row === paddingIndex) continue;
      const dst = out.offset + i * perSample + row * dim;
      const src = gradOut.offset + (i * positions + s) * dim;
      for (let j = 0; j < dim; j++) heap[dst + j] += scale * heap[src + j];
    }
  }
  return [{ parameter: weight, gradients: out }];
}

// LayerNorm: g_i(w) = Σ_rows of sample i δ ⊙ x̂, g_i(b) = Σ_rows δ.
function layerNorm(layer: RecordOf<"layernorm">, gradOut: Tensor, scale: number): ParameterGradients[] {
  const { weight, bias, input, normalized, length } = layer;
  const batch = input.shape[0];
  const rows = input.size / (batch * length);
  const result: ParameterGradients[] = [];
  const heap = engineMemory.f32;
  if (weight?.requiresGrad) {
    const out = perSampleTensor(weight, batch);
    for (let i = 0; i < batch; i++) {
      for (let j = 0; j < length; j++) {
        let total = 0;
        for (let r = 0; r < rows; r++) {
          const k = (i * rows + r) * length + j;
          total += heap[gradOut.offset + k] * heap[normalized.offset + k];
        }
        heap[out.offset + i * length + j] = scale * total;
      }
    }
    result.push({ parameter: weight, gradients: out });
  }
  if (bias?.requiresGrad) result.push({ parameter: bias, gradients: sumPositions(bias, gradOut, batch, rows, length, scale) });
  return result;
}

// A layer by its module path (its weight is named "<path>.weight" in a built model).
const layerName = (layer: LayerRecord): string => layer.weight?.name?.replace(/\.weight$/, "") ?? layer.kind;

/** Throws for a batch norm in train mode, whose batch statistics couple the samples' gradients. */
export function rejectCoupledSamples(layer: LayerRecord): void {
  if (layer.kind === "batchnorm" && layer.training) {
    throw new Error(
      `gradscope: per-sample gradients are not defined for batch norm in train mode (layer ${layerName(layer)}): the batch statistics couple the samples; use eval mode or skip the quantity`,
    );
  }
}

/**
 * The layers of `loss`'s graph whose batch statistics couple the samples (batch norms in train
 * mode), by name: where there are any, per-sample statistics are not defined.
 */
export function coupledLayers(loss: Tensor): string[] {
  return topologicalOrder(loss).flatMap((t) => {
    const layer = t.node?.layer;
    return layer?.kind === "batchnorm" && layer.training ? [layerName(layer)] : [];
  });
}

// BatchNorm (eval mode only): g_i(w)_c = Σ_spatial δ ⊙ x̂, g_i(b)_c = Σ_spatial δ.
function batchNorm(layer: RecordOf<"batchnorm">, gradOut: Tensor, scale: number): ParameterGradients[] {
  const { weight, bias, input, normalized, channels, spatial } = layer;
  rejectCoupledSamples(layer);
  const batch = input.shape[0];
  const result: ParameterGradients[] = [];
  const heap = engineMemory.f32;
  if (weight?.requiresGrad) {
    const out = perSampleTensor(weight, batch);
    for (let i = 0; i < batch; i++) {
      for (let c = 0; c < channels; c++) {
        let total = 0;
        const base = (i * channels + c) * spatial;
        for (let s = 0; s < spatial; s++) total += heap[gradOut.offset + base + s] * heap[normalized.offset + base + s];
        heap[out.offset + i * channels + c] = scale * total;
      }
    }
    result.push({ parameter: weight, gradients: out });
  }
  if (bias?.requiresGrad) result.push({ parameter: bias, gradients: sumPositions(bias, gradOut, batch, spatial, channels, scale, true) });
  return result;
}

const rules: PerKind<[gradOut: Tensor, scale: number], ParameterGradients[]> = {
  linear,
  conv2d,
  embedding,
  layernorm: layerNorm,
  batchnorm: batchNorm,
};

/**
 * Materializes the per-sample gradients g_i = scale · ∂(Σ_j gradOut_j·out_j)_i/∂θ of a layer's
 * parameters: the fallback every statistic can be reduced from.
 */
export function individualGradients(layer: LayerRecord, gradOut: Tensor, scale: number): ParameterGradients[] {
  return applyRule(rules, layer, gradOut, scale);
}

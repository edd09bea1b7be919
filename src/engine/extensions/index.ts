import { backward } from "../autograd.ts";
import { gramsRunInBackground } from "../kernels/gemm.ts";
import type { Tensor } from "../tensor.ts";
import { awaitAllBackground } from "../threads/settings.ts";
import { DiagonalCurvature } from "./diagonalCurvature.ts";
import { type StartedLayer, startLayer } from "./layerStatistics.ts";
import type { ExtensionRequest, ParameterStatistics } from "./types.ts";

export type { Histogram1dSpec, Histogram2dSpec } from "./histograms.ts";
export { histogram1d, histogram2d } from "./histograms.ts";
export { coupledLayers } from "./individualGradients.ts";

export type { DeferredProjection } from "./projections.ts";
export type { CurvatureKind, DiagonalCurvatureRequest, ExtensionRequest, ParameterStatistics } from "./types.ts";

/** Options of `backwardWithExtensions`. */
export interface ExtensionBackwardOptions {
  /** Seed gradient for a non-scalar output (per-sample scale then defaults to 1). */
  gradient?: Tensor;
  /**
   * s in g_i = s·(per-sample gradient of the differentiated objective). Defaults to N when the
   * loss is the mean of a per-sample loss vector of length N (the loss convention), else 1.
   */
  perSampleScale?: number;
}

/** The per-sample loss vector ℓ behind a loss L = mean(ℓ) (following reshapes), or null. */
export function perSampleLosses(loss: Tensor): Tensor | null {
  let node = loss.node;
  while (node?.op === "reshape") node = node.inputs[0]?.node ?? null;
  const input = node?.inputs[0];
  return node?.op === "mean" && input && input.rank === 1 ? input : null;
}

/** N when the loss is the mean of a per-sample vector of length N. */
function inferPerSampleScale(loss: Tensor): number {
  const losses = perSampleLosses(loss);
  if (losses) return losses.shape[0];
  if (loss.size === 1) {
    throw new Error("gradscope: per-sample extensions need the loss as the mean of a per-sample loss vector (e.g. mean(crossEntropy(...))), or an explicit perSampleScale");
  }
  return 1;
}

/**
 * `backward(loss)` that also computes the requested per-sample statistics, layer by layer
 * inside the pass. Parameters' `.grad` are accumulated exactly as by `backward`.
 */
export function backwardWithExtensions(loss: Tensor, request: ExtensionRequest, options: ExtensionBackwardOptions = {}): Map<Tensor, ParameterStatistics> {
  const results = new Map<Tensor, ParameterStatistics>();
  const anything = Object.values(request).some((value) => value !== undefined && value !== false);
  if (!anything) {
    backward(loss, { gradient: options.gradient });
    return results;
  }
  const scale = options.perSampleScale ?? (options.gradient ? 1 : inferPerSampleScale(loss));
  const curvature = request.diagonalCurvature ? new DiagonalCurvature(request.diagonalCurvature) : null;
  // With worker threads, each Linear layer's Grams run on them from where the pass reaches the
  // layer while the pass goes on (its weight gradient's product first); the layers that read
  // them are reduced after the pass, in the order it reached them. (Starting the inputs' Grams
  // before the pass measured slower: the workers then miss the rounds of the layers between.)
  const background = gramsRunInBackground();
  const waiting: Array<{ layer: StartedLayer; gradOut: Tensor }> = [];
  // A kept output gradient is the hook's to free, unless it is the caller's seed.
  const release = ({ gradOut }: { gradOut: Tensor }) => {
    if (gradOut !== options.gradient) gradOut.dispose();
  };
  try {
    backward(loss, {
      gradient: options.gradient,
      onLayer: (layer, gradOut, keep) => {
        const started = startLayer(layer, gradOut, scale, request, results, background);
        if (!started.inBackground) return started.finish();
        keep();
        waiting.push({ layer: started, gradOut });
      },
      onNode: curvature?.onNode,
    });
    for (; waiting.length > 0; waiting.shift()) {
      waiting[0].layer.finish();
      release(waiting[0]);
    }
  } finally {
    // After a failure, nothing may be freed while the worker threads still read it.
    awaitAllBackground();
    for (const entry of waiting) {
      entry.layer.dispose();
      release(entry);
    }
  }
  curvature?.finish(results);
  return results;
}

import { MIN_GEMM_WORK_PER_THREAD } from "../kernels/gemm.ts";
import { engineMemory } from "../memory.ts";
import type { Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import { runRanges } from "../threads/settings.ts";
import type { DepthwiseGeometryArguments } from "../wasm.ts";
import type { Conv2dHyper } from "./conv2d.ts";

// The modes of assembly/depthwise.ts.
export const DEPTHWISE_FORWARD = 0;
export const DEPTHWISE_INPUT_GRADIENT = 1;
export const DEPTHWISE_WEIGHT_GRADIENT = 2;

// Depthwise convolutions (one input channel per group, MobileNet's) run on zero-padded planes
// in a direct kernel: im2col would unfold a kh·kw-row matrix per sample and channel for a GEMM
// with a single output row. Measured forward + backward (batch 64, 128 channels, 16x16, 3x3,
// shared 2-core machine): about 4x faster than that GEMM route, and faster than a dense 1x1
// conv with the same input and output shapes.
export function isDepthwise(hyper: Conv2dHyper): boolean {
  return hyper.groups > 1 && hyper.geometry.channels === 1;
}

/**
 * Runs one mode of assembly/depthwise.ts (see depthwiseConv there for a, b and c), the output
 * channels split over the threads in whole input channels. Each channel's weight gradient is
 * summed over the samples in order on one thread, so the bits do not depend on the split.
 */
export function depthwise(mode: number, hyper: Conv2dHyper, a: Tensor, b: Tensor, c: Tensor): void {
  const g = hyper.geometry;
  const kernels = engineMemory.kernels;
  const scratchBytes = 4 * kernels.depthwiseScratchFloats(g.height, g.width, g.kernelH, g.kernelW, g.padH, g.padW, g.dilationH, g.dilationW);
  const geometry: DepthwiseGeometryArguments = [
    hyper.batch,
    hyper.inChannels,
    hyper.groupOut,
    g.height,
    g.width,
    g.kernelH,
    g.kernelW,
    g.strideH,
    g.strideW,
    g.padH,
    g.padW,
    g.dilationH,
    g.dilationW,
    g.outH,
    g.outW,
  ];
  const work = hyper.batch * hyper.outChannels * hyper.plane * g.kernelH * g.kernelW;
  const ranges = splitRange(hyper.outChannels, hyper.groupOut, partsFor(work, MIN_GEMM_WORK_PER_THREAD));
  runRanges(ranges, (first, end, thread) => ({
    kernel: "depthwiseConv",
    args: [mode, a.ptr, b.ptr, c.ptr, engineMemory.workspace(scratchBytes, thread), first, end, ...geometry],
  }));
}

import { engineMemory } from "../memory.ts";

/** Geometry of a 2-D convolution or pooling window over one NCHW input. */
export interface ConvGeometry {
  /** Input channels (of one group, for a grouped convolution). */
  channels: number;
  /** Input height. */
  height: number;
  /** Input width. */
  width: number;
  /** Kernel height. */
  kernelH: number;
  /** Kernel width. */
  kernelW: number;
  /** Vertical stride. */
  strideH: number;
  /** Horizontal stride. */
  strideW: number;
  /** Zero rows added above and below. */
  padH: number;
  /** Zero columns added left and right. */
  padW: number;
  /** Vertical spacing of kernel elements. */
  dilationH: number;
  /** Horizontal spacing of kernel elements. */
  dilationW: number;
  /** Output height. */
  outH: number;
  /** Output width. */
  outW: number;
}

/** Output size along one axis: floor((in + 2p − d(k−1) − 1)/s) + 1 (PyTorch's formula). */
export function convOutputSize(input: number, kernel: number, stride: number, padding: number, dilation: number): number {
  return Math.floor((input + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1;
}

/** The geometry as the kernels take it: channels, height, width, kernel, stride, padding, dilation (each h, w), outH, outW. */
export function geometryArgs(g: ConvGeometry): [number, number, number, number, number, number, number, number, number, number, number, number, number] {
  return [g.channels, g.height, g.width, g.kernelH, g.kernelW, g.strideH, g.strideW, g.padH, g.padW, g.dilationH, g.dilationW, g.outH, g.outW];
}

/**
 * Unfolds `channels` input planes (starting at element `src`) into columns
 * [channels·kh·kw, outH·outW] at element `dst`, rows `rowStride` elements apart (default
 * outH·outW; wider when several samples' columns sit side by side); padding reads as zero. WASM.
 */
export function im2col(g: ConvGeometry, src: number, dst: number, rowStride = g.outH * g.outW): void {
  engineMemory.kernels.im2col(src * 4, dst * 4, ...geometryArgs(g), rowStride);
}

/** The adjoint of im2col: adds columns at element `src` (rows `rowStride` apart) back into the planes at `dst`. WASM. */
export function col2imAdd(g: ConvGeometry, src: number, dst: number, rowStride = g.outH * g.outW): void {
  engineMemory.kernels.col2imAdd(src * 4, dst * 4, ...geometryArgs(g), rowStride);
}

/**
 * Adds fold(Wᵀ·δ) into the input gradient planes at element `gradX`: δ at element `delta` is one
 * sample's [channelsOut, outH·outW] output gradient, mostly zero, and W at element `weight` the
 * [channelsOut, channels·kh·kw] weight. Work follows δ's nonzeros, and the unfolded gradient
 * never leaves the cache. WASM.
 */
export function sparseConvInputGradient(g: ConvGeometry, delta: number, channelsOut: number, weight: number, gradX: number): void {
  const kernels = engineMemory.kernels;
  const work = engineMemory.workspace(kernels.sparseConvInputGradientWorkspaceBytes(channelsOut, g.channels * g.kernelH * g.kernelW));
  const [channels, ...window] = geometryArgs(g);
  kernels.sparseConvInputGradient(delta * 4, channelsOut, weight * 4, gradX * 4, channels, ...window, work);
}

/** TypeScript reference of `im2col`, used by the kernel tests. */
export function referenceIm2col(g: ConvGeometry, src: number, dst: number): void {
  const heap = engineMemory.f32;
  const plane = g.outH * g.outW;
  let row = dst;
  for (let c = 0; c < g.channels; c++) {
    const channelBase = src + c * g.height * g.width;
    for (let ki = 0; ki < g.kernelH; ki++) {
      for (let kj = 0; kj < g.kernelW; kj++) {
        let out = row;
        for (let oh = 0; oh < g.outH; oh++) {
          const ih = oh * g.strideH - g.padH + ki * g.dilationH;
          if (ih < 0 || ih >= g.height) {
            heap.fill(0, out, out + g.outW);
            out += g.outW;
            continue;
          }
          const rowBase = channelBase + ih * g.width;
          let iw = kj * g.dilationW - g.padW;
          for (let ow = 0; ow < g.outW; ow++, iw += g.strideW) heap[out++] = iw >= 0 && iw < g.width ? heap[rowBase + iw] : 0;
        }
        row += plane;
      }
    }
  }
}

/** TypeScript reference of `col2imAdd`, used by the kernel tests. */
export function referenceCol2imAdd(g: ConvGeometry, src: number, dst: number): void {
  const heap = engineMemory.f32;
  let row = src;
  const plane = g.outH * g.outW;
  for (let c = 0; c < g.channels; c++) {
    const channelBase = dst + c * g.height * g.width;
    for (let ki = 0; ki < g.kernelH; ki++) {
      for (let kj = 0; kj < g.kernelW; kj++) {
        let col = row;
        for (let oh = 0; oh < g.outH; oh++) {
          const ih = oh * g.strideH - g.padH + ki * g.dilationH;
          if (ih < 0 || ih >= g.height) {
            col += g.outW;
            continue;
          }
          const rowBase = channelBase + ih * g.width;
          let iw = kj * g.dilationW - g.padW;
          for (let ow = 0; ow < g.outW; ow++, iw += g.strideW, col++) if (iw >= 0 && iw < g.width) heap[rowBase + iw] += heap[col];
        }
        row += plane;
      }
    }
  }
}

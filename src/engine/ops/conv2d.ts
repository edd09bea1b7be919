import { noGrad, record, wantedGradients } from "../autograd.ts";
import { bilinearRules } from "../curvature/rules.ts";
import { gemm, gemmRunsInWasm } from "../kernels/gemm.ts";
import { countNonzero } from "../kernels/reductions.ts";
import { engineMemory } from "../memory.ts";
import { shapeString } from "../shapes.ts";
import { type LayerRecordBase, Tensor } from "../tensor.ts";
import { addBias, biasGradient } from "./bias.ts";
import { convolveBySample, inputGradientBySample, weightGradientBySample } from "./convSamples.ts";
import { DEPTHWISE_FORWARD, DEPTHWISE_INPUT_GRADIENT, DEPTHWISE_WEIGHT_GRADIENT, depthwise, isDepthwise } from "./depthwise.ts";
import { type ConvGeometry, col2imAdd, convOutputSize, im2col, sparseConvInputGradient } from "./im2col.ts";

/** Conv2d hyper-parameters, each spatial one as [h, w]. */
export interface Conv2dOptions {
  /** Step of the kernel (default 1). */
  stride?: number | [number, number];
  /** Zeros added on each side (default 0). */
  padding?: number | [number, number];
  /** Spacing between kernel elements (default 1). */
  dilation?: number | [number, number];
  /** Channel groups: in and out channels are split into this many independent convolutions (default 1; in channels for depthwise). */
  groups?: number;
}

/** Resolved conv2d hyper-parameters, as the per-sample extensions read them. */
export interface Conv2dHyper {
  /** Step of the kernel [h, w]. */
  stride: [number, number];
  /** Zeros added on each side [h, w]. */
  padding: [number, number];
  /** Spacing between kernel elements [h, w]. */
  dilation: [number, number];
  /** Channel groups. */
  groups: number;
  /** One group's geometry, as im2col reads it. */
  geometry: ConvGeometry;
  /** N, the samples in the batch. */
  batch: number;
  /** Input channels (all groups). */
  inChannels: number;
  /** Output channels (all groups). */
  outChannels: number;
  /** Output channels per group. */
  groupOut: number;
  /** Rows of one group's unfolded input: in/groups·kh·kw. */
  patch: number;
  /** Output positions per channel: outH·outW. */
  plane: number;
}

/** A convolution as the per-sample extensions see it: the NCHW input and the resolved geometry. */
export interface Conv2dRecord extends LayerRecordBase {
  /** The op kind the rules dispatch on. */
  readonly kind: "conv2d";
  /** Stride, padding, dilation and groups, resolved to pairs. */
  readonly hyper: Conv2dHyper;
}

const pair = (value: number | [number, number] | undefined, fallback: number): [number, number] =>
  value === undefined ? [fallback, fallback] : typeof value === "number" ? [value, value] : value;

/** Validates shapes and derives the geometry of one group's convolution. */
export function conv2dHyper(x: Tensor, weight: Tensor, options: Conv2dOptions): Conv2dHyper {
  const stride = pair(options.stride, 1);
  const padding = pair(options.padding, 0);
  const dilation = pair(options.dilation, 1);
  const groups = options.groups ?? 1;
  const [outChannels, groupChannels, kernelH, kernelW] = weight.shape;
  if (x.rank !== 4 || weight.rank !== 4 || x.shape[1] !== groupChannels * groups || outChannels % groups !== 0) {
    throw new RangeError(
      `gradscope: conv2d: input ${shapeString(x.shape)} and weight ${shapeString(weight.shape)} with groups ${groups}: expected input [N, ${groupChannels * groups}, H, W] and out channels divisible by groups`,
    );
  }
  const outH = convOutputSize(x.shape[2], kernelH, stride[0], padding[0], dilation[0]);
  const outW = convOutputSize(x.shape[3], kernelW, stride[1], padding[1], dilation[1]);
  if (outH <= 0 || outW <= 0) {
    throw new RangeError(`gradscope: conv2d: input ${shapeString(x.shape)} is smaller than the dilated kernel ${kernelH}x${kernelW} (padding ${padding}, dilation ${dilation})`);
  }
  const geometry: ConvGeometry = {
    channels: groupChannels,
    height: x.shape[2],
    width: x.shape[3],
    kernelH,
    kernelW,
    strideH: stride[0],
    strideW: stride[1],
    padH: padding[0],
    padW: padding[1],
    dilationH: dilation[0],
    dilationW: dilation[1],
    outH,
    outW,
  };
  const [batch, inChannels] = x.shape;
  return {
    stride,
    padding,
    dilation,
    groups,
    geometry,
    batch,
    inChannels,
    outChannels,
    groupOut: outChannels / groups,
    patch: groupChannels * kernelH * kernelW,
    plane: outH * outW,
  };
}

/** The element offset, in the NCHW input, of sample n's first channel of `group`. */
function inputBlock(hyper: Conv2dHyper, n: number, group: number): number {
  const g = hyper.geometry;
  return (n * hyper.inChannels + group * g.channels) * g.height * g.width;
}

/** The element offset, in the NCHW output or its gradient, of sample n's first channel of `group`. */
export function outputBlock(hyper: Conv2dHyper, n: number, group: number): number {
  return (n * hyper.outChannels + group * hyper.groupOut) * hyper.plane;
}

/** Unfolds each (sample, group) input block into one reused column buffer and hands it to `visit`. */
export function forEachUnfolded(x: Tensor, hyper: Conv2dHyper, visit: (sample: number, group: number, columns: Tensor) => void): void {
  const columns = new Tensor([hyper.patch, hyper.plane], "float32", "conv2d columns");
  for (let n = 0; n < hyper.batch; n++) {
    for (let group = 0; group < hyper.groups; group++) {
      im2col(hyper.geometry, x.offset + inputBlock(hyper, n, group), columns.offset);
      visit(n, group, columns);
    }
  }
  columns.dispose();
}

// Unfolded columns of up to this many floats (16 MB) are built at once; a chunk of samples
// shares each GEMM, which is what makes the small per-sample matrices of early layers fast.
const COLUMN_BUDGET = 1 << 17;

/** Samples per chunk so that a chunk's columns [patch, samples·plane] fit the budget. */
function chunkSize(hyper: Conv2dHyper): number {
  return Math.max(1, Math.min(hyper.batch, Math.floor(COLUMN_BUDGET / (hyper.patch * hyper.plane))));
}

// Moves channel rows between NCHW [sample, channel, plane] and chunk order [channel, sample·plane].
function copyChannelRows(hyper: Conv2dHyper, nchw: number, chunk: number, first: number, samples: number, group: number, toChunk: boolean): void {
  const { groupOut, plane } = hyper;
  const heap = engineMemory.f32;
  for (let c = 0; c < groupOut; c++) {
    for (let s = 0; s < samples; s++) {
      const a = nchw + outputBlock(hyper, first + s, group) + c * plane;
      const b = chunk + (c * samples + s) * plane;
      if (toChunk) heap.copyWithin(b, a, a + plane);
      else heap.copyWithin(a, b, b + plane);
    }
  }
}

// Below this fraction of nonzero output gradients, input and per-sample weight gradients are
// summed from the nonzeros (the sparse kernels of assembly/sparseConv.ts) instead of a dense GEMM; measured break-even is
// near 0.4.
const SPARSE_GRADIENT_DENSITY = 0.3;

/** Whether an output gradient is sparse enough for the kernels that follow its nonzeros. */
export function isMostlyZero(gradOut: Tensor): boolean {
  return countNonzero(gradOut) < SPARSE_GRADIENT_DENSITY * gradOut.size;
}

// The buffers of one backward pass: the gradients being formed (zeroed), and whether the output
// gradient is mostly zero, so that the input gradient is summed from its nonzeros.
interface VjpBuffers {
  gradX: Tensor | null;
  gradW: Tensor | null;
  sparse: boolean;
}

/** The gradients [∂x, ∂W, ∂b] of ⟨gradOut, conv2d(x, W) + b⟩ that `wants` asks for. */
function conv2dVjp(hyper: Conv2dHyper, x: Tensor, weight: Tensor, gradOut: Tensor, wants: { x: boolean; weight: boolean; bias: boolean }): Array<Tensor | null> {
  const { batch, outChannels, plane } = hyper;
  const gradX = wants.x ? new Tensor(x.shape, "float32", "conv2d input gradient") : null;
  const gradW = wants.weight ? new Tensor(weight.shape, "float32", "conv2d weight gradient") : null;
  const gradB = wants.bias ? biasGradient(gradOut, { batch, channels: outChannels, positions: plane, channelsLast: false }) : null;
  if (isDepthwise(hyper)) {
    if (gradX) depthwise(DEPTHWISE_INPUT_GRADIENT, hyper, gradOut, weight, gradX);
    if (gradW) depthwise(DEPTHWISE_WEIGHT_GRADIENT, hyper, x, gradOut, gradW);
    return [gradX, gradW, gradB];
  }
  const heap = engineMemory.f32;
  if (gradX) heap.fill(0, gradX.offset, gradX.offset + gradX.size);
  if (gradW) heap.fill(0, gradW.offset, gradW.offset + gradW.size);
  // Mostly zero output gradients (ReLU then max-pooling leave about 20%) reach the input
  // through only their nonzeros, one sample at a time.
  const sparse = gradX !== null && isMostlyZero(gradOut);
  const buffers = { gradX, gradW, sparse };
  if (bySample(hyper)) vjpBySample(hyper, x, weight, gradOut, buffers);
  else vjpByChunk(hyper, x, weight, gradOut, buffers);
  return [gradX, gradW, gradB];
}

// Per sample and group, straight from the NCHW output and input gradients, samples split over
// the threads (convSamples.ts).
function vjpBySample(hyper: Conv2dHyper, x: Tensor, weight: Tensor, gradOut: Tensor, { gradX, gradW, sparse }: VjpBuffers): void {
  if (gradW) weightGradientBySample(hyper, x, gradOut, gradW);
  if (gradX) inputGradientBySample(hyper, gradOut, weight, gradX, sparse);
}

// Chunks of samples side by side (small planes): the output gradient is copied into chunk
// order, ∂W_g += δ_g·columnsᵀ over the chunk, ∂x = fold(W_gᵀ·δ_g).
function vjpByChunk(hyper: Conv2dHyper, x: Tensor, weight: Tensor, gradOut: Tensor, { gradX, gradW, sparse }: VjpBuffers): void {
  const { batch, groupOut, patch, plane, geometry: g } = hyper;
  const chunk = chunkSize(hyper);
  const columns = new Tensor([patch, chunk * plane], "float32", "conv2d columns");
  const delta = new Tensor([groupOut, chunk * plane], "float32", "conv2d chunk gradient");
  // The chunk-order copy of δ feeds the weight gradient and the dense input gradient only.
  const needsDelta = gradW !== null || (gradX !== null && !sparse);
  for (let first = 0; first < batch; first += chunk) {
    const samples = Math.min(chunk, batch - first);
    const width = samples * plane;
    for (let group = 0; group < hyper.groups; group++) {
      const inputStart = (s: number) => inputBlock(hyper, first + s, group);
      const weightOffset = weight.offset + group * groupOut * patch;
      if (needsDelta) copyChannelRows(hyper, gradOut.offset, delta.offset, first, samples, group, true);
      if (gradW) {
        for (let s = 0; s < samples; s++) im2col(g, x.offset + inputStart(s), columns.offset + s * plane, width);
        gemm({
          transA: false,
          transB: true,
          m: groupOut,
          n: patch,
          k: width,
          alpha: 1,
          a: delta.ptr,
          lda: width,
          b: columns.ptr,
          ldb: width,
          beta: 1,
          c: (weightOffset - weight.offset) * 4 + gradW.ptr,
          ldc: patch,
        });
      }
      if (gradX && sparse) {
        for (let s = 0; s < samples; s++) {
          sparseConvInputGradient(g, gradOut.offset + outputBlock(hyper, first + s, group), groupOut, weightOffset, gradX.offset + inputStart(s));
        }
      } else if (gradX) {
        gemm({
          transA: true,
          transB: false,
          m: patch,
          n: width,
          k: groupOut,
          alpha: 1,
          a: weightOffset * 4,
          lda: patch,
          b: delta.ptr,
          ldb: width,
          beta: 0,
          c: columns.ptr,
          ldc: width,
        });
        for (let s = 0; s < samples; s++) col2imAdd(g, columns.offset + s * plane, gradX.offset + inputStart(s), width);
      }
    }
  }
  columns.dispose();
  delta.dispose();
}

// From this many output positions on, each sample's GEMMs read and write NCHW directly; below
// it, chunks of samples share a GEMM and the output (gradient) is copied between layouts.
// Measured forward + backward (batch 64, 3x3 kernels, padding 1): per sample 4.4 against 5.3 ms
// for one input channel at 28x28; equal within noise at 14x14, 10x10, 8x8 and 16x16 with 16 to
// 64 channels. Small planes stay chunked: there a GEMM per sample is mostly packing overhead.
const PER_SAMPLE_PLANE = 64;

// The per-sample kernels run their GEMMs inside WASM; with the native backend every plane takes
// the chunked route, whose products go through gemm() to the BLAS.
function bySample(hyper: Conv2dHyper): boolean {
  return hyper.plane >= PER_SAMPLE_PLANE && gemmRunsInWasm();
}

function convolveByChunk(hyper: Conv2dHyper, x: Tensor, weight: Tensor, out: Tensor): void {
  const { batch, groupOut, patch, plane, geometry: g } = hyper;
  const chunk = chunkSize(hyper);
  const columns = new Tensor([patch, chunk * plane], "float32", "conv2d columns");
  const product = new Tensor([groupOut, chunk * plane], "float32", "conv2d chunk output");
  for (let first = 0; first < batch; first += chunk) {
    const samples = Math.min(chunk, batch - first);
    const width = samples * plane;
    for (let group = 0; group < hyper.groups; group++) {
      for (let s = 0; s < samples; s++) im2col(g, x.offset + inputBlock(hyper, first + s, group), columns.offset + s * plane, width);
      gemm({
        transA: false,
        transB: false,
        m: groupOut,
        n: width,
        k: patch,
        alpha: 1,
        a: weight.ptr + group * groupOut * patch * 4,
        lda: patch,
        b: columns.ptr,
        ldb: width,
        beta: 0,
        c: product.ptr,
        ldc: width,
      });
      copyChannelRows(hyper, out.offset, product.offset, first, samples, group, false);
    }
  }
  columns.dispose();
  product.dispose();
}

/**
 * 2-D convolution (cross-correlation) on NCHW input with weight [out, in/groups, kh, kw]:
 * im2col, then one GEMM per sample and group, or per chunk of samples when the output planes
 * are small.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dOptions = {}): Tensor {
  const hyper = conv2dHyper(x, weight, options);
  const { batch, outChannels, plane, geometry: g } = hyper;
  const out = new Tensor([batch, outChannels, g.outH, g.outW], "float32", "conv2d");
  if (isDepthwise(hyper)) depthwise(DEPTHWISE_FORWARD, hyper, x, weight, out);
  else if (bySample(hyper)) convolveBySample(hyper, x, weight, out);
  else convolveByChunk(hyper, x, weight, out);
  const biasLayout = { batch, channels: outChannels, positions: plane, channelsLast: false };
  if (bias) addBias(out, bias, biasLayout);
  return record(out, {
    op: "conv2d",
    inputs: [x, weight, bias],
    layer: { kind: "conv2d", input: x, weight, bias, hyper },
    backward: (gradOut, needed) => {
      const [wantsX, wantsWeight, wantsBias] = wantedGradients([x, weight, bias], needed);
      return conv2dVjp(hyper, x, weight, gradOut, { x: wantsX, weight: wantsWeight, bias: wantsBias });
    },
    curvature: bilinearRules(
      { x, weight, bias },
      (dx, w, b) => noGrad(() => conv2d(dx, w, b, options)),
      (dx, w, gradOut, wants) => conv2dVjp(hyper, dx, w, gradOut, wants),
    ),
  });
}

import { noGrad, record } from "../autograd.ts";
import { linearRules } from "../curvature/rules.ts";
import { MIN_ELEMENTWISE_PER_THREAD } from "../kernels/elementwise.ts";
import { engineMemory } from "../memory.ts";
import { shapeString } from "../shapes.ts";
import { Tensor } from "../tensor.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import { runRanges } from "../threads/settings.ts";
import type { PoolGeometryArguments } from "../wasm.ts";
import { convOutputSize } from "./im2col.ts";

/** Pooling window: kernel, stride (default: kernel) and zero/−∞ padding, each [h, w] or one number. */
export interface Pool2dOptions {
  /** The window's size. */
  kernelSize: number | [number, number];
  /** Step of the window (default: kernelSize). */
  stride?: number | [number, number];
  /** Padding on each side: zeros for average pooling, −∞ for max pooling (default 0). */
  padding?: number | [number, number];
}

interface PoolGeometry {
  batchPlanes: number;
  height: number;
  width: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  outH: number;
  outW: number;
}

// The geometry as the pooling kernels take it, for `planes` of the planes.
const windowArguments = (g: PoolGeometry, planes = g.batchPlanes): PoolGeometryArguments => [
  planes,
  g.height,
  g.width,
  g.kernel[0],
  g.kernel[1],
  g.stride[0],
  g.stride[1],
  g.padding[0],
  g.padding[1],
  g.outH,
  g.outW,
];

const pair = (value: number | [number, number]): [number, number] => (typeof value === "number" ? [value, value] : value);

function geometry(op: string, x: Tensor, options: Pool2dOptions): PoolGeometry {
  const kernel = pair(options.kernelSize);
  const stride = pair(options.stride ?? options.kernelSize);
  const padding = pair(options.padding ?? 0);
  if (x.rank !== 4) throw new RangeError(`gradscope: ${op} needs NCHW input, got ${shapeString(x.shape)}`);
  if (padding[0] * 2 > kernel[0] || padding[1] * 2 > kernel[1]) {
    throw new RangeError(`gradscope: ${op}: padding [${padding}] must be at most half the kernel [${kernel}]`);
  }
  const outH = convOutputSize(x.shape[2], kernel[0], stride[0], padding[0], 1);
  const outW = convOutputSize(x.shape[3], kernel[1], stride[1], padding[1], 1);
  if (outH <= 0 || outW <= 0) throw new RangeError(`gradscope: ${op}: input ${shapeString(x.shape)} is smaller than the kernel [${kernel}]`);
  return { batchPlanes: x.shape[0] * x.shape[1], height: x.shape[2], width: x.shape[3], kernel, stride, padding, outH, outW };
}

/** Max pooling (padding counts as −∞, so it never wins); the gradient goes to each window's argmax. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return maxPooling(x, options, false);
}

/**
 * relu(maxpool2d(x)), which equals maxpool2d(relu(x)) in value and in gradient: ReLU is monotone,
 * so the window's winner is the same, and the gradient passes exactly where the winner is
 * positive either way. Pooling first leaves ReLU a quarter of the elements (2x2 windows), and
 * the backward pass masks the pooled gradient instead of a full-size one.
 */
export function maxPool2dRelu(x: Tensor, options: Pool2dOptions): Tensor {
  return maxPooling(x, options, true);
}

// Ranges of whole planes, split over the threads when the input is large enough; a plane's
// outputs, and the input gradient they scatter to, belong to one range.
function planeRanges(g: PoolGeometry): Array<[number, number]> {
  return splitRange(g.batchPlanes, 1, partsFor(g.batchPlanes * g.height * g.width, MIN_ELEMENTWISE_PER_THREAD));
}

function maxPooling(x: Tensor, options: Pool2dOptions, rectify: boolean): Tensor {
  const op = rectify ? "maxpool2d_relu" : "maxpool2d";
  // Errors name the layer the user wrote, fused or not.
  const g = geometry("maxpool2d", x, options);
  const out = new Tensor([x.shape[0], x.shape[1], g.outH, g.outW], "float32", op);
  const argmax = new Tensor(out.shape, "int32", `${op} argmax`);
  const outPlane = g.outH * g.outW;
  const ranges = planeRanges(g);
  // argmax holds indices into the whole input, so parts read x from its start.
  runRanges(ranges, (first, last) => ({
    kernel: "maxPoolForward",
    args: [x.ptr, out.ptr + 4 * first * outPlane, argmax.ptr + 4 * first * outPlane, first, ...windowArguments(g, last - first)],
  }));
  if (rectify) runRanges(ranges, (first, last) => ({ kernel: "reluForward", args: [out.ptr + 4 * first * outPlane, out.ptr + 4 * first * outPlane, (last - first) * outPlane] }));
  const backward = (gradOut: Tensor): Tensor[] => {
    const grad = new Tensor(x.shape, "float32", `${op} backward`);
    engineMemory.f32.fill(0, grad.offset, grad.offset + grad.size);
    // The output is positive exactly where the winner was: the fused ReLU masks the gradient.
    const masked = rectify ? new Tensor(out.shape, "float32", `${op} masked gradient`) : gradOut;
    if (rectify) {
      runRanges(ranges, (first, last) => {
        const start = 4 * first * outPlane;
        return { kernel: "reluBackward", args: [out.ptr + start, gradOut.ptr + start, masked.ptr + start, (last - first) * outPlane] };
      });
    }
    runRanges(ranges, (first, last) => {
      const start = 4 * first * outPlane;
      return { kernel: "maxPoolBackward", args: [masked.ptr + start, argmax.ptr + start, grad.ptr, (last - first) * outPlane] };
    });
    if (masked !== gradOut) masked.dispose();
    return [grad];
  };
  // With the argmax (and the ReLU's mask) fixed the op is linear: the tangent is gathered from
  // each window's winner.
  const gather = ([tangent]: ReadonlyArray<Tensor | null>): Tensor => {
    const gathered = new Tensor(out.shape, "float32", `${op} tangent`);
    const heap = engineMemory.f32;
    const winners = engineMemory.i32;
    const source = (tangent as Tensor).offset;
    for (let i = 0; i < out.size; i++) {
      heap[gathered.offset + i] = rectify && !(heap[out.offset + i] > 0) ? 0 : heap[source + winners[argmax.offset + i]];
    }
    return gathered;
  };
  const recorded = record(out, { op, inputs: [x], backward, curvature: linearRules(gather, backward) });
  // Without a graph nobody reads the argmax again.
  if (!recorded.node) argmax.dispose();
  return recorded;
}

/** Average pooling; zero padding counts in the divisor (PyTorch's default count_include_pad). */
export function avgPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  const g = geometry("avgpool2d", x, options);
  const out = new Tensor([x.shape[0], x.shape[1], g.outH, g.outW], "float32", "avgpool2d");
  const scale = 1 / (g.kernel[0] * g.kernel[1]);
  const ranges = planeRanges(g);
  // Forward, x → y; backward, y is the output gradient and x the input gradient it spreads to.
  const pool = (x: Tensor, y: Tensor, gradient: boolean) =>
    runRanges(ranges, (first, last) => ({
      kernel: "avgPool",
      args: [x.ptr + 4 * first * g.height * g.width, y.ptr + 4 * first * g.outH * g.outW, ...windowArguments(g, last - first), scale, gradient ? 1 : 0],
    }));
  pool(x, out, false);
  const backward = (gradOut: Tensor): Tensor[] => {
    const grad = new Tensor(x.shape, "float32", "avgpool2d backward");
    engineMemory.f32.fill(0, grad.offset, grad.offset + grad.size);
    pool(grad, gradOut, true);
    return [grad];
  };
  return record(out, { op: "avgpool2d", inputs: [x], backward, curvature: linearRules(([t]) => noGrad(() => avgPool2d(t as Tensor, options)), backward) });
}

/**
 * TypeScript reference of average pooling on plain arrays, forward and backward, in the
 * kernels' float32 order of summation (the kernel tests compare with it).
 */
export function referenceAvgPool2d(x: Tensor, options: Pool2dOptions): { out: Float32Array; backward: (gradOut: Float32Array) => Float32Array } {
  const g = geometry("avgpool2d", x, options);
  const scale = Math.fround(1 / (g.kernel[0] * g.kernel[1]));
  const input = x.data.slice();
  // Visits each (output, input) pair of a window that lies inside the input.
  const forEachPair = (visit: (outIndex: number, inIndex: number) => void): void => {
    let o = 0;
    for (let plane = 0; plane < g.batchPlanes; plane++) {
      const base = plane * g.height * g.width;
      for (let oh = 0; oh < g.outH; oh++) {
        const h0 = oh * g.stride[0] - g.padding[0];
        for (let ow = 0; ow < g.outW; ow++, o++) {
          const w0 = ow * g.stride[1] - g.padding[1];
          for (let kh = Math.max(0, -h0); kh < g.kernel[0] && h0 + kh < g.height; kh++) {
            for (let kw = Math.max(0, -w0); kw < g.kernel[1] && w0 + kw < g.width; kw++) visit(o, base + (h0 + kh) * g.width + w0 + kw);
          }
        }
      }
    }
  };
  const out = new Float32Array(g.batchPlanes * g.outH * g.outW);
  forEachPair((o, i) => {
    out[o] += input[i];
  });
  for (let o = 0; o < out.length; o++) out[o] *= scale;
  return {
    out,
    backward: (gradOut) => {
      const grad = new Float32Array(input.length);
      forEachPair((o, i) => {
        grad[i] += Math.fround(gradOut[o] * scale);
      });
      return grad;
    },
  };
}

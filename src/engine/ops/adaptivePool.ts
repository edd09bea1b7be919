import { noGrad, record } from "../autograd.ts";
import { linearRules } from "../curvature/rules.ts";
import { engineMemory } from "../memory.ts";
import { shapeString } from "../shapes.ts";
import { Tensor } from "../tensor.ts";

/** The input window [start, end) of each output cell along one axis (PyTorch's adaptive pooling). */
export function adaptiveWindows(inputLength: number, outputLength: number): Array<[number, number]> {
  return Array.from({ length: outputLength }, (_, i) => [Math.floor((i * inputLength) / outputLength), Math.ceil(((i + 1) * inputLength) / outputLength)]);
}

/**
 * Adaptive average pooling of NCHW input to `outputSize` [oh, ow]: output cell i along an axis
 * of length n averages inputs floor(i·n/m) to ceil((i+1)·n/m), so windows may overlap and
 * differ in size. Output size [1, 1] is global average pooling.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: number | [number, number]): Tensor {
  const [outH, outW] = typeof outputSize === "number" ? [outputSize, outputSize] : outputSize;
  if (x.rank !== 4 || x.dtype !== "float32") throw new RangeError(`gradscope: adaptive_avgpool2d needs float32 NCHW input, got ${x.dtype}${shapeString(x.shape)}`);
  const [batch, channels, height, width] = x.shape;
  if (!(outH >= 1 && outW >= 1 && outH <= height && outW <= width)) {
    throw new RangeError(`gradscope: adaptive_avgpool2d: output size [${outH}, ${outW}] must be between 1 and the input's ${height}x${width}`);
  }
  const rows = adaptiveWindows(height, outH);
  const columns = adaptiveWindows(width, outW);
  const planes = batch * channels;
  // Visits every (output cell, input element, 1/window size) triple of every plane.
  const forEachWindow = (visit: (outIndex: number, inIndex: number, scale: number) => void): void => {
    for (let plane = 0; plane < planes; plane++) {
      const inBase = plane * height * width;
      const outBase = plane * outH * outW;
      for (let i = 0; i < outH; i++) {
        const [h0, h1] = rows[i];
        for (let j = 0; j < outW; j++) {
          const [w0, w1] = columns[j];
          const scale = 1 / ((h1 - h0) * (w1 - w0));
          for (let h = h0; h < h1; h++) for (let w = w0; w < w1; w++) visit(outBase + i * outW + j, inBase + h * width + w, scale);
        }
      }
    }
  };
  const out = new Tensor([batch, channels, outH, outW], "float32", "adaptive_avgpool2d");
  const sums = new Float64Array(out.size);
  const heap = engineMemory.f32;
  const scales = new Float64Array(out.size);
  forEachWindow((o, i, scale) => {
    sums[o] += heap[x.offset + i];
    scales[o] = scale;
  });
  for (let o = 0; o < out.size; o++) heap[out.offset + o] = sums[o] * scales[o];
  const backward = (gradOut: Tensor): Tensor[] => {
    const grad = new Tensor(x.shape, "float32", "adaptive_avgpool2d backward");
    const accumulated = new Float64Array(grad.size);
    const h = engineMemory.f32;
    forEachWindow((o, i, scale) => {
      accumulated[i] += h[gradOut.offset + o] * scale;
    });
    h.set(accumulated, grad.offset);
    return [grad];
  };
  return record(out, {
    op: "adaptive_avgpool2d",
    inputs: [x],
    backward,
    curvature: linearRules(([t]) => noGrad(() => adaptiveAvgPool2d(t as Tensor, [outH, outW])), backward),
  });
}

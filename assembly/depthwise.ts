import { madd } from "./simd";

// The three passes of a depthwise convolution.
const FORWARD = 0;
const INPUT_GRADIENT = 1;
const WEIGHT_GRADIENT = 2;

// dst [rows, cols] = src [srcRows, srcCols] shifted down by `top` and right by `left`, zeros
// elsewhere: with the padding materialized, every tap of every output is in range, so the
// loops below have no bounds checks and whole output rows vectorize. (Explicit loops: for
// rows this short, memory.fill and memory.copy calls cost more than the copying.)
function padPlane(src: usize, srcRows: i32, srcCols: i32, dst: usize, rows: i32, cols: i32, top: i32, left: i32): void {
  const colFrom = max(0, -left);
  const colTo = min(srcCols, cols - left);
  for (let r = 0; r < rows; r++) {
    const out = dst + (<usize>(r * cols) << 2);
    const sr = r - top;
    if (sr < 0 || sr >= srcRows || colTo <= colFrom) {
      zeroRange(out, 0, cols);
      continue;
    }
    zeroRange(out, 0, colFrom + left);
    const from = src + (<usize>(sr * srcCols) << 2);
    let c = colFrom;
    for (; c + 4 <= colTo; c += 4) v128.store(out + (<usize>(c + left) << 2), v128.load(from + (<usize>c << 2)));
    for (; c < colTo; c++) store<f32>(out + (<usize>(c + left) << 2), load<f32>(from + (<usize>c << 2)));
    zeroRange(out, colTo + left, cols);
  }
}

@inline
function zeroRange(row: usize, from: i32, to: i32): void {
  let c = from;
  for (; c + 4 <= to; c += 4) v128.store(row + (<usize>c << 2), f32x4.splat(0));
  for (; c < to; c++) store<f32>(row + (<usize>c << 2), 0);
}

// y[oh, ow] = Σ_ij w[i, j]·p[oh·sh + i·dh, ow·sw + j·dw] over a padded plane p (w read
// back to front when `flip`).
function correlatePlane(p: usize, cols: i32, w: usize, flip: bool, y: usize, outH: i32, outW: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, dilationH: i32, dilationW: i32): void {
  if (kernelH == 3 && kernelW == 3 && strideW == 1 && dilationW == 1 && outW >= 4) {
    correlate3x3(p, cols, w, flip, y, outH, outW, strideH, dilationH);
    return;
  }
  const taps = kernelH * kernelW;
  for (let oh = 0; oh < outH; oh++) {
    const top = p + (<usize>(oh * strideH * cols) << 2);
    const out = y + (<usize>(oh * outW) << 2);
    let ow = 0;
    if (strideW == 1) {
      for (; ow + 4 <= outW; ow += 4) {
        let acc = f32x4.splat(0);
        for (let i = 0; i < kernelH; i++) {
          const row = top + (<usize>(i * dilationH * cols + ow) << 2);
          for (let j = 0; j < kernelW; j++) {
            const tap = flip ? taps - 1 - (i * kernelW + j) : i * kernelW + j;
            acc = madd(f32x4.splat(load<f32>(w + (<usize>tap << 2))), v128.load(row + (<usize>(j * dilationW) << 2)), acc);
          }
        }
        v128.store(out + (<usize>ow << 2), acc);
      }
    }
    for (; ow < outW; ow++) {
      let acc: f32 = 0;
      for (let i = 0; i < kernelH; i++) {
        const row = top + (<usize>(i * dilationH * cols + ow * strideW) << 2);
        for (let j = 0; j < kernelW; j++) {
          const tap = flip ? taps - 1 - (i * kernelW + j) : i * kernelW + j;
          acc += load<f32>(w + (<usize>tap << 2)) * load<f32>(row + (<usize>(j * dilationW) << 2));
        }
      }
      store<f32>(out + (<usize>ow << 2), acc);
    }
  }
}

// The weight of tap k of a 3x3 kernel, splat, read back to front when `flip`.
@inline
function tap3x3(w: usize, k: i32, flip: bool): v128 {
  return f32x4.splat(load<f32>(w + (<usize>(flip ? 8 - k : k) << 2)));
}

// correlatePlane for the common 3x3 kernel at unit column stride: the nine weights stay in
// registers and each output vector is nine loads and nine multiply-adds. A row whose length is
// not a multiple of four ends with a vector overlapping the previous one (same values).
function correlate3x3(p: usize, cols: i32, w: usize, flip: bool, y: usize, outH: i32, outW: i32, strideH: i32, dilationH: i32): void {
  const w0 = tap3x3(w, 0, flip);
  const w1 = tap3x3(w, 1, flip);
  const w2 = tap3x3(w, 2, flip);
  const w3 = tap3x3(w, 3, flip);
  const w4 = tap3x3(w, 4, flip);
  const w5 = tap3x3(w, 5, flip);
  const w6 = tap3x3(w, 6, flip);
  const w7 = tap3x3(w, 7, flip);
  const w8 = tap3x3(w, 8, flip);
  const rowStep = <usize>(dilationH * cols) << 2;
  for (let oh = 0; oh < outH; oh++) {
    const r0 = p + (<usize>(oh * strideH * cols) << 2);
    const r1 = r0 + rowStep;
    const r2 = r1 + rowStep;
    const out = y + (<usize>(oh * outW) << 2);
    for (let ow = 0; ow < outW; ow += 4) {
      const at = <usize>min(ow, outW - 4) << 2;
      let acc = f32x4.mul(w0, v128.load(r0 + at));
      acc = madd(w1, v128.load(r0 + at, 4), acc);
      acc = madd(w2, v128.load(r0 + at, 8), acc);
      acc = madd(w3, v128.load(r1 + at), acc);
      acc = madd(w4, v128.load(r1 + at, 4), acc);
      acc = madd(w5, v128.load(r1 + at, 8), acc);
      acc = madd(w6, v128.load(r2 + at), acc);
      acc = madd(w7, v128.load(r2 + at, 4), acc);
      acc = madd(w8, v128.load(r2 + at, 8), acc);
      v128.store(out + at, acc);
    }
  }
}

// dw[i, j] += Σ_{oh, ow} p[oh·sh + i·dh, ow·sw + j·dw]·dy[oh, ow] over a padded plane p.
function weightGradientPlane(p: usize, cols: i32, dy: usize, dw: usize, outH: i32, outW: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, dilationH: i32, dilationW: i32): void {
  if (kernelH == 3 && kernelW == 3 && strideW == 1 && dilationW == 1 && outW >= 4) {
    weightGradient3x3(p, cols, dy, dw, outH, outW, strideH, dilationH);
    return;
  }
  for (let i = 0; i < kernelH; i++) {
    for (let j = 0; j < kernelW; j++) {
      let lanes = f32x4.splat(0);
      let tail: f32 = 0;
      for (let oh = 0; oh < outH; oh++) {
        const row = p + (<usize>((oh * strideH + i * dilationH) * cols + j * dilationW) << 2);
        const grad = dy + (<usize>(oh * outW) << 2);
        let ow = 0;
        if (strideW == 1) for (; ow + 4 <= outW; ow += 4) lanes = madd(v128.load(row + (<usize>ow << 2)), v128.load(grad + (<usize>ow << 2)), lanes);
        for (; ow < outW; ow++) tail += load<f32>(row + (<usize>(ow * strideW) << 2)) * load<f32>(grad + (<usize>ow << 2));
      }
      const total = f32x4.extract_lane(lanes, 0) + f32x4.extract_lane(lanes, 1) + (f32x4.extract_lane(lanes, 2) + f32x4.extract_lane(lanes, 3)) + tail;
      const at = dw + (<usize>(i * kernelW + j) << 2);
      store<f32>(at, load<f32>(at) + total);
    }
  }
}

// Adds the lanes of `sums` to dw[k].
@inline
function addLanes(dw: usize, k: i32, sums: v128): void {
  const at = dw + (<usize>k << 2);
  store<f32>(at, load<f32>(at) + (f32x4.extract_lane(sums, 0) + f32x4.extract_lane(sums, 1) + (f32x4.extract_lane(sums, 2) + f32x4.extract_lane(sums, 3))));
}

// weightGradientPlane for a 3x3 kernel at unit column stride: nine vector accumulators. A row
// whose length is not a multiple of four ends with a vector overlapping the previous one whose
// already counted lanes of dy are masked to zero.
function weightGradient3x3(p: usize, cols: i32, dy: usize, dw: usize, outH: i32, outW: i32, strideH: i32, dilationH: i32): void {
  let a0 = f32x4.splat(0);
  let a1 = a0;
  let a2 = a0;
  let a3 = a0;
  let a4 = a0;
  let a5 = a0;
  let a6 = a0;
  let a7 = a0;
  let a8 = a0;
  const remainder = outW & 3;
  const fresh = i32x4.gt_s(i32x4(0, 1, 2, 3), i32x4.splat(3 - remainder));
  const rowStep = <usize>(dilationH * cols) << 2;
  for (let oh = 0; oh < outH; oh++) {
    const r0 = p + (<usize>(oh * strideH * cols) << 2);
    const r1 = r0 + rowStep;
    const r2 = r1 + rowStep;
    const grad = dy + (<usize>(oh * outW) << 2);
    for (let ow = 0; ow < outW; ow += 4) {
      const last = ow + 4 > outW;
      const at = <usize>(last ? outW - 4 : ow) << 2;
      let g = v128.load(grad + at);
      if (last) g = v128.and(g, fresh);
      a0 = madd(v128.load(r0 + at), g, a0);
      a1 = madd(v128.load(r0 + at, 4), g, a1);
      a2 = madd(v128.load(r0 + at, 8), g, a2);
      a3 = madd(v128.load(r1 + at), g, a3);
      a4 = madd(v128.load(r1 + at, 4), g, a4);
      a5 = madd(v128.load(r1 + at, 8), g, a5);
      a6 = madd(v128.load(r2 + at), g, a6);
      a7 = madd(v128.load(r2 + at, 4), g, a7);
      a8 = madd(v128.load(r2 + at, 8), g, a8);
    }
  }
  addLanes(dw, 0, a0);
  addLanes(dw, 1, a1);
  addLanes(dw, 2, a2);
  addLanes(dw, 3, a3);
  addLanes(dw, 4, a4);
  addLanes(dw, 5, a5);
  addLanes(dw, 6, a6);
  addLanes(dw, 7, a7);
  addLanes(dw, 8, a8);
}

// dx[oh·sh − ph + i·dh, ow·sw − pw + j·dw] += w[i, j]·dy[oh, ow], for strides above 1 and
// channel multipliers (otherwise the input gradient is a correlation with the flipped kernel).
function scatterPlane(dy: usize, w: usize, dx: usize, height: i32, width: i32, outH: i32, outW: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32): void {
  for (let oh = 0; oh < outH; oh++) {
    for (let i = 0; i < kernelH; i++) {
      const ih = oh * strideH - padH + i * dilationH;
      if (ih < 0 || ih >= height) continue;
      for (let ow = 0; ow < outW; ow++) {
        const g = load<f32>(dy + (<usize>(oh * outW + ow) << 2));
        for (let j = 0; j < kernelW; j++) {
          const iw = ow * strideW - padW + j * dilationW;
          if (iw < 0 || iw >= width) continue;
          const at = dx + (<usize>(ih * width + iw) << 2);
          store<f32>(at, load<f32>(at) + load<f32>(w + (<usize>(i * kernelW + j) << 2)) * g);
        }
      }
    }
  }
}

/** Floats of scratch `depthwiseConv` needs: one padded plane of the input or of the output gradient. */
export function depthwiseScratchFloats(height: i32, width: i32, kernelH: i32, kernelW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32): i32 {
  const input = (height + 2 * padH) * (width + 2 * padW);
  const gradient = (height + (kernelH - 1) * dilationH) * (width + (kernelW - 1) * dilationW);
  return max(input, gradient);
}

/**
 * A depthwise convolution (groups = in_channels; output channel o reads input channel
 * o / multiplier) computed directly on zero-padded planes, instead of im2col and a GEMM with
 * one output row. `mode` 0: y = conv(x, w) (a = x, b = w, c = y); 1: the input gradient
 * (a = dy, b = w, c = dx); 2: the weight gradient summed over the batch (a = x, b = dy,
 * c = dw). Only output channels [firstChannel, endChannel) are computed, and only their part of
 * `c` is overwritten (for the input gradient the range must hold whole input channels, i.e.
 * start and end on multiples of `multiplier`): threads split the channels, and each channel's
 * sum over the batch runs in sample order whatever the split. `scratch` holds
 * depthwiseScratchFloats floats.
 */
export function depthwiseConv(
  mode: i32,
  a: usize,
  b: usize,
  c: usize,
  scratch: usize,
  firstChannel: i32,
  endChannel: i32,
  batch: i32,
  inChannels: i32,
  multiplier: i32,
  height: i32,
  width: i32,
  kernelH: i32,
  kernelW: i32,
  strideH: i32,
  strideW: i32,
  padH: i32,
  padW: i32,
  dilationH: i32,
  dilationW: i32,
  outH: i32,
  outW: i32,
): void {
  const outChannels = inChannels * multiplier;
  const inPlane = height * width;
  const outPlane = outH * outW;
  const taps = kernelH * kernelW;
  const paddedH = height + 2 * padH;
  const paddedW = width + 2 * padW;
  if (mode == INPUT_GRADIENT) {
    const firstInput = firstChannel / multiplier;
    const inputs = endChannel / multiplier - firstInput;
    for (let n = 0; n < batch; n++) memory.fill(c + (<usize>((n * inChannels + firstInput) * inPlane) << 2), 0, <usize>(inputs * inPlane) << 2);
  }
  if (mode == WEIGHT_GRADIENT) memory.fill(c + (<usize>(firstChannel * taps) << 2), 0, <usize>((endChannel - firstChannel) * taps) << 2);
  for (let n = 0; n < batch; n++) {
    for (let o = firstChannel; o < endChannel; o++) {
      const input = <usize>((n * inChannels + o / multiplier) * inPlane) << 2;
      const output = <usize>((n * outChannels + o) * outPlane) << 2;
      const weight = <usize>(o * taps) << 2;
      if (mode == FORWARD) {
        padPlane(a + input, height, width, scratch, paddedH, paddedW, padH, padW);
        correlatePlane(scratch, paddedW, b + weight, false, c + output, outH, outW, kernelH, kernelW, strideH, strideW, dilationH, dilationW);
      } else if (mode == WEIGHT_GRADIENT) {
        padPlane(a + input, height, width, scratch, paddedH, paddedW, padH, padW);
        weightGradientPlane(scratch, paddedW, b + output, c + weight, outH, outW, kernelH, kernelW, strideH, strideW, dilationH, dilationW);
      } else if (strideH == 1 && strideW == 1 && multiplier == 1) {
        // dx[h, w] = Σ_ij w[i, j]·dy[h + ph − i·dh, w + pw − j·dw]: a correlation of dy padded
        // by (k − 1)·d − p with the flipped kernel.
        const rows = height + (kernelH - 1) * dilationH;
        const cols = width + (kernelW - 1) * dilationW;
        padPlane(a + output, outH, outW, scratch, rows, cols, (kernelH - 1) * dilationH - padH, (kernelW - 1) * dilationW - padW);
        correlatePlane(scratch, cols, b + weight, true, c + input, height, width, kernelH, kernelW, 1, 1, dilationH, dilationW);
      } else {
        scatterPlane(a + output, b + weight, c + input, height, width, outH, outW, kernelH, kernelW, strideH, strideW, padH, padW, dilationH, dilationW);
      }
    }
  }
}

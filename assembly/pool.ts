/**
 * Max pooling over planes [firstPlane, firstPlane + planes) of the H x W planes at `x`, with −∞
 * padding, into `y` (which starts at the first of those planes' outputs); `argmax` receives, per
 * output, the flat input index (plane·H·W + h·W + w, counted from `x`) of its maximum, which the
 * backward pass scatters to.
 */
export function maxPoolForward(x: usize, y: usize, argmax: usize, firstPlane: i32, planes: i32, height: i32, width: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, outH: i32, outW: i32): void {
  const pairs = kernelH == 2 && kernelW == 2 && strideH == 2 && strideW == 2 && padH == 0 && padW == 0;
  let o: usize = 0;
  for (let plane = firstPlane; plane < firstPlane + planes; plane++) {
    const planeStart = plane * height * width;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padH;
      const hStart = max(h0, 0);
      const hEnd = min(h0 + kernelH, height);
      let ow = 0;
      if (pairs) {
        ow = maxPool2x2Row(x, y + (o << 2), argmax + (o << 2), planeStart + h0 * width, width, outW);
        o += <usize>ow;
      }
      for (; ow < outW; ow++) {
        const w0 = ow * strideW - padW;
        const wStart = max(w0, 0);
        const wEnd = min(w0 + kernelW, width);
        let bestIndex = planeStart + hStart * width + wStart;
        let best = load<f32>(x + (<usize>bestIndex << 2));
        for (let h = hStart; h < hEnd; h++) {
          for (let w = wStart; w < wEnd; w++) {
            const index = planeStart + h * width + w;
            const value = load<f32>(x + (<usize>index << 2));
            // Branch-free: on random data a branch here mispredicts half the time.
            const better = value > best;
            best = select<f32>(value, best, better);
            bestIndex = select<i32>(index, bestIndex, better);
          }
        }
        store<f32>(y + (o << 2), best);
        store<i32>(argmax + (o << 2), bestIndex);
        o++;
      }
    }
  }
}

// 2x2 windows with stride 2, four outputs at a time: even and odd input columns are split by
// shuffles, and the window is scanned in the scalar loop's order (row by row, left to right)
// with a strict > so that ties and NaNs resolve exactly as there. A row whose length is not a
// multiple of four ends with one vector that overlaps the previous one (it rewrites equal
// values), not with scalar windows. Returns the outputs done.
function maxPool2x2Row(x: usize, y: usize, argmax: usize, rowIndex: i32, width: i32, outW: i32): i32 {
  let ow = 0;
  for (; ow + 4 <= outW && 2 * ow + 8 <= width; ow += 4) maxPool2x2Vector(x, y, argmax, rowIndex, width, ow);
  if (ow < outW && outW >= 4 && 2 * outW <= width) {
    maxPool2x2Vector(x, y, argmax, rowIndex, width, outW - 4);
    ow = outW;
  }
  return ow;
}

@inline
function maxPool2x2Vector(x: usize, y: usize, argmax: usize, rowIndex: i32, width: i32, ow: i32): void {
  const top = x + (<usize>(rowIndex + 2 * ow) << 2);
  const bottom = top + (<usize>width << 2);
  const a = v128.load(top);
  const b = v128.load(top, 16);
  const c = v128.load(bottom);
  const d = v128.load(bottom, 16);
  // Row by row, left to right, as the scalar loop visits the window.
  let best = v128.shuffle<f32>(a, b, 0, 2, 4, 6);
  let bestIndex = i32x4.add(i32x4.splat(rowIndex + 2 * ow), i32x4(0, 2, 4, 6));
  const topRight = v128.shuffle<f32>(a, b, 1, 3, 5, 7);
  const bottomLeft = v128.shuffle<f32>(c, d, 0, 2, 4, 6);
  const bottomRight = v128.shuffle<f32>(c, d, 1, 3, 5, 7);
  const base = bestIndex;
  let better = f32x4.gt(topRight, best);
  best = v128.bitselect(topRight, best, better);
  bestIndex = v128.bitselect(i32x4.add(base, i32x4.splat(1)), bestIndex, better);
  better = f32x4.gt(bottomLeft, best);
  best = v128.bitselect(bottomLeft, best, better);
  bestIndex = v128.bitselect(i32x4.add(base, i32x4.splat(width)), bestIndex, better);
  better = f32x4.gt(bottomRight, best);
  best = v128.bitselect(bottomRight, best, better);
  bestIndex = v128.bitselect(i32x4.add(base, i32x4.splat(width + 1)), bestIndex, better);
  v128.store(y + (<usize>ow << 2), best);
  v128.store(argmax + (<usize>ow << 2), bestIndex);
}

/** dx[argmax[o]] += dy[o]; dx must be zeroed by the caller. */
export function maxPoolBackward(dy: usize, argmax: usize, dx: usize, count: i32): void {
  for (let o = 0; o < count; o++) {
    const target = dx + (<usize>load<i32>(argmax + (<usize>o << 2)) << 2);
    store<f32>(target, load<f32>(target) + load<f32>(dy + (<usize>o << 2)));
  }
}

/**
 * Average pooling with zero padding counted in the divisor (PyTorch's count_include_pad), over
 * `planes` H x W planes of `x` and outH x outW planes of `y`. Forward: y = scale · Σ window,
 * summed in the window's row order. Backward (`gradient`): x is the input gradient, starting at
 * zero, and every input adds scale · y of each window that holds it.
 */
export function avgPool(x: usize, y: usize, planes: i32, height: i32, width: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, outH: i32, outW: i32, scale: f32, gradient: bool): void {
  let o: usize = 0;
  for (let plane = 0; plane < planes; plane++) {
    const planeStart = plane * height * width;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padH;
      const hEnd = min(h0 + kernelH, height);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padW;
        const wEnd = min(w0 + kernelW, width);
        const share: f32 = gradient ? load<f32>(y + (o << 2)) * scale : 0;
        let total: f32 = 0;
        for (let h = max(h0, 0); h < hEnd; h++) {
          for (let w = max(w0, 0); w < wEnd; w++) {
            const at = x + (<usize>(planeStart + h * width + w) << 2);
            if (gradient) store<f32>(at, load<f32>(at) + share);
            else total += load<f32>(at);
          }
        }
        if (!gradient) store<f32>(y + (o << 2), total * scale);
        o++;
      }
    }
  }
}

/**
 * Max pooling over `planes` H x W planes with −∞ padding; `argmax` receives, per output, the
 * flat input index (plane·H·W + h·W + w) of its maximum, which the backward pass scatters to.
 */
export function maxPoolForward(x: usize, y: usize, argmax: usize, planes: i32, height: i32, width: i32, kernelH: i32, kernelW: i32, strideH: i32, strideW: i32, padH: i32, padW: i32, outH: i32, outW: i32): void {
  let o: usize = 0;
  for (let plane = 0; plane < planes; plane++) {
    const planeStart = plane * height * width;
    for (let oh = 0; oh < outH; oh++) {
      const h0 = oh * strideH - padH;
      const hStart = max(h0, 0);
      const hEnd = min(h0 + kernelH, height);
      for (let ow = 0; ow < outW; ow++) {
        const w0 = ow * strideW - padW;
        const wStart = max(w0, 0);
        const wEnd = min(w0 + kernelW, width);
        let bestIndex = planeStart + hStart * width + wStart;
        let best = load<f32>(x + (<usize>bestIndex << 2));
        for (let h = hStart; h < hEnd; h++) {
          for (let w = wStart; w < wEnd; w++) {
            const index = planeStart + h * width + w;
            const value = load<f32>(x + (<usize>index << 2));
            if (value > best) {
              best = value;
              bestIndex = index;
            }
          }
        }
        store<f32>(y + (o << 2), best);
        store<i32>(argmax + (o << 2), bestIndex);
        o++;
      }
    }
  }
}

/** dx[argmax[o]] += dy[o]; dx must be zeroed by the caller. */
export function maxPoolBackward(dy: usize, argmax: usize, dx: usize, count: i32): void {
  for (let o = 0; o < count; o++) {
    const target = dx + (<usize>load<i32>(argmax + (<usize>o << 2)) << 2);
    store<f32>(target, load<f32>(target) + load<f32>(dy + (<usize>o << 2)));
  }
}

// im2col and its adjoint for NCHW inputs; byte offsets, float32. With stride 1 along the width,
// each kernel row's valid span is contiguous: a SIMD copy (im2col) or a SIMD add (col2im).

// The first and one-past-last output column whose input column iw = ow·sw − pw + kj·dw is inside [0, width).
@inline
function validStart(offset: i32, strideW: i32): i32 {
  return offset >= 0 ? 0 : (-offset + strideW - 1) / strideW;
}

@inline
function validEnd(offset: i32, strideW: i32, width: i32, outW: i32): i32 {
  if (offset >= width) return 0;
  return min(outW, (width - 1 - offset) / strideW + 1);
}

// Rows are short (tens of floats), where memory.copy and memory.fill cost more in call
// overhead than the copying: these inline loops replace them.
@inline
function copyFloats(dst: usize, src: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), v128.load(src + (<usize>i << 2)));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)));
}

@inline
function zeroFloats(dst: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(dst + (<usize>i << 2), i32x4.splat(0));
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), 0);
}

/**
 * Unfolds `channels` planes at `src` into columns [channels·kh·kw, outH·outW] at `dst`, rows
 * `rowStride` floats apart (outH·outW when the columns are one sample's; more when several
 * samples' columns sit side by side); padding reads as 0.
 */
export function im2col(
  src: usize, dst: usize, channels: i32, height: i32, width: i32, kernelH: i32, kernelW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, rowStride: i32,
): void {
  let rowStart = dst;
  for (let c = 0; c < channels; c++) {
    const channelBase = src + ((<usize>c * height * width) << 2);
    for (let ki = 0; ki < kernelH; ki++) {
      for (let kj = 0; kj < kernelW; kj++) {
        const offset = kj * dilationW - padW;
        const start = validStart(offset, strideW);
        const end = max(start, validEnd(offset, strideW, width, outW));
        let out = rowStart;
        rowStart += <usize>rowStride << 2;
        if (strideH == 1 && strideW == 1 && outW == width) {
          shiftedPlane(channelBase, out, height, width, outH, ki * dilationH - padH, offset, start, end);
          continue;
        }
        for (let oh = 0; oh < outH; oh++) {
          const ih = oh * strideH - padH + ki * dilationH;
          if (ih < 0 || ih >= height) {
            zeroFloats(out, outW);
            out += <usize>outW << 2;
            continue;
          }
          const rowBase = channelBase + ((<usize>ih * width) << 2);
          zeroFloats(out, start);
          if (strideW == 1) copyFloats(out + (<usize>start << 2), rowBase + (<usize>(start + offset) << 2), end - start);
          else for (let ow = start; ow < end; ow++) store<f32>(out + (<usize>ow << 2), load<f32>(rowBase + (<usize>(ow * strideW + offset) << 2)));
          zeroFloats(out + (<usize>end << 2), outW - end);
          out += <usize>outW << 2;
        }
      }
    }
  }
}

// One kernel position's columns when stride is 1 and the output is as wide as the input ("same"
// padding): output (oh, ow) reads input (oh + shift, ow + offset), so the valid rows are one
// contiguous copy of the plane, shifted; the entries that wrapped around a row edge are zeroed
// after it, as are the rows that fall outside the input.
function shiftedPlane(plane: usize, out: usize, height: i32, width: i32, outH: i32, shift: i32, offset: i32, start: i32, end: i32): void {
  const first = max(0, -shift);
  const last = min(outH, height - shift);
  if (last <= first || end <= start) {
    zeroFloats(out, outH * width);
    return;
  }
  zeroFloats(out, first * width);
  zeroFloats(out + ((<usize>last * width) << 2), (outH - last) * width);
  const from = first * width + start;
  copyFloats(out + (<usize>from << 2), plane + (<usize>(from + shift * width + offset) << 2), (last - 1) * width + end - from);
  for (let oh = first; oh < last; oh++) {
    const row = out + ((<usize>oh * width) << 2);
    zeroFloats(row, start);
    zeroFloats(row + (<usize>end << 2), width - end);
  }
}

/** The adjoint of im2col: adds the columns at `src` (rows `rowStride` floats apart) back into the planes at `dst`. */
export function col2imAdd(
  src: usize, dst: usize, channels: i32, height: i32, width: i32, kernelH: i32, kernelW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, rowStride: i32,
): void {
  let rowStart = src;
  for (let c = 0; c < channels; c++) {
    const channelBase = dst + ((<usize>c * height * width) << 2);
    for (let ki = 0; ki < kernelH; ki++) {
      for (let kj = 0; kj < kernelW; kj++) {
        const offset = kj * dilationW - padW;
        const start = validStart(offset, strideW);
        const end = max(start, validEnd(offset, strideW, width, outW));
        let col = rowStart;
        rowStart += <usize>rowStride << 2;
        for (let oh = 0; oh < outH; oh++) {
          const ih = oh * strideH - padH + ki * dilationH;
          if (ih >= 0 && ih < height) {
            const rowBase = channelBase + ((<usize>ih * width) << 2);
            if (strideW == 1) {
              const target = rowBase + (<usize>(start + offset) << 2);
              const source = col + (<usize>start << 2);
              const count = end - start;
              let i = 0;
              for (; i + 4 <= count; i += 4) {
                const at = <usize>i << 2;
                v128.store(target + at, f32x4.add(v128.load(target + at), v128.load(source + at)));
              }
              for (; i < count; i++) {
                const at = <usize>i << 2;
                store<f32>(target + at, load<f32>(target + at) + load<f32>(source + at));
              }
            } else {
              for (let ow = start; ow < end; ow++) {
                const target = rowBase + (<usize>(ow * strideW + offset) << 2);
                store<f32>(target, load<f32>(target) + load<f32>(col + (<usize>ow << 2)));
              }
            }
          }
          col += <usize>outW << 2;
        }
      }
    }
  }
}

import { madd, storeTransposed4x4 } from "./simd";

// Products whose left factor is mostly zero: conv backward passes after ReLU and max-pooling.

/** Workspace bytes `sparseDenseProduct` needs: one row's nonzero columns and their values. */
export function sparseDenseProductWorkspaceBytes(k: i32): i32 {
  return k << 3;
}

// Gathers the nonzeros of `count` values `stride` bytes apart: their indices into `picked`, the
// values into `values`; returns how many. Branch-free: which entries are zero is close to
// random, so a branch mispredicts often.
@inline
function pickNonzeros(from: usize, stride: usize, count: i32, picked: usize, values: usize): i32 {
  let found = 0;
  for (let p = 0; p < count; p++) {
    const value = load<f32>(from + <usize>p * stride);
    store<i32>(picked + (<usize>found << 2), p);
    store<f32>(values + (<usize>found << 2), value);
    found += <i32>(value != 0);
  }
  return found;
}

/** row = Σ_q values[q]·B[picked[q]] over `count` picked rows of B [·, n], written to `row`. */
@inline
export function combineRows(picked: usize, values: usize, count: i32, b: usize, n: i32, row: usize): void {
  const rowBytes = <usize>n << 2;
  // Six vector accumulators: enough independent chains to cover the multiply-add latency,
  // while V8, which loads all six B vectors first, still keeps everything in registers.
  let j = 0;
  for (; j + 24 <= n; j += 24) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0), a4 = f32x4.splat(0), a5 = f32x4.splat(0);
    for (let q = 0; q < count; q++) {
      const v = v128.load32_splat(values + (<usize>q << 2));
      const w = b + <usize>load<i32>(picked + (<usize>q << 2)) * rowBytes + (<usize>j << 2);
      a0 = madd(v, v128.load(w), a0);
      a1 = madd(v, v128.load(w, 16), a1);
      a2 = madd(v, v128.load(w, 32), a2);
      a3 = madd(v, v128.load(w, 48), a3);
      a4 = madd(v, v128.load(w, 64), a4);
      a5 = madd(v, v128.load(w, 80), a5);
    }
    const out = row + (<usize>j << 2);
    v128.store(out, a0);
    v128.store(out, a1, 16);
    v128.store(out, a2, 32);
    v128.store(out, a3, 48);
    v128.store(out, a4, 64);
    v128.store(out, a5, 80);
  }
  for (; j + 4 <= n; j += 4) {
    let a0 = f32x4.splat(0);
    for (let q = 0; q < count; q++) a0 = madd(v128.load32_splat(values + (<usize>q << 2)), v128.load(b + <usize>load<i32>(picked + (<usize>q << 2)) * rowBytes + (<usize>j << 2)), a0);
    v128.store(row + (<usize>j << 2), a0);
  }
  for (; j < n; j++) {
    let total: f32 = 0;
    for (let q = 0; q < count; q++) total += load<f32>(values + (<usize>q << 2)) * load<f32>(b + <usize>load<i32>(picked + (<usize>q << 2)) * rowBytes + (<usize>j << 2));
    store<f32>(row + (<usize>j << 2), total);
  }
}

/**
 * C = A·B for row-major A [m, k], B [k, n], C [m, n], where A is mostly zero: each row of C
 * sums only the rows of B whose A entry is not zero, so the work is proportional to A's
 * nonzeros; rows of A without any give zero rows.
 */
export function sparseDenseProduct(a: usize, m: i32, k: i32, b: usize, n: i32, c: usize, work: usize): void {
  const picked = work;
  const values = work + (<usize>k << 2);
  const rowBytes = <usize>n << 2;
  for (let i = 0; i < m; i++) {
    const count = pickNonzeros(a + <usize>i * (<usize>k << 2), 4, k, picked, values);
    const row = c + <usize>i * rowBytes;
    if (count == 0) memory.fill(row, 0, rowBytes);
    else combineRows(picked, values, count, b, n, row);
  }
}

// Output positions whose unfolded gradient rows are formed together, then added to the input
// gradient as one vector per patch row.
const BLOCK: i32 = 4;

/** Workspace bytes `sparseConvInputGradient` needs. */
export function sparseConvInputGradientWorkspaceBytes(channelsOut: i32, patch: i32): i32 {
  return (channelsOut << 3) + 2 * ((BLOCK * patch) << 2);
}

// One output position's unfolded gradient row added to the input window it came from, padding
// skipped; any stride.
function addPosition(row: usize, gradX: usize, channels: i32, height: i32, width: i32, kernelH: i32, kernelW: i32, dilationH: i32, dilationW: i32, hCorner: i32, wCorner: i32): void {
  for (let c = 0; c < channels; c++) {
    for (let ki = 0; ki < kernelH; ki++) {
      const ih = hCorner + ki * dilationH;
      if (<u32>ih < <u32>height) {
        const inputRow = gradX + ((<usize>(c * height + ih) * width) << 2);
        for (let kj = 0; kj < kernelW; kj++) {
          const iw = wCorner + kj * dilationW;
          if (<u32>iw < <u32>width) {
            const at = inputRow + (<usize>iw << 2);
            store<f32>(at, load<f32>(at) + load<f32>(row + (<usize>kj << 2)));
          }
        }
      }
      row += <usize>kernelW << 2;
    }
  }
}

// Four horizontally adjacent positions' gradient rows, transposed to one vector per patch row
// (`lanes`, patch vectors), added to the inputs: kernel column by kernel column, so that
// consecutive vectors land in different input rows. Overlapping vectors back to back stall on
// store forwarding. Lanes falling in the padding are dropped.
function addBlock(lanes: usize, gradX: usize, channels: i32, height: i32, width: i32, kernelH: i32, kernelW: i32, dilationH: i32, dilationW: i32, hCorner: i32, wCorner: i32): void {
  const planeBytes = (<usize>height * width) << 2;
  const patchRowBytes: usize = 16;
  for (let kj = 0; kj < kernelW; kj++) {
    const iw = wCorner + kj * dilationW;
    if (iw + BLOCK <= 0 || iw >= width) continue;
    const whole = iw >= 0 && iw + BLOCK <= width;
    for (let ki = 0; ki < kernelH; ki++) {
      const ih = hCorner + ki * dilationH;
      if (<u32>ih >= <u32>height) continue;
      let at = gradX + ((<usize>(ih * width + iw)) << 2);
      let from = lanes + <usize>(ki * kernelW + kj) * patchRowBytes;
      const step = <usize>(kernelH * kernelW) * patchRowBytes;
      if (whole) {
        for (let c = 0; c < channels; c++) {
          v128.store(at, f32x4.add(v128.load(at), v128.load(from)));
          at += planeBytes;
          from += step;
        }
      } else {
        for (let c = 0; c < channels; c++) {
          for (let lane = 0; lane < BLOCK; lane++) {
            if (<u32>(iw + lane) < <u32>width) {
              const target = at + (<usize>lane << 2);
              store<f32>(target, load<f32>(target) + load<f32>(from + (<usize>lane << 2)));
            }
          }
          at += planeBytes;
          from += step;
        }
      }
    }
  }
}

/**
 * gradX += fold(Wᵀ·δ) for one sample (and group) of a convolution: δ [channelsOut, outH·outW]
 * is the output gradient, mostly zero; W [channelsOut, patch] the weight, patch =
 * channels·kh·kw; gradX [channels, height, width] the input gradient. Each output position's
 * unfolded gradient row sums the weight rows of its nonzero δ entries and goes straight into
 * the input it came from; with stride 1, four adjacent positions go together as vectors. The
 * unfolded gradient never leaves the cache, where a GEMM-shaped path transposes and folds it
 * through memory.
 */
export function sparseConvInputGradient(
  delta: usize, channelsOut: i32, weight: usize, gradX: usize, channels: i32, height: i32, width: i32, kernelH: i32, kernelW: i32,
  strideH: i32, strideW: i32, padH: i32, padW: i32, dilationH: i32, dilationW: i32, outH: i32, outW: i32, work: usize,
): void {
  const patch = channels * kernelH * kernelW;
  const plane = outH * outW;
  const picked = work;
  const values = picked + (<usize>channelsOut << 2);
  const rows = values + (<usize>channelsOut << 2);
  const rowBytes = <usize>patch << 2;
  const lanes = rows + <usize>BLOCK * rowBytes;
  const deltaStride = <usize>plane << 2;
  const blocked = strideW == 1 && outW >= BLOCK;
  for (let oh = 0; oh < outH; oh++) {
    const hCorner = oh * strideH - padH;
    const rowStart = delta + ((<usize>oh * outW) << 2);
    if (!blocked) {
      for (let ow = 0; ow < outW; ow++) {
        const count = pickNonzeros(rowStart + (<usize>ow << 2), deltaStride, channelsOut, picked, values);
        if (count == 0) continue;
        combineRows(picked, values, count, weight, patch, rows);
        addPosition(rows, gradX, channels, height, width, kernelH, kernelW, dilationH, dilationW, hCorner, ow * strideW - padW);
      }
      continue;
    }
    // A row whose width is not a multiple of four ends with a block overlapping the previous
    // one, whose already added positions contribute zero rows.
    for (let done = 0; done < outW; ) {
      const ow = min(done, outW - BLOCK);
      let found = 0;
      for (let q = 0; q < BLOCK; q++) {
        const row = rows + <usize>q * rowBytes;
        const count = ow + q < done ? 0 : pickNonzeros(rowStart + (<usize>(ow + q) << 2), deltaStride, channelsOut, picked, values);
        if (count == 0) memory.fill(row, 0, rowBytes);
        else combineRows(picked, values, count, weight, patch, row);
        found += count;
      }
      done = ow + BLOCK;
      if (found == 0) continue;
      let j = 0;
      for (; j + 4 <= patch; j += 4) {
        const at = rows + (<usize>j << 2);
        const r0 = v128.load(at);
        const r1 = v128.load(at + rowBytes);
        const r2 = v128.load(at + 2 * rowBytes);
        const r3 = v128.load(at + 3 * rowBytes);
        storeTransposed4x4(r0, r1, r2, r3, lanes + (<usize>j << 4), 16);
      }
      for (; j < patch; j++) {
        for (let q = 0; q < BLOCK; q++) store<f32>(lanes + (<usize>j << 4) + (<usize>q << 2), load<f32>(rows + <usize>q * rowBytes + (<usize>j << 2)));
      }
      addBlock(lanes, gradX, channels, height, width, kernelH, kernelW, dilationH, dilationW, hCorner, ow - padW);
    }
  }
}

// Sums over one axis of a tensor viewed as [outer, length, inner], and the broadcast back.

import { dot } from "./elementwise";
import { highPair, lowPair } from "./simd";

/** out[o, i] = scale · Σ_l x[o, l, i]: rows added in order, four lanes at a time (one sum per lane group when inner = 1). */
export function sumAxis(x: usize, outer: i32, length: i32, inner: i32, scale: f32, out: usize): void {
  const vs = f32x4.splat(scale);
  for (let o = 0; o < outer; o++) {
    const dst = out + ((<usize>o * inner) << 2);
    const base = x + ((<usize>o * length * inner) << 2);
    if (inner == 1) {
      let acc = f32x4.splat(0);
      let l = 0;
      for (; l + 4 <= length; l += 4) acc = f32x4.add(acc, v128.load(base + (<usize>l << 2)));
      let total = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
      for (; l < length; l++) total += load<f32>(base + (<usize>l << 2));
      store<f32>(dst, total * scale);
      continue;
    }
    memory.fill(dst, 0, <usize>inner << 2);
    for (let l = 0; l < length; l++) {
      const src = base + ((<usize>l * inner) << 2);
      let i = 0;
      for (; i + 4 <= inner; i += 4) v128.store(dst + (<usize>i << 2), f32x4.add(v128.load(dst + (<usize>i << 2)), v128.load(src + (<usize>i << 2))));
      for (; i < inner; i++) store<f32>(dst + (<usize>i << 2), load<f32>(dst + (<usize>i << 2)) + load<f32>(src + (<usize>i << 2)));
    }
    if (scale != 1) {
      let i = 0;
      for (; i + 4 <= inner; i += 4) v128.store(dst + (<usize>i << 2), f32x4.mul(v128.load(dst + (<usize>i << 2)), vs));
      for (; i < inner; i++) store<f32>(dst + (<usize>i << 2), load<f32>(dst + (<usize>i << 2)) * scale);
    }
  }
}

/** out[o, l, i] = scale · g[o, i]: the gradient of sumAxis. */
export function expandAxis(g: usize, outer: i32, length: i32, inner: i32, scale: f32, out: usize): void {
  const vs = f32x4.splat(scale);
  for (let o = 0; o < outer; o++) {
    const src = g + ((<usize>o * inner) << 2);
    for (let l = 0; l < length; l++) {
      const dst = out + ((<usize>(o * length + l) * inner) << 2);
      let i = 0;
      for (; i + 4 <= inner; i += 4) v128.store(dst + (<usize>i << 2), f32x4.mul(v128.load(src + (<usize>i << 2)), vs));
      for (; i < inner; i++) store<f32>(dst + (<usize>i << 2), load<f32>(src + (<usize>i << 2)) * scale);
    }
  }
}

/** Σ_i (x_i − y_i)² accumulated in float64, or Σ_i x_i² when y is 0 (no tensor lives at address 0). */
export function squaredDistance(n: i32, x: usize, y: usize): f64 {
  let acc = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const v = v128.load(x + offset);
    const w = y ? v128.load(y + offset) : f32x4.splat(0);
    const low = f64x2.sub(lowPair(v), lowPair(w));
    const high = f64x2.sub(highPair(v), highPair(w));
    acc = f64x2.add(acc, f64x2.add(f64x2.mul(low, low), f64x2.mul(high, high)));
  }
  let total = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) {
    const d = <f64>load<f32>(x + (<usize>i << 2)) - (y ? <f64>load<f32>(y + (<usize>i << 2)) : 0);
    total += d * d;
  }
  return total;
}

/** Σ_i x_i·y_i accumulated in float64. */
export function dotProduct(n: i32, x: usize, y: usize): f64 {
  let acc = f64x2.splat(0);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const v = v128.load(x + offset);
    const w = v128.load(y + offset);
    acc = f64x2.add(acc, f64x2.add(f64x2.mul(lowPair(v), lowPair(w)), f64x2.mul(highPair(v), highPair(w))));
  }
  let total = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) total += <f64>load<f32>(x + (<usize>i << 2)) * <f64>load<f32>(y + (<usize>i << 2));
  return total;
}

/**
 * Σ_i x_i / (y_i + ε) accumulated in float64 (each quotient too), or Σ_i x_i when y is 0: the
 * reductions of curvature diagonals (traces, Takeuchi's criterion).
 */
export function quotientSum(n: i32, x: usize, y: usize, epsilon: f64): f64 {
  let acc = f64x2.splat(0);
  const eps = f64x2.splat(epsilon);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const offset = <usize>i << 2;
    const v = v128.load(x + offset);
    if (y) {
      const w = v128.load(y + offset);
      acc = f64x2.add(acc, f64x2.add(f64x2.div(lowPair(v), f64x2.add(lowPair(w), eps)), f64x2.div(highPair(v), f64x2.add(highPair(w), eps))));
    } else acc = f64x2.add(acc, f64x2.add(lowPair(v), highPair(v)));
  }
  let total = f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1);
  for (; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    total += y ? v / (<f64>load<f32>(y + (<usize>i << 2)) + epsilon) : v;
  }
  return total;
}

/** The number of elements that are not ±0 (NaN counts). */
export function countNonzero(n: i32, x: usize): i32 {
  const zero = f32x4.splat(0);
  let counts = i32x4.splat(0);
  let i = 0;
  // ne gives -1 in the lanes that count.
  for (; i + 4 <= n; i += 4) counts = i32x4.sub(counts, f32x4.ne(v128.load(x + (<usize>i << 2)), zero));
  let total = i32x4.extract_lane(counts, 0) + i32x4.extract_lane(counts, 1) + i32x4.extract_lane(counts, 2) + i32x4.extract_lane(counts, 3);
  for (; i < n; i++) if (load<f32>(x + (<usize>i << 2)) != 0) total++;
  return total;
}

/**
 * out[o, i] = max_l x[o, l, i] and argmax[o, i] = the first l reaching it; a NaN wins at its
 * first position and stays (PyTorch's max). Four lanes of i at a time.
 */
export function maxAxis(x: usize, outer: i32, length: i32, inner: i32, out: usize, argmax: usize): void {
  for (let o = 0; o < outer; o++) {
    const base = x + ((<usize>o * length * inner) << 2);
    const dst = <usize>o * inner;
    let i = 0;
    for (; i + 4 <= inner; i += 4) {
      let best = f32x4.splat(f32.NEGATIVE_INFINITY);
      let bestIndex = i32x4.splat(0);
      for (let l = 0; l < length; l++) {
        const v = v128.load(base + ((<usize>l * inner + i) << 2));
        // v > best, or v is the lane's first NaN (a NaN best is never replaced).
        const better = v128.or(f32x4.gt(v, best), v128.andnot(f32x4.ne(v, v), f32x4.ne(best, best)));
        best = v128.bitselect(v, best, better);
        bestIndex = v128.bitselect(i32x4.splat(l), bestIndex, better);
      }
      v128.store(out + ((dst + i) << 2), best);
      v128.store(argmax + ((dst + i) << 2), bestIndex);
    }
    for (; i < inner; i++) {
      let best = f32.NEGATIVE_INFINITY;
      let bestIndex = 0;
      for (let l = 0; l < length; l++) {
        const v = load<f32>(base + ((<usize>l * inner + i) << 2));
        if (v > best || isNaN(v)) {
          best = v;
          bestIndex = l;
          if (isNaN(v)) break;
        }
      }
      store<f32>(out + ((dst + <usize>i) << 2), best);
      store<i32>(argmax + ((dst + <usize>i) << 2), bestIndex);
    }
  }
}

/** The reductions reduceChunks can run, by number. */
const SQUARED_DISTANCE = 0;
const DOT_PRODUCT = 1;
const QUOTIENT_SUM = 2;

/**
 * One of the float64 reductions above (0 squaredDistance, 1 dotProduct, 2 quotientSum) of each
 * `chunk`-element chunk c in [firstChunk, endChunk) of x (and y), into out[c] as float64: fixed
 * chunks that any thread may take, added in order by the caller.
 */
export function reduceChunks(op: i32, n: i32, x: usize, y: usize, epsilon: f64, chunk: i32, firstChunk: i32, endChunk: i32, out: usize): void {
  for (let c = firstChunk; c < endChunk; c++) {
    const start = c * chunk;
    const length = min(chunk, n - start);
    const offset = <usize>start << 2;
    const xc = x + offset;
    const yc = y ? y + offset : 0;
    let value: f64 = 0;
    if (op == SQUARED_DISTANCE) value = squaredDistance(length, xc, yc);
    else if (op == DOT_PRODUCT) value = dotProduct(length, xc, yc);
    else if (op == QUOTIENT_SUM) value = quotientSum(length, xc, yc, epsilon);
    store<f64>(out + (<usize>c << 3), value);
  }
}

/**
 * out[i] (float64) = x_i·y_i for rows i in [firstRow, endRow) of length floats: x's rows are
 * consecutive, y's `yStride` floats apart (0: one y for every row). `precise`: dotProduct's
 * float64 sum, else the float32 dot of elementwise.ts.
 */
export function rowDots(precise: i32, length: i32, x: usize, y: usize, yStride: i32, firstRow: i32, endRow: i32, out: usize): void {
  for (let i = firstRow; i < endRow; i++) {
    const xi = x + ((<usize>i * length) << 2);
    const yi = y + ((<usize>i * yStride) << 2);
    store<f64>(out + (<usize>i << 3), precise ? dotProduct(length, xi, yi) : <f64>dot(length, xi, yi));
  }
}

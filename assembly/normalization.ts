// Per-channel statistics and maps over tensors viewed as [outer, channels, inner]: batch norm's
// channels (inner = the spatial size), layer norm's rows (outer 1, channels = rows) and its
// per-position affine (inner 1). Runs of inner values are contiguous; with inner >= 4 the
// kernels vectorize along them, with inner 1 along the channels, otherwise they loop scalar.
// Sums accumulate in float64, as the TypeScript implementations they replace did.

import { highPair, lowPair } from "./simd";

@inline
function at(p: usize, i: i32): usize {
  return p + (<usize>i << 2);
}

// A per-channel parameter, or `absent` when the pointer is 0.
@inline
function param(p: usize, c: i32, absent: f32): f32 {
  return p == 0 ? absent : load<f32>(at(p, c));
}

/**
 * out[c] = Σ_{n,s} (x[n,c,s] − m_c)·(y[n,c,s] − m_c), accumulated in float64, with m the
 * centers (0 when the pointer is 0) and the second factor 1 when y is 0: plain sums (y = 0),
 * sums of products (centers 0) and squared deviations from the mean (y = x).
 */
export function channelSums(x: usize, y: usize, outer: i32, channels: i32, inner: i32, centers: usize, out: usize): void {
  channelSumsRange(x, y, outer, channels, inner, centers, out, 0, channels);
}

/** channelSums of channels [first, end) only: the thread-range form (each channel's sum is one thread's). */
export function channelSumsRange(x: usize, y: usize, outer: i32, channels: i32, inner: i32, centers: usize, out: usize, first: i32, end: i32): void {
  for (let c = first; c < end; c++) {
    const center = <f64>param(centers, c, 0);
    const centerPair = f64x2.splat(center);
    let acc = f64x2.splat(0);
    let total: f64 = 0;
    for (let n = 0; n < outer; n++) {
      const run = (n * channels + c) * inner;
      let s = 0;
      for (; s + 4 <= inner; s += 4) {
        const v = v128.load(at(x, run + s));
        const low = f64x2.sub(lowPair(v), centerPair);
        const high = f64x2.sub(highPair(v), centerPair);
        if (y == 0) acc = f64x2.add(acc, f64x2.add(low, high));
        else {
          const w = v128.load(at(y, run + s));
          acc = f64x2.add(acc, f64x2.add(f64x2.mul(low, f64x2.sub(lowPair(w), centerPair)), f64x2.mul(high, f64x2.sub(highPair(w), centerPair))));
        }
      }
      for (; s < inner; s++) {
        const d = <f64>load<f32>(at(x, run + s)) - center;
        total += y == 0 ? d : d * (<f64>load<f32>(at(y, run + s)) - center);
      }
    }
    store<f32>(at(out, c), <f32>(total + f64x2.extract_lane(acc, 0) + f64x2.extract_lane(acc, 1)));
  }
}

/**
 * out[n,c,s] = (x[n,c,s] − center[c])·scale[c] + weight[c]·y[n,c,s] + shift[c]: normalization,
 * the affine after it, and the backward combinations of batch and layer norm. A 0 pointer means
 * centers 0, scales 1, no y term, shifts 0. `out` may be `x` or `y`.
 */
export function channelAffine(x: usize, y: usize, outer: i32, channels: i32, inner: i32, center: usize, scale: usize, weight: usize, shift: usize, out: usize): void {
  if (inner == 1) {
    for (let n = 0; n < outer; n++) {
      const row = n * channels;
      let c = 0;
      for (; c + 4 <= channels; c += 4) {
        const m = center == 0 ? f32x4.splat(0) : v128.load(at(center, c));
        const k = scale == 0 ? f32x4.splat(1) : v128.load(at(scale, c));
        const b = shift == 0 ? f32x4.splat(0) : v128.load(at(shift, c));
        const term = y == 0 ? f32x4.splat(0) : f32x4.mul(v128.load(at(weight, c)), v128.load(at(y, row + c)));
        v128.store(at(out, row + c), f32x4.add(f32x4.add(f32x4.mul(f32x4.sub(v128.load(at(x, row + c)), m), k), term), b));
      }
      for (; c < channels; c++) {
        const term: f32 = y == 0 ? 0 : load<f32>(at(weight, c)) * load<f32>(at(y, row + c));
        store<f32>(at(out, row + c), (load<f32>(at(x, row + c)) - param(center, c, 0)) * param(scale, c, 1) + term + param(shift, c, 0));
      }
    }
    return;
  }
  for (let n = 0; n < outer; n++) {
    for (let c = 0; c < channels; c++) {
      const m = param(center, c, 0);
      const k = param(scale, c, 1);
      const w = y == 0 ? <f32>0 : load<f32>(at(weight, c));
      const b = param(shift, c, 0);
      const mv = f32x4.splat(m);
      const kv = f32x4.splat(k);
      const wv = f32x4.splat(w);
      const bv = f32x4.splat(b);
      const run = (n * channels + c) * inner;
      let s = 0;
      for (; s + 4 <= inner; s += 4) {
        const term = y == 0 ? f32x4.splat(0) : f32x4.mul(wv, v128.load(at(y, run + s)));
        v128.store(at(out, run + s), f32x4.add(f32x4.add(f32x4.mul(f32x4.sub(v128.load(at(x, run + s)), mv), kv), term), bv));
      }
      for (; s < inner; s++) {
        const term: f32 = y == 0 ? 0 : w * load<f32>(at(y, run + s));
        store<f32>(at(out, run + s), (load<f32>(at(x, run + s)) - m) * k + term + b);
      }
    }
  }
}

import { madd } from "./simd";

/**
 * `rounds` rounds of twelve independent vector multiply-adds (the build's `madd`, so FMA where
 * relaxed SIMD is on): the most float work one thread can do per second, which the benchmark
 * measures alongside GEMM because this host's speed drifts by a third within seconds. Twelve
 * chains hide the FMA latency without spilling V8's fifteen vector registers. Returns a value
 * that depends on every chain, so none is optimized away.
 */
export function multiplyAddCeiling(rounds: i32, seed: f32): f32 {
  const scale = f32x4.splat(0.999);
  const shift = f32x4.splat(0.001);
  let c0 = f32x4.splat(seed), c1 = f32x4.splat(seed + 1), c2 = f32x4.splat(seed + 2), c3 = f32x4.splat(seed + 3);
  let c4 = f32x4.splat(seed + 4), c5 = f32x4.splat(seed + 5), c6 = f32x4.splat(seed + 6), c7 = f32x4.splat(seed + 7);
  let c8 = f32x4.splat(seed + 8), c9 = f32x4.splat(seed + 9), c10 = f32x4.splat(seed + 10), c11 = f32x4.splat(seed + 11);
  for (let i = 0; i < rounds; i++) {
    c0 = madd(c0, scale, shift); c1 = madd(c1, scale, shift); c2 = madd(c2, scale, shift); c3 = madd(c3, scale, shift);
    c4 = madd(c4, scale, shift); c5 = madd(c5, scale, shift); c6 = madd(c6, scale, shift); c7 = madd(c7, scale, shift);
    c8 = madd(c8, scale, shift); c9 = madd(c9, scale, shift); c10 = madd(c10, scale, shift); c11 = madd(c11, scale, shift);
  }
  const low = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)), f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)));
  return f32x4.extract_lane(f32x4.add(low, f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))), 0);
}

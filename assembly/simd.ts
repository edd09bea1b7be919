// Fused multiply-add where the runtime has relaxed SIMD (one rounding, twice the throughput),
// a separate multiply and add otherwise. The two builds differ only here and in truncInRange.
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

// Float32 lanes truncated to int32, for lanes known to be finite and within int32's range, where
// both forms agree: relaxed SIMD's is one instruction, the saturating form several on x86.
@inline
export function truncInRange(v: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return i32x4.relaxed_trunc_f32x4_s(v);
  return i32x4.trunc_sat_f32x4_s(v);
}

// Float32 lanes 0–1 and 2–3 of v, widened to float64: float64 sums reduce millions of elements,
// where a float32 running sum would drift past the tolerances of the statistics built on them.
@inline
export function lowPair(v: v128): v128 {
  return f64x2.promote_low_f32x4(v);
}

@inline
export function highPair(v: v128): v128 {
  return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3));
}

// Four rows of four floats, transposed: out[k] = (r0[k], r1[k], r2[k], r3[k]) for k = 0..3,
// stored at `out`, `out + stride`, `out + 2·stride`, `out + 3·stride` (bytes).
@inline
export function storeTransposed4x4(r0: v128, r1: v128, r2: v128, r3: v128, out: usize, stride: usize): void {
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
  const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
  const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(out, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(out + stride, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(out + 2 * stride, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(out + 3 * stride, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

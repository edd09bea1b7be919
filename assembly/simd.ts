// Fused multiply-add where the runtime has relaxed SIMD (one rounding, twice the throughput),
// a separate multiply and add otherwise. The two builds differ only here.
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

import { highPair, lowPair } from "./simd";

// One row of four lower-triangle entries, (scale·first)·second in float64, as two f64 pairs.
@inline
function entriesLow(first: usize, second: usize, at: usize, scale: v128): v128 {
  const product = f64x2.mul(scale, lowPair(v128.load(first + at)));
  return second == 0 ? product : f64x2.mul(product, lowPair(v128.load(second + at)));
}

@inline
function entriesHigh(first: usize, second: usize, at: usize, scale: v128): v128 {
  const product = f64x2.mul(scale, highPair(v128.load(first + at)));
  return second == 0 ? product : f64x2.mul(product, highPair(v128.load(second + at)));
}

/**
 * out (N×N float64, row-major) = the symmetric matrix whose lower triangle (i >= j) is
 * (scale·first[i][j])·second[i][j] in float64, from row-major N×N float32 lower triangles (second
 * = 0: 1). Off-diagonal 4×4 tiles are stored as rows and, transposed in registers, as the mirror
 * tile's rows: written one by one down a column, the mirror cost more than the products.
 */
export function symmetricProduct(first: usize, second: usize, n: i32, scale: f64, out: usize): void {
  const vs = f64x2.splat(scale);
  const tiled = n & ~3;
  const rowBytes = <usize>n << 2;
  const outRowBytes = <usize>n << 3;
  for (let i0 = 0; i0 < tiled; i0 += 4) {
    for (let j0 = 0; j0 < i0; j0 += 4) {
      const at = <usize>i0 * rowBytes + (<usize>j0 << 2);
      const r0l = entriesLow(first, second, at, vs), r0h = entriesHigh(first, second, at, vs);
      const r1l = entriesLow(first, second, at + rowBytes, vs), r1h = entriesHigh(first, second, at + rowBytes, vs);
      const r2l = entriesLow(first, second, at + 2 * rowBytes, vs), r2h = entriesHigh(first, second, at + 2 * rowBytes, vs);
      const r3l = entriesLow(first, second, at + 3 * rowBytes, vs), r3h = entriesHigh(first, second, at + 3 * rowBytes, vs);
      const rows = out + <usize>i0 * outRowBytes + (<usize>j0 << 3);
      v128.store(rows, r0l); v128.store(rows, r0h, 16);
      v128.store(rows + outRowBytes, r1l); v128.store(rows + outRowBytes, r1h, 16);
      v128.store(rows + 2 * outRowBytes, r2l); v128.store(rows + 2 * outRowBytes, r2h, 16);
      v128.store(rows + 3 * outRowBytes, r3l); v128.store(rows + 3 * outRowBytes, r3h, 16);
      // Mirror row j0 + k holds column k of the tile: (r0[k], r1[k] | r2[k], r3[k]).
      const mirror = out + <usize>j0 * outRowBytes + (<usize>i0 << 3);
      v128.store(mirror, v128.shuffle<f64>(r0l, r1l, 0, 2)); v128.store(mirror, v128.shuffle<f64>(r2l, r3l, 0, 2), 16);
      v128.store(mirror + outRowBytes, v128.shuffle<f64>(r0l, r1l, 1, 3)); v128.store(mirror + outRowBytes, v128.shuffle<f64>(r2l, r3l, 1, 3), 16);
      v128.store(mirror + 2 * outRowBytes, v128.shuffle<f64>(r0h, r1h, 0, 2)); v128.store(mirror + 2 * outRowBytes, v128.shuffle<f64>(r2h, r3h, 0, 2), 16);
      v128.store(mirror + 3 * outRowBytes, v128.shuffle<f64>(r0h, r1h, 1, 3)); v128.store(mirror + 3 * outRowBytes, v128.shuffle<f64>(r2h, r3h, 1, 3), 16);
    }
  }
  // Diagonal tiles and the rows past the last whole tile, one entry at a time.
  for (let i = 0; i < n; i++) {
    for (let j = i < tiled ? i & ~3 : 0; j <= i; j++) {
      const at = <usize>i * rowBytes + (<usize>j << 2);
      let value = scale * <f64>load<f32>(first + at);
      if (second != 0) value *= <f64>load<f32>(second + at);
      store<f64>(out + <usize>i * outRowBytes + (<usize>j << 3), value);
      store<f64>(out + <usize>j * outRowBytes + (<usize>i << 3), value);
    }
  }
}

import { sumSquaresInto } from "./elementwise";
import { gemmRowsOfB, gemmWorkspaceBytes } from "./gemm";
import { combineRows } from "./sparseConv";

// Kernels of curvature diagonals. Pointers are byte offsets, float32 unless said otherwise.

@inline
function aligned(bytes: i32): i32 {
  return (bytes + 15) & ~15;
}

/** Workspace bytes `sparseColumnSquares` needs. */
export function sparseColumnSquaresWorkspaceBytes(columns: i32, plane: i32, patch: i32): i32 {
  return gemmWorkspaceBytes() + aligned(plane << 2) + aligned((columns * plane) << 2) + ((columns * patch) << 2);
}

/**
 * target[o·patch + j] += sign · Σ_c (Σ_p δ[c, o, p] · unfoldedT[p, j])² for o < channels: one
 * sample's per-column conv weight gradients, squared and summed over the columns. δ is
 * [columns, channels, plane], unfoldedT the sample's unfolded input position-major
 * [plane, patch]. Each channel gathers only the positions where some column's δ is not zero and
 * multiplies them against those rows of unfoldedT, so the output gradients that ReLU and
 * max-pooling leave mostly zero cost in proportion to their nonzeros.
 */
export function sparseColumnSquares(columns: i32, channels: i32, plane: i32, patch: i32, deltas: usize, unfoldedT: usize, target: usize, sign: f32, work: usize): void {
  const positions = work + <usize>gemmWorkspaceBytes();
  const gathered = positions + <usize>aligned(plane << 2);
  const products = gathered + <usize>aligned((columns * plane) << 2);
  const columnBytes = (<usize>channels * plane) << 2;
  const zero = f32x4.splat(0);
  for (let o = 0; o < channels; o++) {
    const channel = deltas + ((<usize>o * plane) << 2);
    let count = 0;
    let p = 0;
    for (; p + 4 <= plane; p += 4) {
      let nonzero = i32x4.splat(0);
      for (let c = 0; c < columns; c++) nonzero = v128.or(nonzero, f32x4.ne(v128.load(channel + <usize>c * columnBytes + (<usize>p << 2)), zero));
      for (let mask = i32x4.bitmask(nonzero); mask != 0; mask &= mask - 1) count = gather(columns, plane, channel, columnBytes, p + ctz(mask), positions, gathered, count);
    }
    for (; p < plane; p++) {
      let nonzero = false;
      for (let c = 0; c < columns; c++) nonzero = nonzero || load<f32>(channel + <usize>c * columnBytes + (<usize>p << 2)) != 0;
      if (nonzero) count = gather(columns, plane, channel, columnBytes, p, positions, gathered, count);
    }
    if (count == 0) continue;
    // Rows past the GEMM's four-row panels (nine columns for ten classes) would cost a whole
    // zero-padded panel there; alone each is a weighted sum of the gathered rows, which is
    // cheaper for up to three of them at these short K (measured: one row 3.7x faster).
    const paneled = columns & ~3;
    if (paneled > 0) gemmRowsOfB(paneled, patch, count, 1, gathered, plane, unfoldedT, patch, positions, 0, products, patch, work);
    for (let c = paneled; c < columns; c++) combineRows(positions, gathered + ((<usize>c * plane) << 2), count, unfoldedT, patch, products + ((<usize>c * patch) << 2));
    sumSquaresInto(patch, columns, products, target + ((<usize>o * patch) << 2), sign);
  }
}

// Appends `position` to the gathered list: its index, and each column's δ there as the next
// column of the [columns, plane] matrix `gathered`. Returns the new count.
@inline
function gather(columns: i32, plane: i32, channel: usize, columnBytes: usize, position: i32, positions: usize, gathered: usize, count: i32): i32 {
  store<i32>(positions + (<usize>count << 2), position);
  for (let c = 0; c < columns; c++) store<f32>(gathered + (<usize>(c * plane + count) << 2), load<f32>(channel + <usize>c * columnBytes + (<usize>position << 2)));
  return count + 1;
}

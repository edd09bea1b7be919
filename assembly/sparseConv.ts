import { madd } from "./simd";

// Convolution backward for output gradients that are mostly zero (after ReLU and max-pooling).

/** Workspace bytes `sparseInputColumns` needs: the nonzero channels of one position and their values. */
export function sparseInputColumnsWorkspaceBytes(channels: i32): i32 {
  return channels << 3;
}

/**
 * The unfolded input gradient of one sample, position-major: rows[p, :] = Σ_o δ[o, p]·W[o, :]
 * for each of `plane` positions, with δ [channels, plane] and W [channels, patch]. Each position
 * sums only the channels whose δ is not zero there, so the work is proportional to the
 * nonzeros; rows with none are zero.
 */
export function sparseInputColumns(delta: usize, channels: i32, plane: i32, weight: usize, patch: i32, rows: usize, work: usize): void {
  const picked = work;
  const values = work + (<usize>channels << 2);
  const rowBytes = <usize>patch << 2;
  for (let p = 0; p < plane; p++) {
    let count = 0;
    for (let o = 0; o < channels; o++) {
      const value = load<f32>(delta + ((<usize>o * plane + p) << 2));
      if (value == 0) continue;
      store<i32>(picked + (<usize>count << 2), o);
      store<f32>(values + (<usize>count << 2), value);
      count++;
    }
    const row = rows + <usize>p * rowBytes;
    if (count == 0) {
      memory.fill(row, 0, rowBytes);
      continue;
    }
    let j = 0;
    for (; j + 16 <= patch; j += 16) {
      let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
      for (let k = 0; k < count; k++) {
        const v = v128.load32_splat(values + (<usize>k << 2));
        const w = weight + <usize>load<i32>(picked + (<usize>k << 2)) * rowBytes + (<usize>j << 2);
        a0 = madd(v, v128.load(w), a0);
        a1 = madd(v, v128.load(w, 16), a1);
        a2 = madd(v, v128.load(w, 32), a2);
        a3 = madd(v, v128.load(w, 48), a3);
      }
      const out = row + (<usize>j << 2);
      v128.store(out, a0);
      v128.store(out, a1, 16);
      v128.store(out, a2, 32);
      v128.store(out, a3, 48);
    }
    for (; j + 4 <= patch; j += 4) {
      let a0 = f32x4.splat(0);
      for (let k = 0; k < count; k++) a0 = madd(v128.load32_splat(values + (<usize>k << 2)), v128.load(weight + <usize>load<i32>(picked + (<usize>k << 2)) * rowBytes + (<usize>j << 2)), a0);
      v128.store(row + (<usize>j << 2), a0);
    }
    for (; j < patch; j++) {
      let total: f32 = 0;
      for (let k = 0; k < count; k++) total += load<f32>(values + (<usize>k << 2)) * load<f32>(weight + <usize>load<i32>(picked + (<usize>k << 2)) * rowBytes + (<usize>j << 2));
      store<f32>(row + (<usize>j << 2), total);
    }
  }
}

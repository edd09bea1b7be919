import { madd } from "./simd";

// A product whose left factor is mostly zero: conv backward passes after ReLU and max-pooling.

/** Workspace bytes `sparseDenseProduct` needs: one row's nonzero columns and their values. */
export function sparseDenseProductWorkspaceBytes(k: i32): i32 {
  return k << 3;
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
    const aRow = a + <usize>i * (<usize>k << 2);
    // Branch-free: which entries are zero is close to random, so a branch mispredicts often.
    let count = 0;
    for (let p = 0; p < k; p++) {
      const value = load<f32>(aRow + (<usize>p << 2));
      store<i32>(picked + (<usize>count << 2), p);
      store<f32>(values + (<usize>count << 2), value);
      count += <i32>(value != 0);
    }
    const row = c + <usize>i * rowBytes;
    if (count == 0) {
      memory.fill(row, 0, rowBytes);
      continue;
    }
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
}

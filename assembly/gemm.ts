import { madd, storeTransposed4x4 } from "./simd";

// GEMM after Goto & van de Geijn: B is packed into KC x NR column panels and A into MR x KC row
// panels, so the micro-kernel streams both from cache with unit stride whatever the transposes.
const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 2048;

/** Workspace bytes `gemm` needs (packed A block + packed B panel). */
export function gemmWorkspaceBytes(): i32 {
  return (MC * KC + KC * NC) * 4;
}

// Element (row, col) of op(X) where X is row-major with leading dimension ld.
@inline
function at(base: usize, trans: bool, ld: i32, row: i32, col: i32): f32 {
  const index = trans ? col * ld + row : row * ld + col;
  return load<f32>(base + (<usize>index << 2));
}

// Four k values of row r of a panel whose rows start at `at`, `step` bytes apart; rows past
// the panel's last are zero (a partial panel is packed like a whole one).
@inline
function panelRow(at: usize, step: usize, r: i32, rows: i32): v128 {
  return r < rows ? v128.load(at + <usize>r * step) : i32x4.splat(0);
}

function packA(a: usize, transA: bool, lda: i32, i0: i32, mc: i32, k0: i32, kc: i32, out: usize): void {
  for (let ip = 0; ip < mc; ip += MR) {
    const rows = min(MR, mc - ip);
    let k = 0;
    if (transA && rows == MR) {
      // A's rows are op(A)'s columns: the four values of one k are adjacent.
      for (; k < kc; k++) {
        v128.store(out, v128.load(a + ((<usize>(k0 + k) * lda + i0 + ip) << 2)));
        out += MR << 2;
      }
    } else if (!transA) {
      // Four rows, four k at a time, transposed in registers.
      const row = a + ((<usize>(i0 + ip) * lda + k0) << 2);
      const step = <usize>lda << 2;
      for (; k + 4 <= kc; k += 4) {
        const at = row + (<usize>k << 2);
        storeTransposed4x4(panelRow(at, step, 0, rows), panelRow(at, step, 1, rows), panelRow(at, step, 2, rows), panelRow(at, step, 3, rows), out, MR << 2);
        out += (MR * 4) << 2;
      }
    }
    for (; k < kc; k++) {
      for (let r = 0; r < MR; r++) {
        store<f32>(out, r < rows ? at(a, transA, lda, i0 + ip + r, k0 + k) : 0);
        out += 4;
      }
    }
  }
}

// The row of B that op(B)'s row k is: k itself, or rowsOfB[k] when B's rows are gathered.
@inline
function rowOf(rowsOfB: usize, k: i32): i32 {
  return rowsOfB == 0 ? k : load<i32>(rowsOfB + (<usize>k << 2));
}

function packB(b: usize, transB: bool, ldb: i32, k0: i32, kc: i32, j0: i32, nc: i32, out: usize, rowsOfB: usize): void {
  for (let jp = 0; jp < nc; jp += NR) {
    const cols = min(NR, nc - jp);
    if (!transB && cols == NR) {
      for (let k = 0; k < kc; k++) {
        const src = b + ((<usize>rowOf(rowsOfB, k0 + k) * ldb + j0 + jp) << 2);
        v128.store(out, v128.load(src));
        v128.store(out, v128.load(src, 16), 16);
        out += NR << 2;
      }
      continue;
    }
    let k = 0;
    if (transB && rowsOfB == 0) {
      // B's rows are op(B)'s columns: eight rows, four k at a time, as two 4x4 transposes.
      const row = b + ((<usize>(j0 + jp) * ldb + k0) << 2);
      const step = <usize>ldb << 2;
      for (; k + 4 <= kc; k += 4) {
        const at = row + (<usize>k << 2);
        storeTransposed4x4(panelRow(at, step, 0, cols), panelRow(at, step, 1, cols), panelRow(at, step, 2, cols), panelRow(at, step, 3, cols), out, NR << 2);
        storeTransposed4x4(panelRow(at, step, 4, cols), panelRow(at, step, 5, cols), panelRow(at, step, 6, cols), panelRow(at, step, 7, cols), out + 16, NR << 2);
        out += (NR * 4) << 2;
      }
    }
    for (; k < kc; k++) {
      for (let c = 0; c < NR; c++) {
        store<f32>(out, c < cols ? at(b, transB, ldb, rowOf(rowsOfB, k0 + k), j0 + jp + c) : 0);
        out += 4;
      }
    }
  }
}

// MR x NR tile of C (+)= alpha * Ap Bp. `first` applies beta; later k-blocks accumulate.
@inline
function microKernel(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, rows: i32, cols: i32, alpha: f32, beta: f32, first: bool): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0);
  let c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0);
  let c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  for (let k = 0; k < kc; k++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    let a = v128.load32_splat(ap);
    c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.load32_splat(ap, 4);
    c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.load32_splat(ap, 8);
    c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.load32_splat(ap, 12);
    c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    ap += MR << 2;
    bp += NR << 2;
  }
  const va = f32x4.splat(alpha);
  const scaleC = first ? beta : <f32>1;
  if (rows == MR && cols == NR) {
    storeRow(c, c00, c01, va, scaleC);
    storeRow(c + (<usize>ldc << 2), c10, c11, va, scaleC);
    storeRow(c + (<usize>(2 * ldc) << 2), c20, c21, va, scaleC);
    storeRow(c + (<usize>(3 * ldc) << 2), c30, c31, va, scaleC);
    return;
  }
  // Edge tile: spill to a stack-free scratch in registers' order, then copy the valid part.
  const tile = memory.data(MR * NR * 4, 16);
  v128.store(tile, c00); v128.store(tile, c01, 16);
  v128.store(tile, c10, 32); v128.store(tile, c11, 48);
  v128.store(tile, c20, 64); v128.store(tile, c21, 80);
  v128.store(tile, c30, 96); v128.store(tile, c31, 112);
  for (let r = 0; r < rows; r++) {
    for (let col = 0; col < cols; col++) {
      const dst = c + ((<usize>r * ldc + col) << 2);
      const value = alpha * load<f32>(tile + ((<usize>(r * NR + col)) << 2));
      store<f32>(dst, scaleC == 0 ? value : scaleC * load<f32>(dst) + value);
    }
  }
}

@inline
function storeRow(dst: usize, lo: v128, hi: v128, alpha: v128, scaleC: f32): void {
  lo = f32x4.mul(lo, alpha);
  hi = f32x4.mul(hi, alpha);
  if (scaleC != 0) {
    const s = f32x4.splat(scaleC);
    lo = madd(v128.load(dst), s, lo);
    hi = madd(v128.load(dst, 16), s, hi);
  }
  v128.store(dst, lo);
  v128.store(dst, hi, 16);
}

/**
 * C = alpha * op(A) op(B) + beta * C, all row-major float32; op(X) is X or Xᵀ.
 * op(A) is M x K, op(B) is K x N, C is M x N. `work` must hold gemmWorkspaceBytes().
 * beta == 0 overwrites C without reading it (so C may hold garbage or NaN).
 */
export function gemm(transA: bool, transB: bool, m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32, work: usize): void {
  blockedGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work, false, 0);
}

/**
 * The Gram matrix C = X Xᵀ of a rows x length row-major X, computing only the tiles that
 * touch the lower triangle (about half the work). Entries strictly above the diagonal are
 * left partly unwritten; read C[i][j] with i >= j. `work` as for gemm.
 */
export function gramLower(x: usize, rows: i32, length: i32, c: usize, work: usize): void {
  blockedGemm(false, true, rows, rows, length, 1, x, length, x, length, 0, c, rows, work, true, 0);
}

/**
 * C = alpha·A·B[rowsOfB] + beta·C: a GEMM whose K rows of B are the rows listed in `rowsOfB`
 * (K int32 indices) rather than the first K, gathered while B is packed. A is M x K, B's rows
 * hold N floats `ldb` apart. `work` as for gemm.
 */
export function gemmRowsOfB(m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, rowsOfB: usize, beta: f32, c: usize, ldc: i32, work: usize): void {
  blockedGemm(false, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work, false, rowsOfB);
}

function blockedGemm(transA: bool, transB: bool, m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32, work: usize, lowerOnly: bool, rowsOfB: usize): void {
  if (k == 0) {
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        const dst = c + ((<usize>i * ldc + j) << 2);
        store<f32>(dst, beta == 0 ? 0 : beta * load<f32>(dst));
      }
    }
    return;
  }
  const packedA = work;
  const packedB = work + ((<usize>MC * KC) << 2);
  for (let j0 = 0; j0 < n; j0 += NC) {
    const nc = min(NC, n - j0);
    for (let k0 = 0; k0 < k; k0 += KC) {
      const kc = min(KC, k - k0);
      packB(b, transB, ldb, k0, kc, j0, nc, packedB, rowsOfB);
      const first = k0 == 0;
      for (let i0 = 0; i0 < m; i0 += MC) {
        const mc = min(MC, m - i0);
        packA(a, transA, lda, i0, mc, k0, kc, packedA);
        for (let jp = 0; jp < nc; jp += NR) {
          const cols = min(NR, nc - jp);
          const bp = packedB + ((<usize>jp * kc) << 2);
          for (let ip = 0; ip < mc; ip += MR) {
            const rows = min(MR, mc - ip);
            if (lowerOnly && j0 + jp >= i0 + ip + rows) continue;
            const ap = packedA + ((<usize>ip * kc) << 2);
            const cTile = c + ((<usize>(i0 + ip) * ldc + j0 + jp) << 2);
            microKernel(kc, ap, bp, cTile, ldc, rows, cols, alpha, beta, first);
          }
        }
      }
    }
  }
}

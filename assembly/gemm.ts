import { madd, storeTransposed4x4 } from "./simd";

// GEMM after Goto & van de Geijn: B is packed into KC x NR column panels and A into MR x KC row
// panels, so the micro-kernel streams both from cache with unit stride whatever the transposes.
const MR: i32 = 4;
const NR: i32 = 8;
const KC: i32 = 256;
const MC: i32 = 128;
const NC: i32 = 2048;

/** Workspace bytes `gemm` needs (packed A block + packed B panel + an edge tile). */
export function gemmWorkspaceBytes(): i32 {
  return (MC * KC + KC * NC + MR * NR) * 4;
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
function microKernel(kc: i32, ap: usize, bp: usize, c: usize, ldc: i32, rows: i32, cols: i32, alpha: f32, beta: f32, first: bool, tile: usize): void {
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
  // Edge tile: spill to the caller's scratch (per thread: the memory is shared) in registers'
  // order, then copy the valid part.
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
  if (gemmUsesDots(transA, transB, m, n, k)) dotsGemm(m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else blockedGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work, false, 0, 0);
}

/**
 * Whether `gemm` takes the dot-product path for this shape. A threaded caller decides once for
 * the whole product and runs every part on that path (`gemmDots` or `gemmBlocked`), so a part
 * never changes path, and so rounding, because it is smaller.
 */
export function gemmUsesDots(transA: bool, transB: bool, m: i32, n: i32, k: i32): bool {
  return !transA && transB && m * n <= MAX_DOT_ENTRIES && k >= MIN_DOT_K;
}

/** `gemm` on its packed path whatever the shape; arguments as for gemm. */
export function gemmBlocked(transA: bool, transB: bool, m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32, work: usize): void {
  blockedGemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work, false, 0, 0);
}

// A·Bᵀ whose C has at most this many entries, over at least MIN_DOT_K: each entry is a dot
// product of two rows that are contiguous already, so packing (and the zero-padded panels a C
// narrower than MR x NR leaves) costs more than it saves. Measured against the packed kernel:
// 1.7x faster for a 3x3 one-channel convolution's weight gradient (9 x 16 over 784 positions),
// 1.1x at 32 x 32, 0.9x at 32 x 64.
const MAX_DOT_ENTRIES: i32 = 1024;
const MIN_DOT_K: i32 = 64;

@inline
function horizontalSum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

// C[i][j] = alpha·(A[i]·B[j] + the scalar tail from k4 on) + beta·C[i][j], given the vector part.
@inline
function storeDot(c: usize, partial: v128, aRow: usize, bRow: usize, k4: i32, k: i32, alpha: f32, beta: f32): void {
  let total = horizontalSum(partial);
  for (let p = k4; p < k; p++) total += load<f32>(aRow + (<usize>p << 2)) * load<f32>(bRow + (<usize>p << 2));
  store<f32>(c, beta == 0 ? alpha * total : alpha * total + beta * load<f32>(c));
}

// Two rows of A against four rows of B: eight vector accumulators, six loads per eight
// multiply-adds, all within the fifteen registers V8 gives.
function dotTile2x4(a0: usize, a1: usize, b0: usize, lda: usize, ldb: usize, k: i32, alpha: f32, beta: f32, c: usize, ldc: usize): void {
  const b1 = b0 + ldb, b2 = b1 + ldb, b3 = b2 + ldb;
  let s00 = f32x4.splat(0), s01 = f32x4.splat(0), s02 = f32x4.splat(0), s03 = f32x4.splat(0);
  let s10 = f32x4.splat(0), s11 = f32x4.splat(0), s12 = f32x4.splat(0), s13 = f32x4.splat(0);
  const k4 = k & ~3;
  for (let p = 0; p < k4; p += 4) {
    const at = <usize>p << 2;
    const x0 = v128.load(a0 + at), x1 = v128.load(a1 + at);
    const y0 = v128.load(b0 + at), y1 = v128.load(b1 + at), y2 = v128.load(b2 + at), y3 = v128.load(b3 + at);
    s00 = madd(x0, y0, s00); s01 = madd(x0, y1, s01); s02 = madd(x0, y2, s02); s03 = madd(x0, y3, s03);
    s10 = madd(x1, y0, s10); s11 = madd(x1, y1, s11); s12 = madd(x1, y2, s12); s13 = madd(x1, y3, s13);
  }
  storeDot(c, s00, a0, b0, k4, k, alpha, beta);
  storeDot(c + 4, s01, a0, b1, k4, k, alpha, beta);
  storeDot(c + 8, s02, a0, b2, k4, k, alpha, beta);
  storeDot(c + 12, s03, a0, b3, k4, k, alpha, beta);
  storeDot(c + ldc, s10, a1, b0, k4, k, alpha, beta);
  storeDot(c + ldc + 4, s11, a1, b1, k4, k, alpha, beta);
  storeDot(c + ldc + 8, s12, a1, b2, k4, k, alpha, beta);
  storeDot(c + ldc + 12, s13, a1, b3, k4, k, alpha, beta);
}

// One row of A against one row of B, for C's ragged edges.
function dotTile1x1(a0: usize, b0: usize, k: i32, alpha: f32, beta: f32, c: usize): void {
  let s0 = f32x4.splat(0), s1 = f32x4.splat(0);
  const k8 = k & ~7;
  let p = 0;
  for (; p < k8; p += 8) {
    const at = <usize>p << 2;
    s0 = madd(v128.load(a0 + at), v128.load(b0 + at), s0);
    s1 = madd(v128.load(a0 + at, 16), v128.load(b0 + at, 16), s1);
  }
  if (p + 4 <= k) {
    s0 = madd(v128.load(a0 + (<usize>p << 2)), v128.load(b0 + (<usize>p << 2)), s0);
    p += 4;
  }
  storeDot(c, f32x4.add(s0, s1), a0, b0, p, k, alpha, beta);
}

/** C = alpha·A·Bᵀ + beta·C by dot products, A [m, k] and B [n, k] row-major (gemm's dot path). */
export function dotsGemm(m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32): void {
  const aStep = <usize>lda << 2, bStep = <usize>ldb << 2, cStep = <usize>ldc << 2;
  const n4 = n & ~3;
  for (let i = 0; i < m; i += 2) {
    const a0 = a + <usize>i * aStep;
    const c0 = c + <usize>i * cStep;
    if (i + 1 < m) {
      for (let j = 0; j < n4; j += 4) dotTile2x4(a0, a0 + aStep, b + <usize>j * bStep, aStep, bStep, k, alpha, beta, c0 + (<usize>j << 2), cStep);
    } else {
      for (let j = 0; j < n4; j++) dotTile1x1(a0, b + <usize>j * bStep, k, alpha, beta, c0 + (<usize>j << 2));
    }
    for (let r = i; r < min(i + 2, m); r++) {
      for (let j = n4; j < n; j++) dotTile1x1(a + <usize>r * aStep, b + <usize>j * bStep, k, alpha, beta, c + <usize>r * cStep + (<usize>j << 2));
    }
  }
}

/**
 * The Gram matrix C = X Xᵀ of a rows x length row-major X, computing only the tiles that
 * touch the lower triangle (about half the work). Entries strictly above the diagonal are
 * left partly unwritten; read C[i][j] with i >= j. `work` as for gemm.
 */
export function gramLower(x: usize, rows: i32, length: i32, c: usize, work: usize): void {
  gramLowerRows(x, rows, length, c, work, 0, rows);
}

/** gramLower's rows [rowStart, rowEnd) only; rowStart a multiple of 4 keeps gramLower's tiles. */
export function gramLowerRows(x: usize, rows: i32, length: i32, c: usize, work: usize, rowStart: i32, rowEnd: i32): void {
  const rowBytes = <usize>rowStart * length << 2;
  blockedGemm(false, true, rowEnd - rowStart, rows, length, 1, x + rowBytes, length, x, length, 0, c + ((<usize>rowStart * rows) << 2), rows, work, true, 0, rowStart);
}

/**
 * C = alpha·A·B[rowsOfB] + beta·C: a GEMM whose K rows of B are the rows listed in `rowsOfB`
 * (K int32 indices) rather than the first K, gathered while B is packed. A is M x K, B's rows
 * hold N floats `ldb` apart. `work` as for gemm.
 */
export function gemmRowsOfB(m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, rowsOfB: usize, beta: f32, c: usize, ldc: i32, work: usize): void {
  blockedGemm(false, false, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, work, false, rowsOfB, 0);
}

// `firstRow` is the row of the whole product that this part's row 0 is, for the lower-triangle
// test.
function blockedGemm(transA: bool, transB: bool, m: i32, n: i32, k: i32, alpha: f32, a: usize, lda: i32, b: usize, ldb: i32, beta: f32, c: usize, ldc: i32, work: usize, lowerOnly: bool, rowsOfB: usize, firstRow: i32): void {
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
  const tile = packedB + ((<usize>KC * NC) << 2);
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
            if (lowerOnly && j0 + jp >= firstRow + i0 + ip + rows) continue;
            const ap = packedA + ((<usize>ip * kc) << 2);
            const cTile = c + ((<usize>(i0 + ip) * ldc + j0 + jp) << 2);
            microKernel(kc, ap, bp, cTile, ldc, rows, cols, alpha, beta, first, tile);
          }
        }
      }
    }
  }
}

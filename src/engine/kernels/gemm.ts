import { engineMemory } from "../memory.ts";

/** Arguments of a GEMM on engine-memory byte offsets: C = alpha·op(A)·op(B) + beta·C. */
export interface GemmArgs {
  transA: boolean;
  transB: boolean;
  m: number;
  n: number;
  k: number;
  alpha: number;
  a: number;
  lda: number;
  b: number;
  ldb: number;
  beta: number;
  c: number;
  ldc: number;
}

/** Plain TypeScript GEMM: the reference the WASM kernel is tested against. */
export function referenceGemm(args: GemmArgs): void {
  const { transA, transB, m, n, k, alpha, lda, ldb, beta, ldc } = args;
  const heap = engineMemory.f32;
  const a = args.a >>> 2;
  const b = args.b >>> 2;
  const c = args.c >>> 2;
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) {
        const av = heap[a + (transA ? p * lda + i : i * lda + p)];
        const bv = heap[b + (transB ? j * ldb + p : p * ldb + j)];
        sum += av * bv;
      }
      const index = c + i * ldc + j;
      heap[index] = alpha * sum + (beta === 0 ? 0 : beta * heap[index]);
    }
  }
}

const workspaceBytes = engineMemory.kernels.gemmWorkspaceBytes();

/** SIMD GEMM in WebAssembly (packed, register-blocked). */
export function gemm(args: GemmArgs): void {
  const work = engineMemory.workspace(workspaceBytes);
  engineMemory.kernels.gemm(args.transA ? 1 : 0, args.transB ? 1 : 0, args.m, args.n, args.k, args.alpha, args.a, args.lda, args.b, args.ldb, args.beta, args.c, args.ldc, work);
}

/** The lower triangle (i >= j) of X Xᵀ for a rows×length X at byte offset x, into c (rows×rows). */
export function gramLower(x: number, rows: number, length: number, c: number): void {
  engineMemory.kernels.gramLower(x, rows, length, c, engineMemory.workspace(workspaceBytes));
}

/**
 * C = A·B for row-major A [m, k] at byte offset a, B [k, n], C [m, n], skipping A's zeros: for a
 * mostly zero A (conv output gradients after ReLU and max-pooling) the work follows the nonzeros.
 */
export function sparseDenseProduct(a: number, m: number, k: number, b: number, n: number, c: number): void {
  engineMemory.kernels.sparseDenseProduct(a, m, k, b, n, c, engineMemory.workspace(engineMemory.kernels.sparseDenseProductWorkspaceBytes(k)));
}

/**
 * C = alpha·A·B[rowsOfB] + beta·C (no transposes): the K rows of B used are those whose int32
 * indices sit at byte offset `rowsOfB`, gathered while B is packed.
 */
export function gemmRowsOfB(args: Omit<GemmArgs, "transA" | "transB"> & { rowsOfB: number }): void {
  const work = engineMemory.workspace(workspaceBytes);
  engineMemory.kernels.gemmRowsOfB(args.m, args.n, args.k, args.alpha, args.a, args.lda, args.b, args.ldb, args.rowsOfB, args.beta, args.c, args.ldc, work);
}

import { activeNativeBlas } from "../backend.ts";
import { engineMemory } from "../memory.ts";
import { partsFor, splitRange } from "../threads/partition.ts";
import type { BackgroundCall, BackgroundTicket, KernelCall } from "../threads/pool.ts";
import { runInBackground, runParallel, threadCount } from "../threads/settings.ts";

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

// The packed kernel's register tile (assembly/gemm.ts MR x NR) and the dot path's (2 x 4): a part
// that starts on a tile boundary is tiled, and so rounded, as the whole product is.
const TILE_ROWS = 4;
const TILE_COLUMNS = 8;
const DOT_TILE_ROWS = 2;
const DOT_TILE_COLUMNS = 4;
// Multiply-adds each thread must get for a split to pay. bench/threads.ts measured a fork/join
// at 4-15 µs with the workers awake and about 100 µs when one has to be woken, and one thread
// does about 10^10 multiply-adds/s: 2^19 take about 50 µs, ten hot fork/joins. (The calling
// thread runs a part its worker has not claimed yet, so a slow wake-up costs little more.)
export const MIN_GEMM_WORK_PER_THREAD = 2 ** 19;

/** The part of a product that writes C's rows [i0, i1) and columns [j0, j1). */
function gemmPart(args: GemmArgs, [i0, i1]: [number, number], [j0, j1]: [number, number]): GemmArgs {
  return {
    ...args,
    m: i1 - i0,
    n: j1 - j0,
    a: args.a + 4 * (args.transA ? i0 : i0 * args.lda),
    b: args.b + 4 * (args.transB ? j0 * args.ldb : j0),
    c: args.c + 4 * (i0 * args.ldc + j0),
  };
}

/**
 * Splits C into panels of whole tiles, one per thread, across its longer side: each panel is
 * computed exactly as the one-thread kernel computes it (same tiles, same K order), so the result
 * is bit-identical at any thread count.
 */
function gemmPanels(args: GemmArgs, parts: number, tileRows: number, tileColumns: number): GemmArgs[] {
  const rows: [number, number] = [0, args.m];
  const columns: [number, number] = [0, args.n];
  if (args.n / tileColumns >= args.m / tileRows) return splitRange(args.n, tileColumns, parts).map((panel) => gemmPart(args, rows, panel));
  return splitRange(args.m, tileRows, parts).map((panel) => gemmPart(args, panel, columns));
}

function gemmArguments(args: GemmArgs): number[] {
  return [args.transA ? 1 : 0, args.transB ? 1 : 0, args.m, args.n, args.k, args.alpha, args.a, args.lda, args.b, args.ldb, args.beta, args.c, args.ldc];
}

/**
 * C = alpha·op(A)·op(B) + beta·C on the backend in use (src/engine/backend.ts): the system BLAS
 * when the native backend is, else the WASM kernel split over the threads. Every dense product of
 * the engine comes through here (and gramLower), so this is where the backend is chosen.
 */
export function gemm(args: GemmArgs): void {
  const native = activeNativeBlas();
  if (native) native.gemm(args);
  else wasmGemm(args);
}

/**
 * Whether products run in WASM, so that a kernel with GEMMs inside it (conv2d's forward and
 * backward by sample, assembly/convSamples.ts) may run them there; with the native backend such
 * work takes a route whose products come through gemm(). The per-sample statistics' kernels
 * (per-sample weight gradients, the Gram squared norms, the curvature column squares) run in WASM
 * on either backend: their products are one sample's, and running whole samples per thread is
 * what spreads them over the cores.
 */
export function gemmRunsInWasm(): boolean {
  return activeNativeBlas() === null;
}

/** SIMD GEMM in WebAssembly (packed, register-blocked), split by output panels over the threads. */
function wasmGemm(args: GemmArgs): void {
  const kernels = engineMemory.kernels;
  const parts = partsFor(args.m * args.n * args.k, MIN_GEMM_WORK_PER_THREAD);
  if (parts === 1) {
    kernels.gemm(
      args.transA ? 1 : 0,
      args.transB ? 1 : 0,
      args.m,
      args.n,
      args.k,
      args.alpha,
      args.a,
      args.lda,
      args.b,
      args.ldb,
      args.beta,
      args.c,
      args.ldc,
      engineMemory.workspace(workspaceBytes),
    );
    return;
  }
  const dots = kernels.gemmUsesDots(args.transA ? 1 : 0, args.transB ? 1 : 0, args.m, args.n, args.k) !== 0;
  const panels = dots ? gemmPanels(args, parts, DOT_TILE_ROWS, DOT_TILE_COLUMNS) : gemmPanels(args, parts, TILE_ROWS, TILE_COLUMNS);
  runParallel(
    panels.map((panel, thread): KernelCall => {
      const all = gemmArguments(panel);
      return dots ? { kernel: "dotsGemm", args: all.slice(2) } : { kernel: "gemmBlocked", args: [...all, engineMemory.workspace(workspaceBytes, thread)] };
    }),
  );
}

/**
 * The lower triangle (i >= j) of X Xᵀ for a rows×length X at byte offset x, into c (rows×rows),
 * on the backend in use; the upper triangle is scratch.
 */
export function gramLower(x: number, rows: number, length: number, c: number): void {
  const native = activeNativeBlas();
  if (native) {
    native.gramLower(x, rows, length, c);
    return;
  }
  const parts = partsFor((rows * rows * length) / 2, MIN_GEMM_WORK_PER_THREAD);
  if (parts === 1) {
    engineMemory.kernels.gramLower(x, rows, length, c, engineMemory.workspace(workspaceBytes));
    return;
  }
  const calls = gramPanels(x, rows, length, c, parts).map((args, part): KernelCall => {
    args[GRAM_WORK_ARG] = engineMemory.workspace(workspaceBytes, part);
    return { kernel: "gramLowerRows", args };
  });
  runParallel(calls);
}

/** Whether startGramLower runs in the background: on WASM with more than one thread. */
export function gramsRunInBackground(): boolean {
  return activeNativeBlas() === null && threadCount() > 1;
}

/**
 * gramLower started on the engine's worker threads while the calling thread goes on: `c` may be
 * read, and `x` and `c` freed, only after awaitBackground(ticket) (threads/settings.ts). With
 * one thread, or the native backend (whose BLAS runs its own threads), it runs now (null). Same
 * bits as gramLower.
 */
export function startGramLower(x: number, rows: number, length: number, c: number): BackgroundTicket | null {
  if (activeNativeBlas()) {
    gramLower(x, rows, length, c);
    return null;
  }
  const parts = partsFor((rows * rows * length) / 2, MIN_GEMM_WORK_PER_THREAD);
  const calls = gramPanels(x, rows, length, c, parts).map((args): BackgroundCall => ({ kernel: "gramLowerRows", args, workspaceArg: GRAM_WORK_ARG }));
  return runInBackground(calls, workspaceBytes);
}

// gramLowerRows's arguments, the workspace (at GRAM_WORK_ARG) still to fill, for `parts` row panels of equal area
// under the diagonal: panel t ends at rows·sqrt((t+1)/parts).
const GRAM_WORK_ARG = 4;

function gramPanels(x: number, rows: number, length: number, c: number, parts: number): number[][] {
  const panels: number[][] = [];
  let start = 0;
  for (let part = 0; part < parts; part++) {
    const end = Math.min(rows, Math.ceil((rows * Math.sqrt((part + 1) / parts)) / TILE_ROWS) * TILE_ROWS);
    if (end <= start) continue;
    panels.push([x, rows, length, c, -1, start, end]);
    start = end;
  }
  return panels;
}

/**
 * C = alpha·A·B[rowsOfB] + beta·C (no transposes): the K rows of B used are those whose int32
 * indices sit at byte offset `rowsOfB`, gathered while B is packed. Split by output panels as gemm.
 */
export function gemmRowsOfB(args: Omit<GemmArgs, "transA" | "transB"> & { rowsOfB: number }): void {
  const kernels = engineMemory.kernels;
  const parts = partsFor(args.m * args.n * args.k, MIN_GEMM_WORK_PER_THREAD);
  const whole: GemmArgs = { ...args, transA: false, transB: false };
  const panels = parts === 1 ? [whole] : gemmPanels(whole, parts, TILE_ROWS, TILE_COLUMNS);
  const calls = panels.map(
    (panel, thread): KernelCall => ({
      kernel: "gemmRowsOfB",
      args: [
        panel.m,
        panel.n,
        panel.k,
        panel.alpha,
        panel.a,
        panel.lda,
        panel.b,
        panel.ldb,
        args.rowsOfB,
        panel.beta,
        panel.c,
        panel.ldc,
        engineMemory.workspace(workspaceBytes, thread),
      ],
    }),
  );
  if (calls.length === 1) kernels.gemmRowsOfB(...(calls[0].args as Parameters<typeof kernels.gemmRowsOfB>));
  else runParallel(calls);
}

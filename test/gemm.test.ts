import assert from "node:assert/strict";
import { test } from "node:test";
import { setBackend } from "../src/engine/backend.ts";
import { tensor } from "../src/engine/creation.ts";
import { transposeMatrix } from "../src/engine/kernels/elementwise.ts";
import { type GemmArgs, gemm, gemmRowsOfB, referenceGemm } from "../src/engine/kernels/gemm.ts";
import { engineMemory } from "../src/engine/memory.ts";
import { scope } from "../src/engine/scope.ts";
import { instantiateKernels } from "../src/engine/wasm.ts";
import { assertClose, randomValues } from "./helpers.ts";

// These are the WASM GEMM kernels' tests: with the native addon built, `auto` would send the
// products to the BLAS, which test/native.test.ts covers.
setBackend("wasm");

// Sizes straddle the 4x8 register tile and the 256-deep K blocking; transposes cover the packing
// paths. A·Bᵀ with a small C over a long K takes the dot-product path: its 2x4 tiles, ragged
// rows and columns, and K not a multiple of four.
const sizes: Array<[number, number, number]> = [
  [1, 1, 1],
  [3, 5, 7],
  [4, 8, 16],
  [13, 17, 300],
  [9, 16, 787],
  [2, 3, 67],
  [33, 9, 5],
  [130, 70, 260],
];

function runBoth(m: number, n: number, k: number, transA: boolean, transB: boolean, alpha: number, beta: number, kernel: (args: GemmArgs) => void): void {
  scope(() => {
    const a = tensor(randomValues(m * k, 1), transA ? [k, m] : [m, k]);
    const b = tensor(randomValues(k * n, 2), transB ? [n, k] : [k, n]);
    const c1 = tensor(randomValues(m * n, 3), [m, n]);
    const c2 = tensor(c1.toArray(), [m, n]);
    const args = { transA, transB, m, n, k, alpha, a: a.ptr, lda: a.shape[1], b: b.ptr, ldb: b.shape[1], beta, ldc: n };
    kernel({ ...args, c: c1.ptr });
    referenceGemm({ ...args, c: c2.ptr });
    assertClose(c1.data, c2.data, 1e-4, 1e-4 * Math.sqrt(k), `gemm ${m}x${n}x${k} transA=${transA} transB=${transB}`);
  });
}

test("WASM GEMM matches the TypeScript reference for every transpose, edge tiles, alpha and beta", () => {
  for (const [m, n, k] of sizes) {
    for (const transA of [false, true]) {
      for (const transB of [false, true]) {
        runBoth(m, n, k, transA, transB, 1, 0, gemm);
        runBoth(m, n, k, transA, transB, 0.5, 1.5, gemm);
      }
    }
  }
});

test("both kernel builds (plain SIMD and relaxed SIMD) compute the same GEMM", () => {
  for (const flavor of ["simd", "relaxed-simd"] as const) {
    const { kernels } = instantiateKernels(engineMemory.memory, flavor);
    const work = engineMemory.workspace(kernels.gemmWorkspaceBytes());
    const viaFlavor = (args: GemmArgs) =>
      kernels.gemm(args.transA ? 1 : 0, args.transB ? 1 : 0, args.m, args.n, args.k, args.alpha, args.a, args.lda, args.b, args.ldb, args.beta, args.c, args.ldc, work);
    runBoth(37, 29, 300, false, true, 1, 0, viaFlavor);
    runBoth(37, 29, 300, true, false, 2, 1, viaFlavor);
  }
});

test("beta = 0 overwrites C even when it holds NaN", () => {
  scope(() => {
    const a = tensor([1, 2, 3, 4], [2, 2]);
    const c = tensor([Number.NaN, Number.NaN, Number.NaN, Number.NaN], [2, 2]);
    gemm({ transA: false, transB: false, m: 2, n: 2, k: 2, alpha: 1, a: a.ptr, lda: 2, b: a.ptr, ldb: 2, beta: 0, c: c.ptr, ldc: 2 });
    assertClose(c.data, [7, 10, 15, 22]);
  });
});

test("GEMM with gathered rows of B equals the reference GEMM on those rows copied out (repeats, edge tiles, K past one block)", () => {
  for (const [m, n, k] of sizes) {
    scope(() => {
      const rows = 2 * k + 3;
      const b = tensor(randomValues(rows * n, 4), [rows, n]);
      const picked = Array.from({ length: k }, (_, i) => (i * 7 + 1) % rows);
      picked[k - 1] = picked[0];
      const index = tensor(picked, [k], "int32");
      const gathered = tensor(
        picked.flatMap((row) => b.toArray().slice(row * n, (row + 1) * n)),
        [k, n],
      );
      const a = tensor(randomValues(m * k, 5), [m, k]);
      const c1 = tensor(randomValues(m * n, 6), [m, n]);
      const c2 = tensor(c1.toArray(), [m, n]);
      gemmRowsOfB({ m, n, k, alpha: 0.5, a: a.ptr, lda: k, b: b.ptr, ldb: n, rowsOfB: index.ptr, beta: 1.5, c: c1.ptr, ldc: n });
      referenceGemm({ transA: false, transB: false, m, n, k, alpha: 0.5, a: a.ptr, lda: k, b: gathered.ptr, ldb: n, beta: 1.5, c: c2.ptr, ldc: n });
      assertClose(c1.data, c2.data, 1e-4, 1e-4 * Math.sqrt(k), `${m}x${n}x${k}`);
    });
  }
});

test("the WASM transpose moves every element, float or int bits alike, in full 4x4 blocks and edges", () => {
  for (const [rows, cols] of [
    [1, 1],
    [4, 4],
    [5, 7],
    [12, 9],
    [33, 16],
  ]) {
    scope(() => {
      const values = Array.from({ length: rows * cols }, (_, i) => i * 3 - 7);
      const source = tensor(values, [rows, cols], "int32");
      const target = tensor(new Array(rows * cols).fill(0), [cols, rows], "int32");
      transposeMatrix(source.ptr, rows, cols, target.ptr);
      const expected = Array.from({ length: rows * cols }, (_, i) => values[(i % rows) * cols + Math.floor(i / rows)]);
      assert.deepEqual(target.toArray(), expected, `${rows}x${cols}`);
    });
  }
});

test("the sparse-dense product equals the reference GEMM for mostly zero, all-zero-row and dense left factors (vector body and tails)", () => {
  for (const [m, k, n, zeros] of [
    [5, 7, 37, 0.8],
    [3, 4, 16, 0],
    [6, 9, 3, 1],
  ] as const) {
    scope(() => {
      const values = randomValues(m * k, 7).map((v, i) => (i % 3 === 0 || randomValues(1, 100 + i)[0] > 2 * zeros - 1 ? v : 0));
      for (let j = 0; j < k; j++) values[j] = 0;
      const a = tensor(zeros === 1 ? new Array(m * k).fill(0) : values, [m, k]);
      const b = tensor(randomValues(k * n, 8), [k, n]);
      const c1 = tensor(randomValues(m * n, 9), [m, n]);
      const c2 = tensor(new Array(m * n).fill(0), [m, n]);
      engineMemory.kernels.sparseDenseProduct(a.ptr, m, k, b.ptr, n, c1.ptr, engineMemory.workspace(engineMemory.kernels.sparseDenseProductWorkspaceBytes(k)));
      referenceGemm({ transA: false, transB: false, m, n, k, alpha: 1, a: a.ptr, lda: k, b: b.ptr, ldb: n, beta: 0, c: c2.ptr, ldc: n });
      assertClose(c1.data, c2.data, 1e-5, 1e-6, `${m}x${k}x${n}, zeros ${zeros}`);
    });
  }
});

test("the multiply-add ceiling the benchmark times GEMM against runs every chain to its fixed point", () => {
  // Chain k starts at seed + k and takes c ← 0.999·c + 0.001 each round, so after n rounds it is
  // 1 + (seed + k − 1)·0.999ⁿ; the kernel returns the sum of its twelve chains.
  const rounds = 1000;
  const seed = 1;
  const expected = 12 + (12 * seed + 54) * 0.999 ** rounds;
  const sum = engineMemory.kernels.multiplyAddCeiling(rounds, seed);
  assert.ok(Math.abs(sum - expected) < 1e-3 * expected, `ceiling sum ${sum}, expected ${expected}`);
});
